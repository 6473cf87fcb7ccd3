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

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from paycore.ports import (
    AccountView,
    CreateIntent,
    DisputeView,
    IntentView,
    ListPage,
    RefundView,
)

MS_PER_S = 1000

T = TypeVar("T")


class NotUnderstood(ValueError):
    """An answer that is not the object its call returns: a field missing, or of another
    type than Stripe's object has (the message names the field, never its value)."""


def _object(obj: object, kind: str) -> Mapping[str, Any]:
    """``obj`` as a JSON object of Stripe's type ``kind`` (its ``object`` field, when the
    answer has one: every object Stripe returns does)."""
    if not isinstance(obj, Mapping):
        raise NotUnderstood(f"a {kind} must be a JSON object")
    if obj.get("object", kind) != kind:
        raise NotUnderstood(f"the answer is not a {kind} object")
    return obj


def _text(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise NotUnderstood(f"'{name}' must be a non-empty string")
    return value


def _whole(obj: Mapping[str, Any], name: str, *, null_is_zero: bool = False) -> int:
    """A whole number, never negative (amounts in minor units, seconds since the epoch);
    a JSON ``true`` is not one, nor is ``1250.0`` or ``"1250"``."""
    value = obj.get(name)
    if value is None and null_is_zero:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NotUnderstood(f"'{name}' must be a whole number, not negative")
    return value


def _get(obj: Mapping[str, Any] | None, *path: str) -> str | None:
    """The string at ``obj[path[0]][path[1]]...``, or None where a level is missing or null;
    a level that is not an object, or an end that is not a string, is not understood."""
    value: Any = obj
    for name in path:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise NotUnderstood(f"'{name}' must sit in a JSON object")
        value = value.get(name)
    if value is not None and not isinstance(value, str):
        raise NotUnderstood(f"'{'.'.join(path)}' must be a string or null")
    return value


def _metadata(obj: Mapping[str, Any]) -> dict[str, str]:
    """Stripe's metadata: string keys and string values (docs.stripe.com/metadata)."""
    found = obj.get("metadata")
    if found is None:
        return {}
    if not isinstance(found, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in found.items()
    ):
        raise NotUnderstood("'metadata' must map strings to strings")
    return dict(found)


def intent_view(answer: object) -> IntentView:
    """A PaymentIntent (docs.stripe.com/api/payment_intents/object) as the port's view.
    The client secret is kept: paycore hands it to the customer's browser after a
    checkout; an error that carries an intent loses it (:mod:`paycore_adapters.provider_port`).

    Raises:
        NotUnderstood: ``answer`` is not a PaymentIntent of Stripe's shape.
    """
    obj = _object(answer, "payment_intent")
    return IntentView(
        id=_text(obj, "id"),
        status=_text(obj, "status"),
        amount=_whole(obj, "amount"),
        currency=_text(obj, "currency").upper(),
        amount_received=_whole(obj, "amount_received", null_is_zero=True),
        created=_whole(obj, "created") * MS_PER_S,
        metadata=_metadata(obj),
        client_secret=_get(obj, "client_secret"),
        # last_payment_error: "The payment error encountered in the previous PaymentIntent
        # confirmation. It will be cleared if the PaymentIntent is later updated for any
        # reason." (docs.stripe.com/api/payment_intents/object)
        last_error_code=_get(obj, "last_payment_error", "code"),
        # next_action.redirect_to_url.url: where the customer authenticates, when the
        # action is a redirect (docs.stripe.com/api/payment_intents/object, next_action).
        next_action_url=_get(obj, "next_action", "redirect_to_url", "url"),
        cancellation_reason=_get(obj, "cancellation_reason"),
        account=_destination(obj),
    )


def _destination(obj: Mapping[str, Any]) -> str | None:
    """``transfer_data.destination``: "The account (if any) that the payment is attributed
    to for tax reporting, and where funds from the payment are transferred to after
    payment success" (stripe-python 16.1.0, ``stripe/_payment_intent.py``,
    ``TransferData.destination``), an id or, expanded, the account object. None for a
    charge with no transfer (``transfer_data`` null): Stripe's object names no account."""
    transfer = obj.get("transfer_data")
    if isinstance(transfer, Mapping) and isinstance(transfer.get("destination"), Mapping):
        return _get(transfer, "destination", "id")
    return _get(obj, "transfer_data", "destination")


def refund_view(answer: object, *, connect: bool = True) -> RefundView:
    """A Refund (docs.stripe.com/api/refunds/object) as the port's view. ``connect``: the
    shop charges by destination charges (the adapter's ``connect``), so a refund's null
    ``transfer_reversal`` means the seller kept the amount. Without Connect a null is
    "no transfer" or "not reversed" (the account may make destination charges for
    another integration, or for a copy of one of our intents), which the refund alone
    does not tell: None, not known. A reversal's id is read whatever ``connect`` is: the
    refund took a transfer back.

    Raises:
        NotUnderstood: ``answer`` is not a Refund of Stripe's shape.
    """
    obj = _object(answer, "refund")
    return RefundView(
        id=_text(obj, "id"),
        intent_id=_get(obj, "payment_intent") or "",
        amount=_whole(obj, "amount"),
        # Nullable (stripe-python 16.1.0 ``stripe/_refund.py``: ``status: Optional[str]``):
        # "" is a status paycore does not know, so the refund's local status stands.
        status=_get(obj, "status") or "",
        metadata=_metadata(obj),
        failure_reason=_get(obj, "failure_reason"),
        pending_reason=_get(obj, "pending_reason"),
        transfer_reversed=_reversal_seen(obj, connect=connect),
    )


def _reversal_seen(obj: Mapping[str, Any], *, connect: bool) -> bool | None:
    """:func:`_transfer_reversed`, with a null read as "not known" without Connect."""
    reversed_ = _transfer_reversed(obj)
    return reversed_ if connect or reversed_ else None


def _transfer_reversed(obj: Mapping[str, Any]) -> bool | None:
    """``transfer_reversal``: "the transfer reversal object if the accompanying transfer
    reverses. This is only applicable if the charge was created using the destination
    parameter" (stripe-python 16.1.0 ``stripe/_refund.py``, ``Refund.transfer_reversal``,
    ``Optional[ExpandableField["TransferReversal"]]``): an id (``trr_``,
    docs.stripe.com/api/transfer_reversals/object) or, expanded, the object; null when
    no transfer was reversed. An object without the field says nothing: None."""
    if "transfer_reversal" not in obj:
        return None
    reversal = obj["transfer_reversal"]
    if isinstance(reversal, Mapping):
        reversal = _text(reversal, "id")
    if reversal is not None and not isinstance(reversal, str):
        raise NotUnderstood("'transfer_reversal' must be an id, an object or null")
    return reversal is not None


def account_view(answer: object) -> AccountView:
    """An Account (docs.stripe.com/api/accounts/object): ``charges_enabled``, the status of
    its ``card_payments`` and ``transfers`` capabilities (a capability the account was
    never given is absent from ``capabilities``: it cannot be used, so ``inactive``), and
    ``requirements.disabled_reason``.

    Raises:
        NotUnderstood: ``answer`` is not an Account of Stripe's shape.
    """
    obj = _object(answer, "account")
    enabled = obj.get("charges_enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise NotUnderstood("'charges_enabled' must be a boolean")
    return AccountView(
        id=_text(obj, "id"),
        charges_enabled=bool(enabled),
        card_payments=_get(obj, "capabilities", "card_payments") or "inactive",
        transfers=_get(obj, "capabilities", "transfers") or "inactive",
        disabled_reason=_get(obj, "requirements", "disabled_reason"),
    )


def dispute_view(answer: object) -> DisputeView:
    """A dispute as listed (docs.stripe.com/api/disputes/object): its id and ``created``
    are read here, the rest by paycore as it reads a dispute event's object (a field it
    cannot read makes that one dispute unusable, not the page).

    Raises:
        NotUnderstood: not a dispute object, or no id or ``created``.
    """
    obj = _object(answer, "dispute")
    return DisputeView(_text(obj, "id"), _whole(obj, "created") * MS_PER_S, _plain(obj))


def _plain(value: Any) -> Any:
    """A copy of a JSON value made of plain dicts and lists (the SDK's objects are
    mappings of their own kind)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def list_page(answer: object, view: Callable[[object], T]) -> ListPage[T]:
    """A page of a list (docs.stripe.com/api/pagination: ``data``, ``has_more``), each of
    its objects through ``view``.

    Raises:
        NotUnderstood: ``answer`` is not a list object, or one of its objects not ``view``'s.
    """
    obj = _object(answer, "list")
    return ListPage(tuple(view(item) for item in _data(obj)), _has_more(obj))


def search_page(answer: object) -> tuple[list[IntentView], str | None]:
    """A page of a search of intents (docs.stripe.com/api/pagination/search: ``data``,
    ``has_more``, ``next_page``): its intents, and the next page's cursor while
    ``has_more``, else None.

    Raises:
        NotUnderstood: ``answer`` is not a search result of intents, or says there is more
            without a cursor.
    """
    obj = _object(answer, "search_result")
    found = [intent_view(item) for item in _data(obj)]
    if not _has_more(obj):
        return found, None
    following = _get(obj, "next_page")
    if not following:
        raise NotUnderstood("a search page with 'has_more' must have a 'next_page'")
    return found, following


def _data(obj: Mapping[str, Any]) -> list[Any]:
    data = obj.get("data")
    if not isinstance(data, list):
        raise NotUnderstood("'data' must be a JSON array")
    return data


def _has_more(obj: Mapping[str, Any]) -> bool:
    more = obj.get("has_more")
    if not isinstance(more, bool):
        raise NotUnderstood("'has_more' must be a boolean")
    return more


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
