"""The webhook signing secret and the API key in no frame's locals of a failing request's
traceback, and in no repr.

An error tracker that records each frame's locals (as
``traceback.TracebackException(..., capture_locals=True)`` shows them) records whatever
sits there as a plain ``str``; the adapters hold both secrets in
:class:`paycore_adapters.signing.Secret` from their configuration to the point of use
(the HMAC, the SDK client's construction), and raise the provider's errors with no
context from inside the SDK, whose frames hold the key in its request headers."""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
import traceback
from collections.abc import Iterator
from typing import Any
from unittest import mock

import attrs
import pytest
from tests.stripe_wire import KEY, Wire, intent
from tests.support import make_shop

from paycore import errors as E
from paycore.flows.checkout import CartItem
from paycore_adapters import signing
from paycore_adapters.memory import Wiring
from paycore_adapters.signing import Secret
from paycore_adapters.stripe_provider import StripeProvider
from paycore_adapters.stripe_webhooks import StripeWebhookIntake, sign_for_test
from paycore_adapters.webhook_app import webhook_app

WEBHOOK_SECRET = "whsec_frames_0123456789abcdef"
PATH = "/webhooks/stripe"


def _shown(exc: BaseException) -> str:
    """The traceback as an error tracker records it: every frame with its locals."""
    te = traceback.TracebackException.from_exception(exc, capture_locals=True)
    return "".join(te.format())


def _leaks(text: str) -> list[str]:
    return [s for s in (WEBHOOK_SECRET, KEY, KEY[8:24], WEBHOOK_SECRET[6:]) if s in text]


@pytest.fixture
def paid() -> tuple[Wiring, bytes]:
    """A shop with a paid checkout, and the body of its ``payment_intent.succeeded``."""
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_frames01", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    (ev,) = [e for e in w.provider.take_events() if e.type == "payment_intent.succeeded"]
    return w, signing.to_payload(ev)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def app_log() -> Iterator[_Records]:
    handler = _Records()
    logger = logging.getLogger("paycore_adapters.webhook_app")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _deliver(app: Any, body: bytes, header: str) -> int:
    """One POST through the ASGI app, in this thread's own event loop: its status."""
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "path": PATH,
        "method": "POST",
        "headers": [(b"stripe-signature", header.encode())],
    }
    asyncio.run(app(scope, receive, send))
    status: int = sent[0]["status"]
    return status


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("an unexpected failure deep inside")


@pytest.mark.parametrize(
    "where",
    [
        # inside the signature check, where the secret is used
        pytest.param("hmac.compare_digest", id="in the signature check"),
        # inside the service, after the check
        pytest.param("paycore.service.PaymentService.handle_webhook", id="in the service"),
    ],
)
def test_a_failing_webhook_request_shows_no_secret_in_its_frames(
    where: str, paid: tuple[Wiring, bytes], app_log: _Records
) -> None:
    """The app logs the unexpected error with its traceback (``log.exception``): none of
    its frames' locals holds the signing secret."""
    w, body = paid
    app = webhook_app(StripeWebhookIntake(w.service, [WEBHOOK_SECRET]), path=PATH)
    header = sign_for_test(body, WEBHOOK_SECRET, int(time.time()))
    with mock.patch(where, _boom):
        assert _deliver(app, body, header) == 500
    (record,) = [r for r in app_log.records if r.exc_info]
    assert record.exc_info is not None and record.exc_info[1] is not None
    shown = _shown(record.exc_info[1])
    assert "an unexpected failure deep inside" in shown  # the frames are all there
    assert _leaks(shown + record.getMessage()) == []


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(RuntimeError("an unexpected failure deep inside"), id="in the HTTP client"),
        pytest.param((200, intent(amount="12")), id="in the conversion"),
    ],
)
def test_a_failing_provider_call_shows_no_key_in_its_frames(answer: Any) -> None:
    """The SDK's frames hold the key (its request headers, ``Authorization: Bearer``):
    the adapter's error carries none of them, as cause or context."""
    wire = Wire()
    wire.answers.append(answer if isinstance(answer, Exception) else (*answer, {}))
    provider = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)
    with pytest.raises(Exception) as caught:
        provider.retrieve_intent("pi_3Abc")
    assert "retrieve_intent" in _shown(caught.value)
    assert _leaks(_shown(caught.value)) == []
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_a_refused_provider_call_has_no_context_from_inside_the_sdk() -> None:
    """Stripe's own refusal too: the StripeError's frames, which hold the key, do not
    ride along as the port error's context."""
    wire = Wire()
    wire.answer(503, {"error": {"type": "api_error", "message": "down"}})
    provider = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)
    with pytest.raises(Exception) as caught:
        provider.cancel_intent("pi_3Abc", idempotency_key="k")
    assert caught.value.__context__ is None
    assert _leaks(_shown(caught.value)) == []


def test_no_repr_shows_a_secret(paid: tuple[Wiring, bytes]) -> None:
    """The wrapper, the intake, the app and the provider: none shows either secret."""
    w, _ = paid
    intake = StripeWebhookIntake(w.service, [WEBHOOK_SECRET, "whsec_older_fedcba987654"])
    app = webhook_app(intake, path=PATH)
    provider = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=Wire())
    key = Secret(KEY)
    shown = [repr(key), str(key), f"{key}", f"{key!r}", repr(intake), str(intake), repr(app)]
    shown += [repr(provider), str(provider), repr(vars(provider))]
    shown += [repr(getattr(intake, field.name)) for field in attrs.fields(type(intake))]
    assert _leaks(" ".join(shown)) == [] and "whsec_older" not in " ".join(shown)
    assert key.reveal() == KEY  # the one way out


def test_a_secret_is_not_pickled() -> None:
    """Pickling would write the value out in the clear."""
    with pytest.raises(TypeError):
        pickle.dumps(Secret(KEY))


def test_the_constructors_still_take_plain_strings(paid: tuple[Wiring, bytes]) -> None:
    """Wrapped at the edge: a service passes ``str`` as before (or a Secret), and the
    value still reaches its point of use: the signature checks, the request carries the key."""
    w, body = paid
    header = sign_for_test(body, WEBHOOK_SECRET, int(time.time()))
    answers = [
        StripeWebhookIntake(w.service, [secret]).receive(body, header).status
        for secret in (WEBHOOK_SECRET, Secret(WEBHOOK_SECRET))
    ]
    assert answers == [200, 200]
    for key in (KEY, Secret(KEY)):
        wire = Wire()
        wire.answer(200, intent())
        StripeProvider.from_settings(key, max_network_retries=0, http_client=wire).retrieve_intent(
            "pi_3Abc"
        )
        assert wire.sent[0][2]["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_key_is_a_settings_error_that_names_the_variable(blank: str) -> None:
    """As no key at all: the operator must set one."""
    with pytest.raises(E.ProviderConfigurationError, match="STRIPE_SECRET_KEY"):
        StripeProvider.from_settings(blank)
