"""The model's records as Stripe's JSON objects, and its errors as Stripe's error answers:
every object the emulator sends is made here and nowhere else.

Objects (their fields: docs.stripe.com/api/payment_intents/object,
docs.stripe.com/api/refunds/object, docs.stripe.com/api/accounts/object,
docs.stripe.com/api/events/object; lists: docs.stripe.com/api/pagination, search results:
docs.stripe.com/api/pagination/search): ``created`` in whole seconds, currencies in lower
case (docs.stripe.com/currencies), amounts in minor units as the model keeps them.

Client secrets: Stripe returns a PaymentIntent's ``client_secret`` to whoever holds the
secret key ("can be used to complete a payment from your frontend. It should not be
stored, logged, or exposed to anyone other than the customer", the object's reference),
so the emulator sends it on every intent it answers, in a decline's
``error.payment_intent`` too (the error object's ``payment_intent`` is "the PaymentIntent
object for errors returned on a request involving a PaymentIntent", docs.stripe.com/api/
errors). It appears nowhere else: never in an event, a log line, a list of refunds or a
message. The model itself drops the secret from a decline's error as it leaves the model
(:mod:`paycore_adapters.provider_port`); the emulator puts back the intent's own secret,
which never changes, as Stripe would send it.

Errors (docs.stripe.com/api/errors: statuses 400, 401, 402, 404, 409, 429, 500; types
``api_error``, ``card_error``, ``idempotency_error``, ``invalid_request_error``):
:func:`error_answer` holds the whole mapping from the model's error classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from paycore.errors import (
    ProviderCardDeclined,
    ProviderError,
    ProviderIdempotencyInUse,
    ProviderIdempotencyMismatch,
    ProviderInvalidRequest,
    ProviderLockTimeout,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
)
from paycore.ports import AccountView, IntentView, ProviderEvent, RefundView

from .fake_ledger import StoredIntent, charge_id

JSON = dict[str, Any]


def seconds(ms: int) -> int:
    """The model's milliseconds as Stripe's ``created`` (whole seconds since the epoch)."""
    return ms // 1000


def intent_json(view: IntentView, record: StoredIntent | None) -> JSON:
    """A PaymentIntent object; ``record`` (what the model keeps beside the view) gives the
    destination, the payment method and the latest charge."""
    error = None
    if view.last_error_code is not None:
        error = {
            "type": "card_error" if view.last_error_code == "card_declined" else "api_error",
            "code": view.last_error_code,
            "decline_code": "generic_decline" if view.last_error_code == "card_declined" else None,
            "message": f"The latest attempt failed ({view.last_error_code}).",
        }
    next_action = None
    if view.next_action_url is not None:
        return_url = record.return_url if record is not None else None
        redirect = {"url": view.next_action_url, "return_url": return_url}
        next_action = {"type": "redirect_to_url", "redirect_to_url": redirect}
    account = record.account if record is not None else None
    return {
        "id": view.id,
        "object": "payment_intent",
        "amount": view.amount,
        "amount_capturable": view.amount if view.status == "requires_capture" else 0,
        "amount_received": view.amount_received,
        "automatic_payment_methods": {
            "enabled": True,
            "allow_redirects": "always" if record is None or record.allow_redirects else "never",
        },
        "cancellation_reason": view.cancellation_reason,
        "capture_method": "automatic",
        "client_secret": view.client_secret,
        "confirmation_method": "automatic",
        "created": seconds(view.created),
        "currency": view.currency.lower(),
        "description": (record.description or None) if record is not None else None,
        "last_payment_error": error,
        "latest_charge": charge_id(record) if record is not None and record.attempts else None,
        "livemode": False,
        "metadata": dict(view.metadata),
        "next_action": next_action,
        "on_behalf_of": account if record is not None and record.on_behalf_of else None,
        "payment_method": record.payment_method if record is not None else None,
        "status": view.status,
        "transfer_data": {"destination": account} if account else None,
    }


def refund_json(view: RefundView, *, currency: str, created_s: int, reason: str | None) -> JSON:
    """A Refund object (``charge`` is left out: the model names charges per attempt)."""
    return {
        "id": view.id,
        "object": "refund",
        "amount": view.amount,
        "created": created_s,
        "currency": currency.lower(),
        "failure_reason": view.failure_reason,
        "metadata": dict(view.metadata),
        "payment_intent": view.intent_id,
        "pending_reason": view.pending_reason,
        "reason": reason,
        "status": view.status,
    }


def account_json(view: AccountView) -> JSON:
    """An Account object: what paycore reads of it (charges, two capabilities, why it
    is disabled)."""
    return {
        "id": view.id,
        "object": "account",
        "charges_enabled": view.charges_enabled,
        "capabilities": {"card_payments": view.card_payments, "transfers": view.transfers},
        "requirements": {"disabled_reason": view.disabled_reason},
    }


def list_json(url: str, data: Sequence[JSON], has_more: bool) -> JSON:
    return {"object": "list", "data": list(data), "has_more": has_more, "url": url}


def search_json(url: str, data: Sequence[JSON], has_more: bool, next_page: str | None) -> JSON:
    return {
        "object": "search_result",
        "data": list(data),
        "has_more": has_more,
        "next_page": next_page,
        "url": url,
    }


def event_json(event: ProviderEvent, obj: JSON) -> JSON:
    """An Event object: ``data.object`` is the object with the status the event reports
    (the model keeps each object's present state; its other fields are the present ones).
    No client secret rides in an event."""
    body = {k: v for k, v in obj.items() if k != "client_secret"}
    if event.status is not None:
        body["status"] = event.status
    return {
        "id": event.id,
        "object": "event",
        "api_version": None,
        "created": event.created,
        "data": {"object": body},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event.type,
    }


def charge_json(event: ProviderEvent) -> JSON:
    """The charge of a ``charge.*`` event, as far as the model knows it (its id names its
    intent: ``ch_<n>_<attempt>`` of ``pi_<n>``)."""
    number = event.object_id.removeprefix("ch_").rsplit("_", 1)[0]
    return {
        "id": event.object_id,
        "object": "charge",
        "payment_intent": f"pi_{number}",
        "status": event.status,
    }


def error_body(
    type_: str,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    decline_code: str | None = None,
    payment_intent: JSON | None = None,
) -> JSON:
    return {
        "error": {
            "type": type_,
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "param": param,
            "payment_intent": payment_intent,
        }
    }


#: An answer: HTTP status, JSON body, extra headers.
Answer = tuple[int, JSON, dict[str, str]]


def error_answer(
    err: ProviderError, *, keyed: bool, intent_of: Callable[[IntentView], JSON]
) -> Answer:
    """Stripe's answer to each error class of the model.

    - card declined: 402 ``card_error``, code ``card_declined``, its ``decline_code``, the
      intent as the decline left it (docs.stripe.com/declines, docs.stripe.com/api/errors);
    - idempotency key reused with other parameters: 400 ``idempotency_error``
      (docs.stripe.com/api/idempotent_requests);
    - key still in use: 409, code ``idempotency_key_in_use`` (docs.stripe.com/error-codes;
      the type is unsourced: ``idempotency_error``), ``Stripe-Should-Retry: true``;
    - object locked: 429, code ``lock_timeout`` (docs.stripe.com/error-codes); rate
      limit: 429, code ``rate_limit`` (docs.stripe.com/rate-limits; both typed
      ``invalid_request_error``, unsourced);
    - not found: 404 ``invalid_request_error``, code ``resource_missing``;
    - invalid: 400 ``invalid_request_error`` with the model's code and param;
    - a 500: ``api_error``; ``Stripe-Should-Retry: false`` when it is saved under an
      idempotency key, which replays it (stripe-python 16.1.0, ``stripe/_http_client.py``,
      ``_should_retry``: "we expect the stripe-should-retry header to be false in most
      cases when a 500 is returned, since our idempotency framework would typically
      replay it anyway").
    """
    fields, message = err.fields, err.message
    code = fields.get("error_code")
    param = fields.get("param")
    if isinstance(err, ProviderCardDeclined):
        intent = fields.get("intent")
        obj = intent_of(intent) if isinstance(intent, IntentView) else None
        decline = str(fields.get("decline_code") or "generic_decline")
        body = error_body(
            "card_error", message, code="card_declined", decline_code=decline, payment_intent=obj
        )
        return 402, body, {}
    if isinstance(err, ProviderIdempotencyMismatch):
        return 400, error_body("idempotency_error", message), {}
    if isinstance(err, ProviderIdempotencyInUse):
        body = error_body("idempotency_error", message, code="idempotency_key_in_use")
        return 409, body, {"Stripe-Should-Retry": "true"}
    if isinstance(err, ProviderLockTimeout):
        body = error_body("invalid_request_error", message, code="lock_timeout")
        return 429, body, {"Stripe-Should-Retry": "true"}
    if isinstance(err, ProviderRateLimited):
        return 429, error_body("invalid_request_error", message, code="rate_limit"), {}
    if isinstance(err, ProviderNotFound):
        body = error_body("invalid_request_error", message, code="resource_missing", param=param)
        return 404, body, {}
    if isinstance(err, ProviderInvalidRequest):
        if code is None and "status" in fields:
            code = "payment_intent_unexpected_state"  # docs.stripe.com/error-codes
        return 400, error_body("invalid_request_error", message, code=code, param=param), {}
    if isinstance(err, ProviderUnavailable):
        retry = "false" if keyed else "true"
        return 500, error_body("api_error", message), {"Stripe-Should-Retry": retry}
    return 500, error_body("api_error", message), {"Stripe-Should-Retry": "false"}
