"""Each of Stripe's failures, one row each: what the real SDK raises for the answer on the
wire (stripe-python 16.1.0, ``stripe/_error.py``; the class is picked from the status in
``stripe/_api_requestor.py``, ``specific_v1_api_error``), and the port's typed error the
adapter makes of it, with its ``outcome`` and ``retryable`` as the flows read them.

Error bodies follow docs.stripe.com/api/errors (``type``, ``code``, ``decline_code``,
``param``, ``message``, ``payment_intent``); the codes are those of
docs.stripe.com/error-codes; ``Stripe-Should-Retry`` is read as the SDK reads it
(``stripe/_http_client.py``, ``HTTPClient._should_retry``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import stripe
from tests.stripe_wire import KEY, SECRET, Wire, error, intent

from paycore import errors as E
from paycore_adapters.stripe_errors import to_provider_error
from paycore_adapters.stripe_provider import StripeProvider


@dataclass(frozen=True)
class Row:
    why: str
    answer: Any  # (status, body, headers), or the exception the network raised
    sdk: type[stripe.StripeError]
    port: type[E.ProviderError]
    outcome: str
    retryable: bool
    fields: dict[str, Any] = field(default_factory=dict)


def _invalid(status: int, code: str, **more: Any) -> Any:
    return error(status, type="invalid_request_error", code=code, message=code, **more)


_AUTH_FAILED = intent(
    status="requires_payment_method",
    last_payment_error={"code": "payment_intent_authentication_failure"},
)

ROWS = [
    Row(
        "no answer, before the request was sent (connection refused)",
        stripe.APIConnectionError("Connection refused", should_retry=True),
        stripe.APIConnectionError,
        E.ProviderUnavailable,
        "ambiguous",
        True,
        {"http_status": None},
    ),
    Row(
        "no answer, after the request was sent (read timeout)",
        stripe.APIConnectionError("Read timed out", should_retry=True),
        stripe.APIConnectionError,
        E.ProviderUnavailable,
        "ambiguous",
        True,
        {"http_status": None},
    ),
    Row(
        "500",
        error(500, type="api_error", message="Something went wrong"),
        stripe.APIError,
        E.ProviderUnavailable,
        "ambiguous",
        True,
        {"http_status": 500},
    ),
    Row(
        "503",
        error(503, type="api_error", message="unavailable"),
        stripe.APIError,
        E.ProviderUnavailable,
        "ambiguous",
        True,
        {"http_status": 503},
    ),
    Row(
        "500 saved under its key (Stripe-Should-Retry: false)",
        (
            500,
            {"error": {"type": "api_error", "message": "boom"}},
            {"Stripe-Should-Retry": "false"},
        ),
        stripe.APIError,
        E.ProviderSavedFailure,  # a ProviderUnavailable: the breaker counts it
        "ambiguous",  # the request may have landed: the flows look before a new key
        False,  # the same key only replays it
        {"http_status": 500, "should_retry": False},
    ),
    Row(
        "200 with a body cut short (the SDK: 'Invalid response body from API')",
        (200, b'{"id": "pi_3Abc", "object": "payment_in', {}),
        stripe.APIError,
        E.ProviderUnavailable,  # Stripe answered 2xx: the request may well have landed
        "ambiguous",
        True,  # the same key replays the saved 2xx, readable this time
        {"http_status": 200},
    ),
    Row(
        "400 whose body is not Stripe's (a proxy's page): nothing says Stripe refused",
        (400, b"<html><body>Bad Request</body></html>", {}),
        stripe.APIError,
        E.ProviderUnavailable,
        "ambiguous",
        True,
        {"http_status": 400},
    ),
    Row(
        "424, a status the classifier does not know",
        error(424, type="api_error", message="not done"),
        stripe.APIError,
        E.ProviderUnavailable,
        "ambiguous",
        True,
        {"http_status": 424},
    ),
    Row(
        "429 rate limit",
        _invalid(429, "rate_limit"),
        stripe.RateLimitError,
        E.ProviderRateLimited,
        "definite",
        True,
        {"error_code": "rate_limit", "http_status": 429},
    ),
    Row(
        "429 lock_timeout",
        (429, {"error": {"type": "invalid_request_error", "code": "lock_timeout"}}, {}),
        stripe.RateLimitError,
        E.ProviderLockTimeout,
        "definite",
        True,
        {"error_code": "lock_timeout", "http_status": 429},
    ),
    Row(
        "409 idempotency_key_in_use (a generic APIError, the code only in e.error.code)",
        _invalid(409, "idempotency_key_in_use"),
        stripe.APIError,
        E.ProviderIdempotencyInUse,
        "ambiguous",
        True,
        {"error_code": "idempotency_key_in_use", "http_status": 409},
    ),
    Row(
        "400 idempotency_error (the key reused with other parameters)",
        error(400, type="idempotency_error", message="Keys for idempotent requests ..."),
        stripe.IdempotencyError,
        E.ProviderIdempotencyMismatch,
        "definite",
        False,
        {"http_status": 400},
    ),
    Row(
        "402 card declined",
        error(
            402,
            type="card_error",
            code="card_declined",
            decline_code="insufficient_funds",
            message="Your card has insufficient funds.",
        ),
        stripe.CardError,
        E.ProviderCardDeclined,
        "needs_action",
        False,
        {"error_code": "card_declined", "decline_code": "insufficient_funds"},
    ),
    Row(
        "402 payment_intent_authentication_failure (a failed challenge, as a card error)",
        error(
            402,
            type="card_error",
            code="payment_intent_authentication_failure",
            payment_intent=_AUTH_FAILED,
        ),
        stripe.CardError,
        E.ProviderCardDeclined,
        "needs_action",
        False,
        {"decline_code": "payment_intent_authentication_failure", "intent_id": "pi_3Abc"},
    ),
    Row(
        "400 payment_intent_authentication_failure (as an invalid request on the intent)",
        _invalid(400, "payment_intent_authentication_failure", payment_intent=_AUTH_FAILED),
        stripe.InvalidRequestError,
        E.ProviderInvalidRequest,
        "definite",
        False,
        {"intent_id": "pi_3Abc", "status": "requires_payment_method"},
    ),
    Row(
        "400 parameter_missing names its parameter",
        _invalid(400, "parameter_missing", param="payment_method"),
        stripe.InvalidRequestError,
        E.ProviderInvalidRequest,
        "definite",
        False,
        {"error_code": "parameter_missing", "param": "payment_method", "http_status": 400},
    ),
    Row(
        "400 amount_too_small",
        _invalid(400, "amount_too_small", param="amount"),
        stripe.InvalidRequestError,
        E.ProviderInvalidRequest,
        "definite",
        False,
        {"error_code": "amount_too_small", "param": "amount"},
    ),
    Row(
        "404 resource_missing",
        _invalid(404, "resource_missing", param="intent"),
        stripe.InvalidRequestError,
        E.ProviderNotFound,
        "definite",
        False,
        {"error_code": "resource_missing", "http_status": 404},
    ),
    Row(
        # the object a parameter names is missing, not the request's own: the request
        # was wrong (github.com/marcinusx/flutter_stripe_demo issue 4 has this shape)
        "400 resource_missing naming a parameter (a confirm's unknown payment method)",
        _invalid(400, "resource_missing", param="payment_method"),
        stripe.InvalidRequestError,
        E.ProviderInvalidRequest,
        "definite",
        False,
        {"error_code": "resource_missing", "param": "payment_method", "http_status": 400},
    ),
    Row(
        "400 resource_missing without a parameter",
        _invalid(400, "resource_missing"),
        stripe.InvalidRequestError,
        E.ProviderNotFound,
        "definite",
        False,
        {"error_code": "resource_missing", "http_status": 400},
    ),
    Row(
        # the port's contract: an unknown cursor is not found (PaymentProvider.list_intents;
        # Stripe names it as the parameter, github.com/stripe/stripe-node issue 258)
        "400 resource_missing naming a list's cursor",
        _invalid(400, "resource_missing", param="starting_after"),
        stripe.InvalidRequestError,
        E.ProviderNotFound,
        "definite",
        False,
        {"error_code": "resource_missing", "param": "starting_after", "http_status": 400},
    ),
    Row(
        "401 bad key",
        error(401, type="invalid_request_error", message=f"Invalid API Key provided: {KEY}"),
        stripe.AuthenticationError,
        E.ProviderConfigurationError,
        "definite",
        False,
        {"http_status": 401},
    ),
    Row(
        "403 key without the permission",
        error(403, type="invalid_request_error", message="The provided key does not have ..."),
        stripe.PermissionError,
        E.ProviderConfigurationError,
        "definite",
        False,
        {"http_status": 403},
    ),
]


def _sdk_error(wire: Wire, answer: Any) -> stripe.StripeError:
    """What the bare SDK raises for ``answer``."""
    wire.answers.append(answer)
    client = stripe.StripeClient(KEY, http_client=wire, max_network_retries=0)
    with pytest.raises(stripe.StripeError) as raised:
        client.v1.payment_intents.cancel("pi_3Abc", options={"idempotency_key": "k"})
    return raised.value


@pytest.mark.parametrize("row", ROWS, ids=[r.why for r in ROWS])
def test_each_stripe_failure_is_the_ports_typed_error(row: Row) -> None:
    wire = Wire()
    sdk_err = _sdk_error(wire, row.answer)
    assert type(sdk_err) is row.sdk
    mapped = to_provider_error(sdk_err)
    assert (type(mapped), mapped.outcome, mapped.retryable) == (
        row.port,
        row.outcome,
        row.retryable,
    )
    assert row.fields.items() <= mapped.fields.items()
    shown = str(mapped) + repr(mapped.fields)
    assert KEY[:12] not in shown and SECRET not in shown
    # The same answer through the adapter's own call gives the same error.
    wire.answers.append(row.answer)
    provider = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)
    with pytest.raises(E.ProviderError) as through:
        provider.cancel_intent("pi_3Abc", idempotency_key="k")
    assert type(through.value) is row.port and through.value.fields == mapped.fields


def test_a_409_in_use_has_no_code_on_the_sdk_error_only_in_its_body() -> None:
    """Why the code is read from ``e.error``: the SDK's generic ``APIError`` for a 409
    leaves ``e.code`` empty (stripe-python 16.1.0, ``_api_requestor.py``)."""
    sdk_err = _sdk_error(Wire(), _invalid(409, "idempotency_key_in_use"))
    assert not sdk_err.code
    assert sdk_err.error is not None and sdk_err.error.code == "idempotency_key_in_use"
    assert isinstance(to_provider_error(sdk_err), E.ProviderIdempotencyInUse)


def test_a_should_retry_true_header_is_kept_and_a_missing_one_is_not_invented() -> None:
    told = to_provider_error(
        _sdk_error(Wire(), (503, {"error": {"type": "api_error"}}, {"Stripe-Should-Retry": "true"}))
    )
    assert told.fields["should_retry"] is True
    untold = to_provider_error(_sdk_error(Wire(), error(503, type="api_error")))
    assert "should_retry" not in untold.fields


def test_a_decline_carries_the_intent_without_its_secret() -> None:
    wire = Wire()
    declined = intent(
        last_payment_error={"code": "card_declined", "decline_code": "insufficient_funds"}
    )
    wire.answers.append(
        error(
            402,
            type="card_error",
            code="card_declined",
            decline_code="insufficient_funds",
            message="Your card has insufficient funds.",
            payment_intent=declined,
        )
    )
    provider = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)
    with pytest.raises(E.ProviderCardDeclined) as caught:
        provider.confirm_intent(
            "pi_3Abc", payment_method="pm_x", return_url=None, idempotency_key="k"
        )
    f = caught.value.fields
    assert (f["decline_code"], f["intent_id"], f["intent"].last_error_code) == (
        "insufficient_funds",
        "pi_3Abc",
        "card_declined",
    )
    assert f["intent"].client_secret is None and SECRET not in repr(f)


def test_a_decline_without_its_intent_reads_the_intent() -> None:
    wire = Wire()
    wire.answers.append(error(402, type="card_error", code="card_declined", message="declined"))
    wire.answer(200, intent(status="canceled", cancellation_reason="automatic"))
    provider = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)
    with pytest.raises(E.ProviderCardDeclined) as caught:
        provider.confirm_intent(
            "pi_3Abc", payment_method="pm_x", return_url=None, idempotency_key="k"
        )
    assert caught.value.fields["intent"].cancellation_reason == "automatic"
    assert caught.value.fields["intent"].client_secret is None
    assert [s[1] for s in wire.sent][-1] == "/v1/payment_intents/pi_3Abc"


def test_a_failed_challenge_reads_back_as_the_intents_last_error_code() -> None:
    """After a failed 3-D Secure challenge the intent itself carries the code
    (docs.stripe.com/error-codes#payment-intent-authentication-failure)."""
    wire = Wire()
    wire.answer(200, _AUTH_FAILED)
    provider = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)
    view = provider.retrieve_intent("pi_3Abc")
    assert (view.status, view.last_error_code) == (
        "requires_payment_method",
        "payment_intent_authentication_failure",
    )


