"""Invariants on the audit log and effects: every recorded transition legal, the log
replaying to the current state, and each effect happening once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from paycore import schema as s
from paycore.invariants.common import audit_in_seq_order
from paycore.invariants.registry import Breach, Ledger, invariant
from paycore.machines import MACHINES
from paycore.ports import SnapshotView
from paycore.status import OrderStatus

_PAID = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)


@invariant(
    "effects-once",
    "Each reservation is committed at most once, and each order gets at most one paid "
    "notification, queued exactly when the order was paid.",
    "safety",
    "S10 S17",
)
def effects_once(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    commits = Counter(
        a.aggregate_id
        for a in snap.rows(s.AUDIT)
        if a.aggregate == "reservation" and a.trigger == "commit"
    )
    for rid, n in sorted(commits.items()):
        if n > 1:
            yield rid, f"committed {n} times"
    paid_msgs = Counter(m.order_id for m in snap.rows(s.OUTBOX) if m.kind == "order_paid")
    for o in snap.rows(s.ORDERS):
        if paid_msgs[o.id] != int(o.status in _PAID):
            yield o.id, f"{paid_msgs[o.id]} paid notifications for a {o.status.value} order"


@invariant(
    "legal-transitions",
    "Every recorded status change is a transition its aggregate's state machine allows.",
    "safety",
    "S9",
)
def legal_transitions(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    for a in snap.rows(s.AUDIT):
        # ``recordable``: every edge of the machine, and creation into its initial state
        if (a.from_status, a.trigger, a.to_status) not in MACHINES[a.aggregate].recordable:
            yield (
                f"{a.aggregate} {a.aggregate_id}",
                f"{a.from_status} -{a.trigger}-> {a.to_status} is not in the machine",
            )


_AUDITED: dict[str, s.Table[Any]] = {
    "order": s.ORDERS,
    "payment": s.PAYMENTS,
    "reservation": s.RESERVATIONS,
    "refund": s.REFUNDS,
    "flow": s.FLOWS,
}


@invariant(
    "audit-replays",
    "Replaying each aggregate's audit entries from its creation yields its current status.",
    "safety",
    "S2 S5",
)
def audit_replays(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    last: dict[tuple[str, str], str | None] = {}
    for a in audit_in_seq_order(snap):
        k = (a.aggregate, a.aggregate_id)
        if last.get(k) != a.from_status:
            yield (
                f"{a.aggregate} {a.aggregate_id}",
                f"entry {a.seq} starts from {a.from_status}, last was {last.get(k)}",
            )
        last[k] = a.to_status
    for aggregate, table in _AUDITED.items():
        for row in snap.rows(table):
            key = table.key_of(row)
            replayed = last.get((aggregate, key))
            if replayed != row.status:  # a StrEnum: equal to its value, and cheaper to ask
                yield (
                    f"{aggregate} {key}",
                    f"audit replays to {replayed}, record says {row.status.value}",
                )
