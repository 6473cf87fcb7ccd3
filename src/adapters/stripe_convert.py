"""Stripe's wire objects to paycore's port views, and the port's requests to Stripe's
parameters: the units change here and nowhere else.

- Times: Stripe's ``created`` is whole seconds since the epoch
  (docs.stripe.com/api/payment_intents/object, ``created``); the port's views carry
  milliseconds (``IntentView.created``), its list windows seconds
  (``PaymentProvider.list_intents``).
- Currencies: Stripe takes and returns lower-case ISO codes ("You must use all lowercase
  letters", docs.stripe.com/currencies); the port speaks upper case.
- Amounts are integer minor units on both sides (docs.stripe.com/currencies,
  "zero-decimal currencies"): no conversion, ever.

Every function reads a mapping (a ``StripeObject`` is one, and so is a parsed error body),
so the same code converts what the SDK returns and the intent inside a decline error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paycore.ports import AccountView, CreateIntent, IntentView, RefundView

MS_PER_S = 1000


def _get(obj: Mapping[str, Any] | None, *path: str) -> Any:
    """``obj[path[0]][path[1]]...``, or None where a level is missing or null."""
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name)
    return obj


def _metadata(obj: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (obj.get("metadata") or {}).items()}


def intent_view(obj: Mapping[str, Any]) -> IntentView:
    """A PaymentIntent (docs.stripe.com/api/payment_intents/object) as the port's view.
    The client secret is kept: paycore hands it to the customer's browser after a
    checkout; an error that carries an intent loses it (:mod:`paycore_adapters.provider_port`)."""
    return IntentView(
        id=str(obj["id"]),
        status=str(obj["status"]),
        amount=int(obj["amount"]),
        currency=str(obj["currency"]).upper(),
        amount_received=int(obj.get("amount_received") or 0),
        created=int(obj["created"]) * MS_PER_S,
        metadata=_metadata(obj),
        client_secret=obj.get("client_secret"),
        # last_payment_error: "The payment error encountered in the previous PaymentIntent
        # confirmation. It will be cleared if the PaymentIntent is later updated for any
        # reason." (docs.stripe.com/api/payment_intents/object)
        last_error_code=_get(obj, "last_payment_error", "code"),
        # next_action.redirect_to_url.url: where the customer authenticates, when the
        # action is a redirect (docs.stripe.com/api/payment_intents/object, next_action).
        next_action_url=_get(obj, "next_action", "redirect_to_url", "url"),
        cancellation_reason=obj.get("cancellation_reason"),
        account=_destination(obj),
    )


def _destination(obj: Mapping[str, Any]) -> str | None:
    """``transfer_data.destination``: "The account (if any) that the payment is attributed
    to for tax reporting, and where funds from the payment are transferred to after
    payment success" (stripe-python 16.1.0, ``stripe/_payment_intent.py``,
    ``TransferData.destination``), an id or, expanded, the account object. None for a
    charge with no transfer (``transfer_data`` null): Stripe's object names no account."""
    found = _get(obj, "transfer_data", "destination")
    if isinstance(found, Mapping):
        found = found.get("id")
    return None if found is None else str(found)


def refund_view(obj: Mapping[str, Any]) -> RefundView:
    """A Refund (docs.stripe.com/api/refunds/object) as the port's view."""
    return RefundView(
        id=str(obj["id"]),
        intent_id=str(obj.get("payment_intent") or ""),
        amount=int(obj["amount"]),
        status=str(obj["status"]),
        metadata=_metadata(obj),
        failure_reason=obj.get("failure_reason"),
        pending_reason=obj.get("pending_reason"),
    )


def account_view(obj: Mapping[str, Any]) -> AccountView:
    """An Account (docs.stripe.com/api/accounts/object): ``charges_enabled``, the status of
    its ``card_payments`` and ``transfers`` capabilities (a capability the account was
    never given is absent from ``capabilities``: it cannot be used, so ``inactive``), and
    ``requirements.disabled_reason``."""
    return AccountView(
        id=str(obj["id"]),
        charges_enabled=bool(obj.get("charges_enabled")),
        card_payments=str(_get(obj, "capabilities", "card_payments") or "inactive"),
        transfers=str(_get(obj, "capabilities", "transfers") or "inactive"),
        disabled_reason=_get(obj, "requirements", "disabled_reason"),
    )


def create_params(req: CreateIntent, *, connect: bool = True) -> dict[str, Any]:
    """``POST /v1/payment_intents``: the amount in minor units, the code in lower case,
    automatic payment methods, redirects allowed only when the request says so
    (``allow_redirects=never`` lets a confirmation go without ``return_url``,
    docs.stripe.com/api/payment_intents/confirm).

    With ``connect`` (the default) it is a destination charge
    (docs.stripe.com/connect/destination-charges): the seller's account as
    ``transfer_data[destination]`` and, when asked, ``on_behalf_of``. Without, the charge
    is the API key's own account's and names no other account: ``req.account`` is not
    sent (the adapter's ``retrieve_account`` refuses any account but the key's own).

    ``payment_method_types`` is never sent in place of ``automatic_payment_methods``:
    the SDK pins API version 2026-10-28.endive (stripe-python 16.1.0,
    ``stripe/_api_version.py``), and since 2026-09-30.endive Stripe answers that parameter
    with a 400 ``payment_method_types_no_longer_supported``
    (docs.stripe.com/changelog/endive/2026-09-30/removes-the-payment-method-types-parameter-from-payment-intents-and-setup-intents)."""
    apm: dict[str, Any] = {"enabled": True}
    if not req.allow_redirects:
        apm["allow_redirects"] = "never"
    params: dict[str, Any] = {
        "amount": req.amount.amount,
        "currency": req.amount.currency.lower(),
        "automatic_payment_methods": apm,
        "metadata": dict(req.metadata),
    }
    if connect:
        params["transfer_data"] = {"destination": req.account}
        if req.on_behalf_of:
            params["on_behalf_of"] = req.account
    if req.description:
        params["description"] = req.description
    return params


def search_query(metadata_key: str, value: str) -> str:
    """Stripe's search query for one metadata value: ``metadata['key']:'value'``
    (docs.stripe.com/search, "Search query language": metadata fields, string values in
    quotes, a quote inside one escaped with a backslash)."""

    def quoted(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return f"metadata[{quoted(metadata_key)}]:{quoted(value)}"