def test_a_refund_answered_2xx_with_an_unreadable_body_is_not_a_refusal() -> None:
    """Stripe may have made the refund: the error is ambiguous, so the refund's amount is
    not freed until the flows have looked (a definite refusal would free it)."""
    wire = Wire()
    wire.answer(200, b'{"id": "re_3Abc", "object": "refund", "amount": 5')
    provider = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)
    with pytest.raises(E.ProviderError) as caught:
        provider.create_refund("pi_3Abc", amount=500, reason=None, metadata={}, idempotency_key="k")
    assert type(caught.value) is E.ProviderUnavailable
    assert (caught.value.outcome, caught.value.fields["http_status"]) == ("ambiguous", 200)


def test_a_2xx_body_that_is_not_utf8_is_ambiguous_though_the_sdk_raises_no_stripe_error() -> None:
    """The SDK logs each answer's body before reading it and decodes it as UTF-8 on the way
    (stripe/_util.py ``logfmt``, from ``_api_requestor.request_raw``): a body that is not
    UTF-8 raises UnicodeDecodeError, not an APIError. The adapter makes it ambiguous too."""
    wire = Wire()
    wire.answer(200, b"\xff\xfe\x00")
    client = stripe.StripeClient(KEY, http_client=wire, max_network_retries=0)
    with pytest.raises(UnicodeDecodeError):
        client.v1.refunds.create({"payment_intent": "pi_3Abc"}, {"idempotency_key": "k"})
    wire.answer(200, b"\xff\xfe\x00")
    provider = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)
    with pytest.raises(E.ProviderError) as caught:
        provider.create_refund("pi_3Abc", amount=500, reason=None, metadata={}, idempotency_key="k")
    assert type(caught.value) is E.ProviderUnavailable
    assert caught.value.outcome == "ambiguous" and caught.value.retryable
