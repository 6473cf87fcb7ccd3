"""A Stripe key with whitespace or a control character (a trailing newline from a mounted
secret file), and a request ``requests`` cannot build: a configuration error, definite,
with nothing sent and no part of the key anywhere.

Before: the key was taken as it stood; ``requests`` refused the ``Authorization`` header
while preparing the request (``InvalidHeader``, quoting the whole header), the SDK
wrapped that as ``APIConnectionError`` and the adapter made it ``ProviderUnavailable``:
ambiguous and retried, every checkout pending with its stock held, and the key shown in
full when it was not shaped ``sk_/rk_/pk_(test|live)_...``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import requests.adapters
import stripe
from tests.stripe_wire import Wire, intent

from paycore import errors as E
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore_adapters.emulator import Emulator
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock, RecordingNotifier
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.runtime import build_service
from paycore_adapters.secret_text import unusable
from paycore_adapters.signing import Secret
from paycore_adapters.stripe_errors import redact
from paycore_adapters.stripe_provider import StripeProvider

#: Each holds the marker ZQ7KX; none may show it, nor its tail after the last ``_``.
BAD_KEYS = [
    "sk_test_abcZQ7KX123\n",
    "whsec_ZQ7KXwh\n",
    "ZQ7KXplain\n",
    "sk_live_ZQ7KX_ab\n",
    "sk_live_ZQ7KX_ab\r\n",
    " sk_test_ZQ7KXx",
    "sk_test_SEC RET",
    "sk_test_ZQ7KX\t",
    "sk_test_ZQ7KX\x00x",
    "sk_test_ZQ7KX\x7f",
    "sk_test_ZQ7KX\u00a0",
    "sk_test_ZQ7KXé",
]


def _everything(exc: BaseException) -> str:
    """str and repr of the error and of every error in its cause/context chain, and its
    fields."""
    seen: list[str] = []
    e: BaseException | None = exc
    while e is not None:
        seen += [str(e), repr(e), repr(getattr(e, "fields", ""))]
        e = e.__cause__ or e.__context__
    return "\n".join(seen)


def _assert_hidden(text: str, key: str) -> None:
    assert "ZQ7KX" not in text, text
    tail = key.strip().rsplit("_", 1)[-1]
    assert len(tail) < 3 or tail not in text, text


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


#: Each bad key as a string, as a Secret and through the environment (which cannot hold
#: a NUL: that one is given the first two ways only).
GIVEN = [
    (key, given)
    for given in ("str", "Secret", "env")
    for key in BAD_KEYS
    if not (given == "env" and "\x00" in key)
]


@pytest.mark.parametrize(("key", "given"), GIVEN)
def test_a_key_with_whitespace_or_a_control_character_is_refused_before_any_request(
    key: str,
    given: str,
    monkeypatch: pytest.MonkeyPatch,
    debug_log: pytest.LogCaptureFixture,
) -> None:
    wire = Wire()
    wire.answer(200, intent())
    arg: str | Secret | None = {"str": key, "Secret": Secret(key), "env": None}[given]
    if given == "env":
        monkeypatch.setenv("STRIPE_SECRET_KEY", key)
    with pytest.raises(E.ProviderConfigurationError) as refused:
        StripeProvider.from_settings(arg, max_network_retries=2, http_client=wire)
    assert wire.sent == []
    assert "STRIPE_SECRET_KEY" in str(refused.value)
    assert refused.value.outcome == "definite" and not refused.value.retryable
    _assert_hidden(_everything(refused.value), key)
    _assert_hidden(_logged(debug_log), key)


class _Recording(requests.adapters.BaseAdapter):
    """The transport under ``requests``: records what would go out, sends nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Any] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.sent.append(request)
        raise requests.exceptions.ConnectionError("not on this network")

    def close(self) -> None:
        pass


def _provider_on(key: str, api_base: str, transport: _Recording) -> StripeProvider:
    """The adapter on the SDK's own ``requests`` client, bypassing the key's screening (a
    client built elsewhere): ``requests`` itself must refuse to build the request."""
    session = requests.Session()
    session.mount("http://", transport)
    session.mount("https://", transport)
    client = stripe.StripeClient(
        key,
        base_addresses={"api": api_base},
        max_network_retries=2,
        http_client=stripe.RequestsClient(session=session, timeout=3),
    )
    return StripeProvider(client, api_base=api_base)


