"""The provider vocabulary and the look-ups several invariants share.

The invariants restate the provider's vocabulary here instead of importing the flows'
tables: a check that shared the implementation's mapping could not catch a mistake in it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from operator import attrgetter
from typing import NamedTuple

from paycore import schema as s
from paycore.invariants.registry import Ledger
from paycore.ports import IntentView, RefundView, SnapshotView
from paycore.records import AuditEntry, Payment
from paycore.status import PaymentStatus

#: Provider statuses from which an intent can still be canceled.
CANCELABLE = {
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "requires_capture",
}
#: Payment statuses from which a payment can still succeed.
CAN_SUCCEED = frozenset(
    {
        PaymentStatus.CREATING,
        PaymentStatus.OPEN,
        PaymentStatus.REQUIRES_ACTION,
        PaymentStatus.PROCESSING,
    }
)
#: Provider intent status -> the local payment status that agrees with it.
PROVIDER_TO_LOCAL = {
    "requires_payment_method": PaymentStatus.OPEN,
    "requires_confirmation": PaymentStatus.OPEN,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.PROCESSING,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELED,
}

#: The metadata keys marking a provider object as made by a paycore installation.
INSTALLATION_KEY = "paycore_installation"
REFERENCE_KEY = "paycore_reference"


def refund_made_for(view: RefundView) -> str | None:
    """The local refund a provider refund was made for; None for a refund paycore did not
    make (no paycore metadata).

    Its reference (random per refund) where it carries one: local refund ids repeat after
    a restore from backup and across stores sharing an account. Only provider refunds made
    by builds before refunds carried a reference (2026-12-03) fall back to the id."""
    reference = view.metadata.get(REFERENCE_KEY)
    if reference:
        return f"reference {reference}"
    local = view.metadata.get("refund_id")
    return f"refund {local}" if local else None


class PaymentIds(NamedTuple):
    """A payment's id and its order's: what the checks keep per provider intent, rather
    than the whole payment record."""

    id: str
    order_id: str


def payments_by_intent(snap: SnapshotView) -> dict[str, PaymentIds]:
    """Every payment that records a provider intent, by that intent's id."""
    return {
        p.provider_intent_id: PaymentIds(p.id, p.order_id)
        for p in snap.rows(s.PAYMENTS)
        if p.provider_intent_id
    }


def recorded_intents(snap: SnapshotView, ledger: Ledger) -> Iterator[tuple[Payment, IntentView]]:
    """Each payment with the provider intent it records, where the ledger holds it."""
    intents = {v.id: v for v in ledger.intents}
    for p in snap.rows(s.PAYMENTS):
        v = intents.get(p.provider_intent_id or "")
        if v is not None:
            yield p, v


_SEQ = attrgetter("seq")


def audit_in_seq_order(snap: SnapshotView) -> Iterable[AuditEntry]:
    """The audit log by sequence number. Rows held in memory come in any order and are
    sorted here; a view that reads them lazily gives them in sequence order already
    (:class:`paycore.ports.SnapshotView`), and sorting would hold the whole log."""
    rows = snap.rows(s.AUDIT)
    if isinstance(rows, Collection):
        return sorted(rows, key=_SEQ)  # a C key: no Python frame per entry
    return rows


def installation(snap: SnapshotView) -> str | None:
    """This installation's id (none before the store was set up)."""
    row = snap.get(s.INSTALLATION, "this")
    return None if row is None else row.id


def ours(snap: SnapshotView, ledger: Ledger) -> list[IntentView]:
    """The provider's intents this installation made. Everything else on the account
    (another store's, invoices, payment links) is not paycore's to keep in order."""
    mine = installation(snap)
    if mine is None:
        return []
    return [v for v in ledger.intents if v.metadata.get(INSTALLATION_KEY) == mine]


def live(ledger: Ledger, v: IntentView) -> bool:
    """Can this intent still take money, or does it keep money it took?"""
    if v.status in CANCELABLE or v.status == "processing":
        return True
    return v.status == "succeeded" and v.amount_received > ledger.refunded(v.id)
