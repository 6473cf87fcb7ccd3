"""decided-refunds-covered: money paycore decided to return is being refunded, or alerted.

Each state comes from the real flows, then one row is rewritten as a silent failure
would leave it (a refund failed with nobody told, an alert closed too early).
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from tests.support import SESSION, make_shop

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.invariants import INVARIANTS, Ledger, Violation
from paycore.ports import Snapshot
from paycore.records import Alert
from paycore.status import OrderStatus, RefundStatus
from paycore_adapters.memory import Wiring

CHECK = next(i for i in INVARIANTS if i.id == "decided-refunds-covered")
TABLE_OF: dict[type, s.Table[Any]] = {t.type: t for t in s.TABLES}


def refunded(amount: int | None = None) -> tuple[Wiring, str, str]:
    """A paid order of two mugs (2500), refunded by ``amount`` (None: in full)."""
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 2)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    w.service.create_refund(res.payment_id, amount, idempotency_key="rma-1")
    return w, res.order_id, res.payment_id


def patched(snap: Snapshot, *records: Any) -> Snapshot:
    tables = {name: dict(rows) for name, rows in snap.tables.items()}
    for rec in records:
        table = TABLE_OF[type(rec)]
        tables[table.name][table.key_of(rec)] = rec
    return Snapshot(tables)


def fired(snap: Snapshot) -> list[Violation]:
    return CHECK.check(snap, Ledger())


def failed_silently(snap: Snapshot, payment_id: str) -> Snapshot:
    """Every refund of the payment failed, and nobody was told."""
    rows = [
        attrs.evolve(r, status=RefundStatus.FAILED)
        for r in snap.rows(s.REFUNDS)
        if r.payment_id == payment_id
    ]
    return patched(snap, *rows)


def alert_for(snap: Snapshot, payment_id: str, *, open: bool) -> Alert:
    (rf,) = [r for r in snap.rows(s.REFUNDS) if r.payment_id == payment_id]
    return Alert(
        f"refund_failed:{rf.id}",
        "refund_failed",
        rf.id,
        "failed",
        0,
        {"payment_id": payment_id, "refund_id": rf.id},
        open=open,
    )


class TestDecidedRefundsCovered:
    def test_is_a_safety_invariant(self) -> None:
        """Checked after every step, not only when quiet."""
        assert CHECK.kind == "safety"

    def test_holds_for_a_refunded_order(self) -> None:
        """A full refund that succeeded covers the money."""
        w, oid, _ = refunded()
        snap = w.store.snapshot()
        assert snap.get(s.ORDERS, oid).status is OrderStatus.REFUNDED  # type: ignore[union-attr]
        assert fired(snap) == []

    def test_fires_on_a_refunded_order_whose_refund_failed_unannounced(self) -> None:
        """The order says refunded, the refund failed, and no alert is open."""
        w, oid, pid = refunded()
        bad = failed_silently(w.store.snapshot(), pid)
        assert fired(bad) == [
            Violation(
                "decided-refunds-covered",
                oid,
                f"refunded: 2500 of payment {pid} is neither being refunded nor alerted",
            )
        ]

    def test_an_open_alert_covers_it_and_a_closed_one_does_not(self) -> None:
        """Only an open refund_failed alert naming the payment takes the refund's place."""
        w, _, pid = refunded()
        bad = failed_silently(w.store.snapshot(), pid)
        assert fired(patched(bad, alert_for(bad, pid, open=True))) == []
        assert len(fired(patched(bad, alert_for(bad, pid, open=False)))) == 1

    def test_a_closed_alert_recording_a_settlement_outside_covers_it(self) -> None:
        """Closed with ``force`` (``settled_outside``: the money went back another way),
        the alert stays the record; the flag must be True, not merely present."""
        w, _, pid = refunded()
        bad = failed_silently(w.store.snapshot(), pid)
        closed = alert_for(bad, pid, open=False)
        settled = attrs.evolve(closed, fields={**closed.fields, "settled_outside": True})
        assert fired(patched(bad, settled)) == []
        unsettled = attrs.evolve(closed, fields={**closed.fields, "settled_outside": False})
        assert len(fired(patched(bad, unsettled))) == 1

    def test_a_pending_refund_covers_it(self) -> None:
        """A refund still pending at the provider is money on its way back."""
        w, _, pid = refunded()
        snap = w.store.snapshot()
        rows = [
            attrs.evolve(r, status=RefundStatus.PENDING)
            for r in snap.rows(s.REFUNDS)
            if r.payment_id == pid
        ]
        assert fired(patched(snap, *rows)) == []

    def test_fires_one_cent_short(self) -> None:
        """Refunds covering all but one cent of what was captured leave that cent owed."""
        w, oid, pid = refunded()
        snap = w.store.snapshot()
        (rf,) = [r for r in snap.rows(s.REFUNDS) if r.payment_id == pid]
        short = attrs.evolve(rf, amount=attrs.evolve(rf.amount, amount=2499))
        assert [v.subject for v in fired(patched(snap, short))] == [oid]

    @pytest.mark.parametrize(
        "status", [OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.CANCELED]
    )
    def test_orders_nobody_decided_to_refund_are_not_its_business(
        self, status: OrderStatus
    ) -> None:
        """A failed partial refund of a paid order is the shop's call, not a promise."""
        w, oid, pid = refunded(1000)
        snap = failed_silently(w.store.snapshot(), pid)
        order = snap.get(s.ORDERS, oid)
        assert order is not None
        assert fired(patched(snap, attrs.evolve(order, status=status))) == []

    def test_fires_on_an_out_of_stock_order(self) -> None:
        """An order closed as out of stock with no live refund and no alert."""
        w, oid, pid = refunded()
        snap = failed_silently(w.store.snapshot(), pid)
        order = snap.get(s.ORDERS, oid)
        assert order is not None
        bad = patched(snap, attrs.evolve(order, status=OrderStatus.OUT_OF_STOCK))
        assert [v.detail.split(":")[0] for v in fired(bad)] == ["out_of_stock"]