@pytest.mark.parametrize(
    ("key", "api_base", "cause"),
    [
        ("sk_test_abcZQ7KX123\n", "http://127.0.0.1:9", "InvalidHeader"),
        ("whsec_ZQ7KXwh\n", "http://127.0.0.1:9", "InvalidHeader"),
        ("sk_live_ZQ7KX_ab\n", "http://127.0.0.1:9", "InvalidHeader"),
        ("sk_test_ZQ7KXok", "not-a-url", "MissingSchema"),
        ("sk_test_ZQ7KXok", "ftp://127.0.0.1", "InvalidSchema"),
        ("sk_test_ZQ7KXok", "http://[::1", "InvalidURL"),
    ],
)
def test_a_request_that_cannot_be_built_is_a_configuration_error_not_an_outage(
    key: str, api_base: str, cause: str, debug_log: pytest.LogCaptureFixture
) -> None:
    transport = _Recording()
    provider = _provider_on(key, api_base, transport)
    with pytest.raises(E.ProviderConfigurationError) as refused:
        provider.retrieve_intent("pi_3Abc")
    assert transport.sent == []
    err = refused.value
    assert err.outcome == "definite" and not err.retryable
    assert f"({cause})" in str(err) and err.fields["error_type"] == cause
    assert err.__cause__ is None and err.__context__ is None
    _assert_hidden(_everything(err), key)
    _assert_hidden(_logged(debug_log), key)


def test_the_screened_constructor_refuses_a_bad_api_base_at_once() -> None:
    """Refused when the adapter is built, not only at its first call
    (test_wiring_refusals.py has the other shapes)."""
    transport = _Recording()
    session = requests.Session()
    session.mount("http://", transport)
    with pytest.raises(E.ProviderConfigurationError, match="api_base") as refused:
        StripeProvider.from_settings(
            "sk_test_ZQ7KXok",
            api_base="not-a-url",
            http_client=stripe.RequestsClient(session=session, timeout=3),
        )
    assert refused.value.outcome == "definite" and not refused.value.retryable
    _assert_hidden(_everything(refused.value), "sk_test_ZQ7KXok")
    assert transport.sent == []


def test_a_checkout_over_the_emulator_fails_at_once_and_frees_its_stock() -> None:
    """Through the service: definite, so the checkout ends failed (not pending and retried)
    and nothing reached the emulator."""
    with Emulator(FakeProvider(ManualClock()), own_account="acct_1") as emu:
        emu.model.set_account("acct_1")
        client = stripe.StripeClient(
            "sk_test_abcZQ7KX123\n",
            base_addresses={"api": emu.url},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=3),
        )
        svc = build_service(
            MemoryStore(), StripeProvider(client, api_base=emu.url), RecordingNotifier()
        )
        svc.add_seller("s1", "S", "acct_1")
        svc.add_product("p", "s1", "SKU", "P", Money(1250, "EUR"))
        svc.restock("s1", "SKU", 5)
        with pytest.raises(E.ProviderConfigurationError) as refused:
            svc.create_payment_intent("cs_test_0000000000", [CartItem("p", 1)])
        assert emu.requests == {}
        _assert_hidden(_everything(refused.value), "sk_test_abcZQ7KX123")
        (flow,) = svc.flows()
        assert flow.status == "failed"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "in header value: 'Bearer whsec_ZQ7KXwh\\n')",
            "in header value: 'Bearer [redacted]')",
        ),
        ("x Bearer ZQ7KXplain y", "x Bearer [redacted] y"),
        ('h "Bearer a ZQ7KX\'c" z', 'h "Bearer [redacted]" z'),
        ("'Bearer sk_live_ZQ7KX_ab\\n'", "'Bearer [redacted]'"),
        ("'bearer ab\\'ZQ7KX' tail", "'Bearer [redacted]' tail"),
        ("authorization: BEARER ZQ7KX", "authorization: Bearer [redacted]"),
        ("Invalid API Key provided: sk_test_****1234", "Invalid API Key provided: [redacted]"),
    ],
)
def test_redact_hides_any_bearer_credential_whatever_it_looks_like(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact(redact(text)) == shown


@pytest.mark.parametrize("secret", BAD_KEYS)
def test_the_shared_rule_says_what_is_wrong_without_the_value(secret: str) -> None:
    """The rule the webhook intake's signing secrets take too (a ``whsec_...`` with a
    newline makes every delivery's signature differ)."""
    why = unusable(secret)
    assert why is not None and "ZQ7KX" not in why


@pytest.mark.parametrize("secret", ["sk_test_abc123", "whsec_0123abcdef", "rk_live_x-y.z"])
def test_the_shared_rule_takes_a_printable_key(secret: str) -> None:
    assert unusable(secret) is None
