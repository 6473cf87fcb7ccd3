"""Which provider objects are paycore's: this installation's identity, checked in full.

Local ids (``pay_000001``, ``rf_000001``) repeat across stores that share a provider
account, and within one store after a restore from backup. So every object paycore
creates at the provider carries this installation's id and the object's own random
reference (:data:`INSTALLATION_KEY`, :data:`REFERENCE_KEY`), and an object is adopted
for a payment or a refund only when it carries both and also matches its amount,
currency, order and checkout session. Objects without this installation's id are not
paycore's: they are reported, never changed (invoices, payment links, another store's
or a previous system's payments).

The checks are pure functions of the provider's view and the local records, so every
flow (checkout adoption, cancel on abort, webhooks, refund resolution, the reconciler
and the janitor) asks the same question the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

from paycore import schema as s
from paycore.ports import IntentView, RefundView
from paycore.records import Installation, Order, Payment, Refund
from paycore.unit import Unit

#: Metadata naming the installation that made a provider object.
INSTALLATION_KEY = "paycore_installation"
#: Metadata naming the payment or refund a provider object was made for (its reference).
REFERENCE_KEY = "paycore_reference"
_ROW = "this"


def installation_id(u: Unit) -> str:
    """This store's installation id, created (random) by the first transaction that needs it."""
    row = u.get(s.INSTALLATION, _ROW)
    if row is None:
        row = Installation(_ROW, f"inst_{u.tokens.token()}", u.now)
        u.tx.insert(s.INSTALLATION, row)
    return row.id


def known_installation(u: Unit) -> str | None:
    """This store's installation id, or None before anything made one (only reads:
    :func:`installation_id` creates it)."""
    row = u.get(s.INSTALLATION, _ROW)
    return row.id if row is not None else None


def new_reference(u: Unit, prefix: str) -> str:
    """A reference for a new payment (``prefix`` "pref") or refund ("rref")."""
    return f"{prefix}_{u.tokens.token()}"


def identity(installation: str, reference: str | None) -> dict[str, str]:
    """The metadata that marks a provider object as made by this installation."""
    out = {INSTALLATION_KEY: installation}
    if reference is not None:
        out[REFERENCE_KEY] = reference
    return out


def is_ours(metadata: Mapping[str, str], installation: str | None) -> bool:
    """Was the object made by this installation (whatever it was made for)?"""
    return installation is not None and metadata.get(INSTALLATION_KEY) == installation


def intent_mismatch(
    intent: IntentView, payment: Payment, order: Order, installation: str | None
) -> str | None:
    """Why ``intent`` is not ``payment``'s intent, or None when it is."""
    meta = intent.metadata
    if not is_ours(meta, installation):
        return "not made by this installation"
    if payment.reference is None or meta.get(REFERENCE_KEY) != payment.reference:
        return "made for another payment (reference differs)"
    expected = {
        "payment_id": payment.id,
        "order_id": order.id,
        "checkout_session_id": order.checkout_session_id,
    }
    for field, value in expected.items():
        if meta.get(field) != value:
            return f"{field} is {meta.get(field)!r}, not {value!r}"
    if payment.order_id != order.id or payment.checkout_session_id != order.checkout_session_id:
        return "the payment is not this order's"
    if intent.amount != order.total.amount or intent.amount != payment.amount.amount:
        return f"amount {intent.amount} is not the order's {order.total.amount}"
    if intent.currency.upper() != order.total.currency.upper():
        return f"currency {intent.currency} is not the order's {order.total.currency}"
    if intent.account and intent.account != payment.seller_account:
        # A copy of the intent (its metadata is on the dashboard) paying someone else.
        # A view that names no account (no Connect, or not said) is not judged here.
        return f"pays account {intent.account!r}, not the seller's {payment.seller_account!r}"
    return None


def intent_is_payments(
    intent: IntentView, payment: Payment, order: Order, installation: str | None
) -> bool:
    """Is ``intent`` the one this installation made for ``payment`` of ``order``?

    It must carry this installation's id and the payment's reference, match the
    order's amount, currency, id and checkout session, and, when its view names the
    account it pays, pay the payment's seller's.
    """
    return intent_mismatch(intent, payment, order, installation) is None


def refund_is_refunds(
    view: RefundView, refund: Refund, payment: Payment, installation: str | None
) -> bool:
    """Is the provider refund ``view`` the one this installation made for ``refund``?"""
    meta = view.metadata
    return (
        is_ours(meta, installation)
        and refund.reference is not None
        and meta.get(REFERENCE_KEY) == refund.reference
        and meta.get("refund_id") == refund.id
        and view.amount == refund.amount.amount
        and view.intent_id == payment.provider_intent_id
    )
