"""refund-books-kept: amount_refunded is the succeeded refunds, a refund of everything
received ends the order as refunded, and a restock refund's goods go back on sale.

The shop is driven through the real flows; a corrupted copy of its state, or seeded bug
H1 (the refund of the rest taken as one more part), must trip the invariant.
"""

from __future__ import annotations

from typing import Any

import attrs
from tests.support import SESSION, make_shop

from paycore import invariants as inv
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.invariants import INVARIANTS, Ledger, Violation
from paycore.ports import Snapshot
from paycore.status import OrderStatus, ReservationStatus
from paycore_adapters.harness.bugs import switched_on
from paycore_adapters.memory import Wiring

CHECK = next(i for i in INVARIANTS if i.id == "refund-books-kept")
PAY, ORD = "pay_000001", "ord_000001"


def paid(quantity: int = 2) -> Wiring:
    w = make_shop()
    w.service.create_payment_intent(SESSION, [CartItem("p_mug", quantity)])
    w.service.confirm_payment(PAY, "pm_card_visa")
    return w


def found(w: Wiring, snap: Snapshot | None = None) -> list[Violation]:
    ledger = Ledger(w.provider.intents(), w.provider.refunds(), w.clock.now())
    return CHECK.check(snap or w.store.snapshot(), ledger)


def evolved(snap: Snapshot, table: s.Table[Any], key: str, **fields: Any) -> Snapshot:
    tables = {name: dict(rows) for name, rows in snap.tables.items()}
    current = snap.get(table, key)
    assert current is not None
    tables[table.name][key] = attrs.evolve(current, **fields)
    return Snapshot(tables)


def status(w: Wiring) -> OrderStatus:
    order = w.store.snapshot().get(s.ORDERS, ORD)
    assert order is not None
    return order.status


def reservations(w: Wiring) -> set[ReservationStatus]:
    return {r.status for r in w.store.snapshot().rows(s.RESERVATIONS)}


class TestCleanRefunds:
    def test_a_part_then_the_rest_keep_the_books(self) -> None:
        w = paid()
        w.service.create_refund(PAY, 1000, idempotency_key="r1")
        assert status(w) is OrderStatus.PARTIALLY_REFUNDED and found(w) == []
        w.service.create_refund(PAY, None, idempotency_key="r2", restock=True)
        assert status(w) is OrderStatus.REFUNDED
        assert reservations(w) == {ReservationStatus.RETURNED}
        assert found(w) == []
        assert inv.check(w.store.snapshot(), w.ledger(), ("safety", "convergence")) == []

    def test_a_reversed_refund_leaves_the_order_refunded_and_the_books_right(self) -> None:
        """The bank sends a succeeded refund back: amount_refunded drops with it, and the
        order stays refunded (the rule asks nothing of an order whose refunds no longer
        cover it)."""
        w = paid()
        w.service.create_refund(PAY, None, idempotency_key="r1")
        (rf,) = w.provider.refunds()
        w.provider.fail_refund(rf.id)
        w.service.run_jobs()
        for event in w.provider.take_events():
            w.service.handle_webhook(event)
        payment = w.store.snapshot().get(s.PAYMENTS, PAY)
        assert payment is not None and payment.amount_refunded == 0
        assert status(w) is OrderStatus.REFUNDED and found(w) == []


class TestTeeth:
    def test_amount_refunded_apart_from_the_refunds(self) -> None:
        w = paid()
        w.service.create_refund(PAY, 1000, idempotency_key="r1")
        bad = evolved(w.store.snapshot(), s.PAYMENTS, PAY, amount_refunded=500)
        assert [v.subject for v in found(w, bad)] == [PAY]

    def test_a_paid_order_whose_refunds_cover_it(self) -> None:
        w = paid()
        w.service.create_refund(PAY, None, idempotency_key="r1")
        bad = evolved(w.store.snapshot(), s.ORDERS, ORD, status=OrderStatus.PAID)
        (v,) = found(w, bad)
        assert v.subject == ORD and "paid though refunds of 2500" in v.detail

    def test_a_restocked_order_whose_stock_stays_committed(self) -> None:
        w = paid()
        w.service.create_refund(PAY, None, idempotency_key="r1", restock=True)
        (r,) = w.store.snapshot().rows(s.RESERVATIONS)
        bad = evolved(w.store.snapshot(), s.RESERVATIONS, r.id, status=ReservationStatus.COMMITTED)
        (v,) = found(w, bad)
        assert v.subject == ORD and "restock" in v.detail

    def test_seeded_bug_h1_is_caught(self) -> None:
        """With H1 on, the refund of the rest leaves the order partially refunded and the
        restocked goods committed: the invariant names the order."""
        with switched_on("H1"):
            w = paid()
            w.service.create_refund(PAY, 1000, idempotency_key="r1")
            w.service.create_refund(PAY, None, idempotency_key="r2", restock=True)
        assert status(w) is OrderStatus.PARTIALLY_REFUNDED
        assert ReservationStatus.COMMITTED in reservations(w)
        assert [v.subject for v in found(w)] == [ORD]
