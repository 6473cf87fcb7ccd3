"""Invariants on where the money goes: the account each of this installation's charges pays."""

from __future__ import annotations

from collections.abc import Iterator

from paycore import schema as s
from paycore.invariants.common import REFERENCE_KEY, ours, payments_by_intent
from paycore.invariants.registry import Breach, Ledger, invariant
from paycore.ports import IntentView, SnapshotView
from paycore.records import Payment


def seller_account(snap: SnapshotView, p: Payment) -> str:
    """The provider account of the seller of the payment's order (a cart holds one
    seller's lines); the account the payment recorded when its order or seller is gone."""
    order = snap.get(s.ORDERS, p.order_id)
    seller = None if order is None else snap.get(s.SELLERS, order.seller_id)
    return p.seller_account if seller is None else seller.provider_account


@invariant(
    "payment-records-seller-account",
    "Every payment records the provider account of its order's seller.",
    "safety",
)
def payment_records_seller_account(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    for p in snap.rows(s.PAYMENTS):
        want = seller_account(snap, p)
        if p.seller_account != want:
            yield p.id, f"payment records account {p.seller_account!r}, its seller's is {want!r}"


@invariant(
    "charge-pays-the-seller",
    "Every provider intent this installation made for a payment pays the provider account "
    "of that payment's seller (through Connect, named as its destination; without Connect, "
    "the shop's own, naming none); except a charge no payment records that was refunded in "
    "full, each refund known to have taken its transfer back: it moved no money.",
    "safety",
)
def charge_pays_the_seller(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    recorded = payments_by_intent(snap)
    for v in ours(snap, ledger):
        made_for = snap.get(s.PAYMENTS, v.metadata.get("payment_id", ""))
        if made_for is None or v.metadata.get(REFERENCE_KEY) != made_for.reference:
            continue  # not made for a payment of this store: the orphan checks' concern
        if v.id not in recorded and _returned_in_full(ledger, v):
            continue  # an orphan (or a copy of our intent) whose money all went back
        wrong = _wrong_account(v.account, seller_account(snap, made_for), ledger.connect)
        if wrong is not None:
            yield v.id, wrong


def _returned_in_full(ledger: Ledger, v: IntentView) -> bool:
    """Did the charge move no money: it succeeded, its succeeded refunds cover all it
    received, and none of its refunds left the transfer with the account it paid (a
    dashboard's refund without ``reverse_transfer``: the platform paid the customer and
    that account kept the money)? A charge that names an account had a transfer: each of
    its succeeded refunds must be known to have taken it back (``transfer_reversed``
    True); one not known (None: an adapter that does not read it, or Stripe's under
    ``connect=False``) may have left it, so the charge is still judged. A canceled intent
    is still judged: a create naming the wrong account is wrong whether or not a customer
    paid it."""
    refunds = ledger.refunds_of(v.id)
    if v.status != "succeeded" or any(r.transfer_reversed is False for r in refunds):
        return False
    done = [r for r in refunds if r.status == "succeeded"]
    if v.account is not None and any(r.transfer_reversed is not True for r in done):
        return False
    return ledger.refunded(v.id, ("succeeded",)) >= v.amount_received


def _wrong_account(account: str | None, want: str, connect: bool | None) -> str | None:
    """What is wrong with an intent paying ``account`` (None: its view names no account,
    as Stripe shows a charge with no transfer) for a seller on ``want``, or None.

    Through Connect every charge is a destination charge to the seller's account, so one
    naming none leaves the money on the platform. Without Connect the shop charges its own
    account and names no destination; a seller check before each create ties the
    seller's account to it. Not said (``connect`` None): naming none is not judged."""
    if account is None:
        if connect:
            return f"pays no account (no destination), not the seller's {want!r}"
        return None
    if connect is False:
        return f"pays account {account!r}, though a shop without Connect names no destination"
    if account != want:
        return f"pays account {account!r}, not the seller's {want!r}"
    return None
