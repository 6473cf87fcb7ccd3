"""The faithful provider model's records and errors in Stripe's wire format.

Objects are shaped as Stripe's (docs.stripe.com/api/payment_intents/object,
/api/refunds/object, /api/accounts/object, /api/events/object); lists as Stripe's list
object (``object: "list"``, ``data``, ``has_more``, ``url``: docs.stripe.com/api/pagination)
and search results as its ``search_result`` (docs.stripe.com/api/pagination/search).
Errors are Stripe's error body with its status codes (docs.stripe.com/api/errors,
docs.stripe.com/error-low-level): 400 invalid request or idempotency error, 402 card
error, 404 missing, 409 key in use, 429 rate limit or lock timeout, 500 api error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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

MS_PER_S = 1000
Json = dict[str, Any]


def intent_json(view: IntentView) -> Json:
    """A PaymentIntent. ``client_secret`` is sent as Stripe sends it to the holder of the
    secret key; a decline error's intent has none (the model drops it at its port).
    ``transfer_data`` is a destination charge's ``{"amount": null, "destination": ...}``
    (no amount asked: the whole payment is transferred) and null for an intent made
    without one (docs.stripe.com/api/payment_intents/object, ``transfer_data``; stripe-python
    16.1.0 ``stripe/_payment_intent.py``, ``transfer_data: Optional[TransferData]``)."""
    transfer = None if view.account is None else {"amount": None, "destination": view.account}
    next_action = None
    if view.next_action_url is not None:
        next_action = {"type": "redirect_to_url", "redirect_to_url": {"url": view.next_action_url}}
    last_error = None if view.last_error_code is None else {"code": view.last_error_code}
    return {
        "id": view.id,
        "object": "payment_intent",
        "amount": view.amount,
        "amount_received": view.amount_received,
        "currency": view.currency.lower(),
        "created": view.created // MS_PER_S,
        "status": view.status,
        "metadata": dict(view.metadata),
        "client_secret": view.client_secret,
        "last_payment_error": last_error,
        "next_action": next_action,
        "cancellation_reason": view.cancellation_reason,
        "transfer_data": transfer,
        "livemode": False,
    }


def refund_json(view: RefundView) -> Json:
    # The transfer reversal's id, or null: none made, or no transfer to reverse
    # (docs.stripe.com/api/refunds/object; ids ``trr_``, docs.stripe.com/api/
    # transfer_reversals/object). One reversal a refund, so its id follows the refund's.
    reversal = f"trr_{view.id.removeprefix('re_')}" if view.transfer_reversed else None
    return {
        "id": view.id,
        "object": "refund",
        "amount": view.amount,
        "payment_intent": view.intent_id,
        "status": view.status,
        "metadata": dict(view.metadata),
        "failure_reason": view.failure_reason,
        "pending_reason": view.pending_reason,
        "transfer_reversal": reversal,
    }


def account_json(view: AccountView) -> Json:
    return {
        "id": view.id,
        "object": "account",
        "charges_enabled": view.charges_enabled,
        "capabilities": {"card_payments": view.card_payments, "transfers": view.transfers},
        "requirements": {"disabled_reason": view.disabled_reason},
    }


def list_json(url: str, data: Iterable[Json], has_more: bool) -> Json:
    return {"object": "list", "url": url, "data": list(data), "has_more": has_more}


def search_json(
    url: str,
    data: Iterable[Json],
    *,
    has_more: bool = False,
    next_page: str | None = None,
    total_count: int | None = None,
) -> Json:
    """One page of search results: ``next_page`` is the token of the page after it (None
    on the last), passed back as ``page`` (docs.stripe.com/api/pagination/search)."""
    items = list(data)
    return {
        "object": "search_result",
        "url": url,
        "data": items,
        "has_more": has_more,
        "next_page": next_page,
        "total_count": len(items) if total_count is None else total_count,
    }


def event_json(event: ProviderEvent, obj: Json | None) -> Json:
    """An event; ``data.object`` is the object as it is when the event is sent (Stripe's
    is the object as of the event: the model keeps no history of its objects). A dispute's
    is the one the event carries (``ProviderEvent.snapshot``, :mod:`..fake_disputes`)."""
    plain = {"object": event.object_kind, "id": event.object_id, "status": event.status}
    body = obj or {**(event.snapshot or {}), **plain}
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "created": event.created,
        "livemode": False,
        "data": {"object": body},
    }


def error_json(
    err: ProviderError, intent: IntentView | None = None
) -> tuple[int, Json, Mapping[str, str]]:
    """(status, body, extra headers) of a model error, as Stripe answers it. ``intent``:
    the intent a refused request involved, which Stripe puts in the error
    (docs.stripe.com/api/errors, ``payment_intent``); a decline's own intent wins."""
    f = err.fields
    body: Json = {"message": err.message, "type": "invalid_request_error"}
    if f.get("error_code"):
        body["code"] = f["error_code"]
    elif isinstance(err, ProviderInvalidRequest) and f.get("status"):
        # An action the intent's status does not allow: "The PaymentIntent's state was
        # incompatible with the operation you were trying to perform"
        # (docs.stripe.com/error-codes#payment-intent-unexpected-state).
        body["code"] = "payment_intent_unexpected_state"
    if f.get("param"):
        body["param"] = f["param"]
    involved = f.get("intent") if isinstance(f.get("intent"), IntentView) else intent
    if involved is not None:
        body["payment_intent"] = intent_json(involved)
    headers: dict[str, str] = {}
    status = 400
    if isinstance(err, ProviderCardDeclined):
        status, body["type"], body["code"] = 402, "card_error", "card_declined"
        body["decline_code"] = f.get("decline_code")
    elif isinstance(err, ProviderNotFound):
        status, body["code"] = 404, "resource_missing"
    elif isinstance(err, ProviderIdempotencyMismatch):
        body["type"] = "idempotency_error"
    elif isinstance(err, ProviderIdempotencyInUse):
        status, body["code"] = 409, "idempotency_key_in_use"
    elif isinstance(err, ProviderLockTimeout):
        status, body["code"] = 429, "lock_timeout"
        headers["Stripe-Should-Retry"] = "true"
    elif isinstance(err, ProviderRateLimited):
        status, body["code"] = 429, "rate_limit"
    elif isinstance(err, ProviderUnavailable):
        # A 500 saved under its key replays forever: Stripe says a retry is no use.
        status, body["type"] = 500, "api_error"
        headers["Stripe-Should-Retry"] = "false"
    return status, {"error": body}, headers


def stripe_error(
    status: int, message: str, *, type_: str = "invalid_request_error", **more: Any
) -> tuple[int, Json, Mapping[str, str]]:
    """An error the emulator itself answers (bad auth, an unknown route, a bad form)."""
    return status, {"error": {"type": type_, "message": message, **more}}, {}
