"""A provider adapter's error that quotes a secret: no secret reaches the caller, a
stored row or a log.

A ``ProviderError``'s message is the adapter's text. paycore returns the error to the
caller of ``create_refund`` (and of checkout and confirm when they fail), stores its
message in the flow's row and logs paycore errors with their message. The engine passes
every provider error through :func:`paycore.redaction.redact_error` where it takes it in,
so an API key, a webhook signing secret, a client secret or a ``Bearer`` credential in an
adapter's message or fields goes no further.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support import SESSION, make_shop

from paycore import errors as err
from paycore.flows.checkout import CartItem
from paycore.redaction import redact, redact_error
from paycore_adapters.memory import Wiring
from paycore_adapters.stripe_errors import redact as stripe_redact

KEY = "sk_live_51HxSECRETSECRETSECRET"
WHSEC = "whsec_TOPSECRETSIGNING"
CLIENT = "pi_3Mx42_secret_CLIENTSECRET"
SETI = "seti_1Ab_secret_SETUPSECRET"
SECRETS = (KEY, WHSEC, CLIENT, SETI, "SECRETSECRET", "TOPSECRET", "CLIENTSECRET", "SETUPSECRET")
PID = "pay_000001"


class Leaky:
    """A third-party provider adapter whose ``method`` refuses with ``error``: the
    adapter's message (and a field) quotes the keys it was configured with."""

    def __init__(self, inner: Any, method: str, error: Callable[[], err.ProviderError]) -> None:
        self.inner, self.method, self.error = inner, method, error

    def __getattr__(self, name: str) -> Any:
        if name != self.method:
            return getattr(self.inner, name)

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise self.error()

        return refuse


def _quoting(cls: type[err.ProviderError]) -> Callable[[], err.ProviderError]:
    return lambda: cls(
        f"gateway: bad key {KEY} / {WHSEC} for {CLIENT} ({SETI})",
        param="amount",
        detail=f"Authorization: Bearer {KEY}",
        error_code="bad_key",
    )


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def leaky(w: Wiring, method: str, cls: type[err.ProviderError]) -> None:
    w.service.engine.provider = Leaky(w.service.engine.provider, method, _quoting(cls))  # type: ignore[assignment]


def assert_no_secret(w: Wiring, logs: pytest.LogCaptureFixture, *shown: str) -> None:
    """No secret in what the caller was shown, in any stored row or in any log line."""
    rows = repr(w.store.snapshot().tables)
    lines = "\n".join(f"{r.getMessage()} {r.__dict__!r} {r.exc_text or ''}" for r in logs.records)
    for where, text in (
        ("the caller's error", "\n".join(shown)),
        ("a row", rows),
        ("a log", lines),
    ):
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"{leaked} in {where}: {text[:2000]}"


def seen(e: BaseException) -> list[str]:
    fields = getattr(e, "fields", {})
    return [str(e), repr(e), repr(e.args), repr(fields), repr(getattr(e, "message", ""))]


def test_a_refund_refusal_quoting_secrets_leaks_none(logs: pytest.LogCaptureFixture) -> None:
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    leaky(w, "create_refund", err.ProviderInvalidRequest)
    with pytest.raises(err.PaycoreError) as info:
        w.service.create_refund(PID, 500, idempotency_key="r1")
    # The type and code are the adapter's, only the secrets are gone.
    assert type(info.value) is err.ProviderInvalidRequest
    assert info.value.code == "provider_invalid_request"
    assert info.value.fields["error_code"] == "bad_key"
    assert info.value.message.startswith("gateway: bad key [redacted] / [redacted]")
    w.service.run_jobs()
    assert_no_secret(w, logs, *seen(info.value), repr(w.alerts.__dict__))


@pytest.mark.parametrize("cls", [err.ProviderInvalidRequest, err.ProviderUnavailable])
def test_a_checkout_create_refusal_quoting_secrets_leaks_none(
    logs: pytest.LogCaptureFixture, cls: type[err.ProviderError]
) -> None:
    w = make_shop()
    leaky(w, "create_intent", cls)
    shown: list[str] = []
    try:
        shown.append(repr(w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])))
    except err.PaycoreError as e:
        shown += seen(e)
    for _ in range(3):
        w.clock.advance(60_000)
        w.service.run_jobs()
    assert_no_secret(w, logs, *shown, repr(w.alerts.__dict__))


@pytest.mark.parametrize("cls", [err.ProviderInvalidRequest, err.ProviderCardDeclined])
def test_a_confirm_refusal_quoting_secrets_leaks_none(
    logs: pytest.LogCaptureFixture, cls: type[err.ProviderError]
) -> None:
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    leaky(w, "confirm_intent", cls)
    shown: list[str] = []
    try:
        shown.append(repr(w.service.confirm_payment(res.payment_id, "pm_card_visa")))
    except err.PaycoreError as e:
        shown += seen(e)
    w.service.run_jobs()
    assert_no_secret(w, logs, *shown, repr(w.alerts.__dict__))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"key {KEY}", "key [redacted]"),
        (
            "masked sk_test_****1234 and rk_live_abc, pk_test_x",
            "masked [redacted] and [redacted], [redacted]",
        ),
        (f"hook {WHSEC}.", "hook [redacted]."),
        ("masked whsec_****9f2c", "masked [redacted]"),
        (f"{CLIENT} and {SETI}", "[redacted] and [redacted]"),
        (f"Authorization: Bearer {KEY}", "Authorization: Bearer [redacted]"),
        ("'Bearer a b'", "'Bearer [redacted]'"),
        (
            "pi_3Mx42 and seti_1Ab and sk_other and whsec",
            "pi_3Mx42 and seti_1Ab and sk_other and whsec",
        ),
    ],
)
def test_redact_removes_each_well_known_shape(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact(shown) == shown


def test_the_stripe_adapter_redacts_signing_secrets_with_the_same_shapes() -> None:
    text = f"bad signature for {WHSEC}, key {KEY}, {SETI}"
    assert (
        stripe_redact(text)
        == redact(text)
        == "bad signature for [redacted], key [redacted], [redacted]"
    )


def test_redact_error_keeps_type_code_and_fields_and_is_the_error_itself_when_clean() -> None:
    clean = err.ProviderNotFound("no such intent pi_1", intent_id="pi_1")
    assert redact_error(clean) is clean
    dirty = err.ProviderSavedFailure(f"saved 500 ({KEY})", intent_id="pi_1", seen=[f"x {WHSEC}"])
    out = redact_error(dirty)
    assert type(out) is err.ProviderSavedFailure and out.code == dirty.code
    assert out.message == "saved 500 ([redacted])" and str(out) == out.message
    assert out.fields == {"intent_id": "pi_1", "seen": ["x [redacted]"]}
    assert not out.retryable and out.outcome == "ambiguous"
    assert KEY in dirty.message, "the adapter's own error is left as it was"
