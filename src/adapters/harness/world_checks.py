"""Checks only the world can make: it knows what it planted and how the shop is configured.

The invariants (:mod:`paycore.invariants`) read the store and the provider's ledger and
nothing else. Two rules need more, and are checked here, after every step, with the
invariants (``World.violations``), reported like them:

- ``foreign-kept-as-planted``: every intent the world planted for others
  (:data:`paycore_adapters.harness.foreign.CROWD`) keeps the status it was planted with,
  or the one the world's own customer action gave it since, and has no refund. The
  ledger cannot tell these intents apart: an invoice, a payment link and a previous
  system's payment carry no installation id, and the last one carries a ``payment_id``
  that collides with the shop's. ``foreign-left-alone`` sees only refunds carrying
  paycore's metadata; a cancel of another store's unpaid intent is caught here.
- ``processing-hold-kept``: the stock of a payment the provider is processing goes back
  on sale no earlier than its order's expiry plus ``Config.processing_hold_ms``, and
  never when that is None (held until the payment settles: ``paycore.jobs``). The
  invariant ``stock-kept-for-live-payment`` excuses any expiry made while the payment
  was processing; only the world knows the configured hold.
"""

from __future__ import annotations

from collections.abc import Sequence

from paycore import schema as s
from paycore.invariants import Ledger, Violation
from paycore.invariants.common import audit_in_seq_order
from paycore.ports import IntentView, Snapshot
from paycore.records import Reservation
from paycore.status import PaymentStatus, ReservationStatus

FOREIGN_KEPT = "foreign-kept-as-planted"
PROCESSING_HOLD = "processing-hold-kept"
#: The world's own checks, named like invariants (``model.HARNESS_CHECKS`` lists them).
WORLD_CHECKS = frozenset({FOREIGN_KEPT, PROCESSING_HOLD})


def foreign_kept(planted: Sequence[IntentView], ledger: Ledger) -> list[Violation]:
    """Each planted intent as the world left it: same status, no refund at all (the
    dashboard refunds only the shop's payments)."""
    if not planted:
        return []
    wanted = {v.id: v for v in planted}
    out: list[Violation] = []
    for now in ledger.intents:
        was = wanted.get(now.id)
        if was is not None and now.status != was.status:
            detail = f"planted as {was.status}, now {now.status} ({_whose(was)})"
            out.append(Violation(FOREIGN_KEPT, now.id, detail))
    for r in ledger.refunds:
        if r.intent_id in wanted:
            detail = f"refund {r.id} of {r.amount} ({r.status}) on {_whose(wanted[r.intent_id])}"
            out.append(Violation(FOREIGN_KEPT, r.intent_id, detail))
    return out


def _whose(v: IntentView) -> str:
    return ", ".join(f"{k}={v.metadata[k]}" for k in sorted(v.metadata)) or "no metadata"


class HoldCheck:
    """``processing-hold-kept``, judging each expired reservation once: an expiry is
    final (a reservation expired is never held again), and the audit entries it is
    judged on never change. Its verdicts are kept by reservation id, for one store."""

    def __init__(self) -> None:
        self.judged: dict[str, Violation | None] = {}
        self._store: object = None

    def __call__(self, store: object, snap: Snapshot, hold_ms: int | None) -> list[Violation]:
        if store is not self._store:  # another store: its reservations are others
            self.judged, self._store = {}, store
        new = [
            r
            for r in snap.rows(s.RESERVATIONS)
            if r.status is ReservationStatus.EXPIRED and r.id not in self.judged
        ]
        if new:
            self._judge(snap, new, hold_ms)
        return [v for v in self.judged.values() if v is not None]

    def _judge(self, snap: Snapshot, new: list[Reservation], hold_ms: int | None) -> None:
        orders = {r.id: snap.get(s.ORDERS, r.order_id) for r in new}
        payments = {o.payment_id for o in orders.values() if o is not None}
        wanted = {r.id for r in new} | payments
        expired_at: dict[str, tuple[int, int]] = {}  # reservation -> (seq, at) of its expiry
        payment_was: dict[str, list[tuple[int, str]]] = {}
        for a in audit_in_seq_order(snap):
            if a.aggregate_id not in wanted:
                continue
            if a.aggregate_id in payments:
                payment_was.setdefault(a.aggregate_id, []).append((a.seq, a.to_status))
            elif a.to_status == ReservationStatus.EXPIRED.value:
                expired_at[a.aggregate_id] = (a.seq, a.at)
        for r in new:
            order, when = orders[r.id], expired_at.get(r.id)
            self.judged[r.id] = None
            if order is None or when is None:
                continue
            before = [st for seq, st in payment_was.get(order.payment_id, []) if seq < when[0]]
            if not before or before[-1] != PaymentStatus.PROCESSING.value:
                continue
            if hold_ms is None:
                detail = "expired while its payment was processing: held until it settles"
            elif when[1] < order.expires_at + hold_ms:
                early = order.expires_at + hold_ms - when[1]
                detail = f"expired while its payment was processing, {early} ms before its hold"
            else:
                continue
            self.judged[r.id] = Violation(PROCESSING_HOLD, r.id, detail)
