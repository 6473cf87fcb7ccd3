"""Invariants that hold once the system is quiet: statuses agree with the provider, no
orphaned intent, no stale hold, every flow finished and every notification delivered."""

from __future__ import annotations

from collections.abc import Iterator

from paycore import schema as s
from paycore.invariants.common import (
    PROVIDER_TO_LOCAL,
    live,
    ours,
    payments_by_intent,
    recorded_intents,
)
from paycore.invariants.registry import Breach, Ledger, invariant
from paycore.ports import REFUND_UNSETTLED, SnapshotView
from paycore.status import FlowStatus, PaymentStatus, RefundStatus, ReservationStatus


@invariant(
    "statuses-agree",
    "When quiet, every payment and refund has the status its provider object has.",
    "convergence",
    "S5 S17 T3",
)
def statuses_agree(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    for p, v in recorded_intents(snap, ledger):
        if PROVIDER_TO_LOCAL[v.status] is not p.status:
            yield p.id, f"local {p.status.value}, provider {v.status}"
    refunds = {r.id: r for r in ledger.refunds}
    for r in snap.rows(s.REFUNDS):
        pv = refunds.get(r.provider_refund_id or "")
        if r.status is RefundStatus.PENDING and pv is None:
            yield r.id, "refund still pending with no provider refund"
        elif pv is not None and _local_refund_status(pv.status) != r.status.value:
            yield r.id, f"local {r.status.value}, provider {pv.status}"


def _local_refund_status(provider_status: str) -> str:
    """The local status a provider refund's status agrees with: a refund waiting on the
    customer (``requires_action``) is still pending locally, as every unsettled one is
    (paycore has no status of its own for it)."""
    return RefundStatus.PENDING.value if provider_status in REFUND_UNSETTLED else provider_status


@invariant(
    "no-orphaned-intent",
    "When quiet, every provider intent made by this installation that is not canceled belongs "
    "to a local payment that records it.",
    "convergence",
    "S1 S3 S16 T3",
)
def no_orphaned_intent(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    owned = payments_by_intent(snap)
    for v in ours(snap, ledger):
        if live(ledger, v) and v.id not in owned:
            yield v.id, f"{v.status} and no payment records it"


@invariant(
    "no-stale-hold",
    "When quiet, no stock is held past its reservation's expiry unless its payment is "
    "still processing.",
    "convergence",
    "S14 S18",
)
def no_stale_hold(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    for r in snap.rows(s.RESERVATIONS):
        if r.status is not ReservationStatus.HELD:
            continue
        order = snap.get(s.ORDERS, r.order_id)
        payment = snap.get(s.PAYMENTS, order.payment_id) if order else None
        if payment is not None and payment.status is PaymentStatus.PROCESSING:
            continue
        if ledger.now is not None and r.expires_at <= ledger.now:
            yield r.id, f"held past expiry, payment {payment.status.value if payment else '?'}"


@invariant(
    "flows-finished",
    "When quiet, no flow is left unfinished and none was dead-lettered.",
    "convergence",
    "S5 S7",
)
def flows_finished(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    for f in snap.rows(s.FLOWS):
        if f.status in (FlowStatus.ACTIVE, FlowStatus.DEAD):
            yield f.id, f"{f.status.value} at step {f.step}: {f.last_error}"


@invariant(
    "notifications-delivered",
    "When quiet, every queued notification has been delivered.",
    "convergence",
)
def notifications_delivered(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    for m in snap.rows(s.OUTBOX):
        if not m.sent:
            yield m.id, f"{m.kind} for order {m.order_id} not sent after {m.attempts} attempts"
