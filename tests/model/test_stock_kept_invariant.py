"""stock-kept-for-live-payment: stock goes back on sale only once its payment cannot succeed
(or, for a payment the provider is still processing, by the shop's processing hold)."""

from __future__ import annotations

import attrs
import pytest
from tests.support import SESSION, SESSION_2, make_shop

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.invariants import INVARIANTS, Ledger, Violation
from paycore.machines import RESERVATION
from paycore.status import PaymentStatus, ReservationStatus
from paycore_adapters.memory import Wiring

HOUR = 3_600_000
CHECK = next(i for i in INVARIANTS if i.id == "stock-kept-for-live-payment")


def opened() -> tuple[Wiring, str]:
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    return w, res.payment_id


def force(w: Wiring, payment_id: str, payment: PaymentStatus, hold: ReservationStatus) -> str:
    """Write a payment status and its order's reservation status, as a bug would."""

    def body(u):  # type: ignore[no-untyped-def]
        p = u.get(s.PAYMENTS, payment_id)
        u.save(s.PAYMENTS, p, status=payment)
        (r,) = u.find(s.RESERVATIONS, "order_id", p.order_id)
        u.save(s.RESERVATIONS, r, status=hold)
        return r.id

    return w.service.engine.transact(body)  # type: ignore[no-any-return]


def violations(w: Wiring) -> list[Violation]:
    ledger = Ledger(w.provider.intents(), w.provider.refunds(), w.clock.now())
    return CHECK.check(w.store.snapshot(), ledger)


def test_a_fresh_checkout_keeps_its_stock() -> None:
    """Held stock under an open payment is the normal state."""
    w, _ = opened()
    assert violations(w) == []


@pytest.mark.parametrize(
    "payment", [PaymentStatus.CREATING, PaymentStatus.OPEN, PaymentStatus.REQUIRES_ACTION]
)
@pytest.mark.parametrize(
    "hold", [ReservationStatus.RELEASED, ReservationStatus.EXPIRED, ReservationStatus.RETURNED]
)
def test_stock_given_back_under_a_payment_that_can_succeed_is_flagged(
    payment: PaymentStatus, hold: ReservationStatus
) -> None:
    """S14's janitor gave stock back on its TTL while the customer could still pay."""
    w, pid = opened()
    rid = force(w, pid, payment, hold)
    assert violations(w) == [
        Violation(
            "stock-kept-for-live-payment", rid, f"{hold.value} while payment {pid} is {payment}"
        )
    ]


def processing_past_its_hold() -> tuple[Wiring, str]:
    """A debit still processing when the shop's processing hold ran out: stock expired."""
    w = make_shop()
    w.service.config = attrs.evolve(w.service.config, processing_hold_ms=HOUR)
    w.service.engine.config = w.service.config
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_successDelayed_de")
    w.clock.advance(w.service.config.reservation_ttl_ms + HOUR)
    w.service.run_janitor()
    (r,) = w.store.snapshot().rows(s.RESERVATIONS)
    assert r.status is ReservationStatus.EXPIRED
    return w, res.payment_id


def test_processing_hold_may_expire_stock_even_if_the_debit_then_fails() -> None:
    """The hold expired stock while the payment processed; a failed debit reopens the
    payment without its stock, which is allowed (a late success takes stock again)."""
    w, pid = processing_past_its_hold()
    assert violations(w) == []
    w.provider.settle(w.service.payment(pid).provider_intent_id or "", success=False)
    w.service.run_reconciler()
    assert w.service.payment(pid).status is PaymentStatus.OPEN
    assert violations(w) == []


def test_processing_payment_may_not_lose_its_stock_otherwise() -> None:
    """A release (a cancel's trigger) under a processing payment is a bug; so is an expiry
    while the payment was not processing."""
    w, pid = opened()
    rid = force(w, pid, PaymentStatus.PROCESSING, ReservationStatus.RELEASED)
    assert [v.subject for v in violations(w)] == [rid]
    w, pid = opened()
    rid = force(w, pid, PaymentStatus.PROCESSING, ReservationStatus.EXPIRED)
    assert [v.subject for v in violations(w)] == [rid]


@pytest.mark.parametrize(
    "payment", [PaymentStatus.CANCELED, PaymentStatus.FAILED, PaymentStatus.SUCCEEDED]
)
def test_a_payment_that_ended_may_give_its_stock_back(payment: PaymentStatus) -> None:
    """Once the payment cannot succeed any more (or was refunded), stock may return."""
    w, pid = opened()
    force(w, pid, payment, ReservationStatus.RELEASED)
    assert violations(w) == []


def expire_for_real(w: Wiring, payment_id: str) -> str:
    """Expire the payment's reservation through its state machine (audited), as S14's
    janitor does, whatever the payment's status."""

    def body(u):  # type: ignore[no-untyped-def]
        p = u.get(s.PAYMENTS, payment_id)
        (r,) = u.find(s.RESERVATIONS, "order_id", p.order_id)
        u.move(s.RESERVATIONS, r, RESERVATION, "expire")
        u.change_stock(r.seller_id, r.sku, held=-r.quantity)
        return r.id

    return w.service.engine.transact(body)  # type: ignore[no-any-return]


def test_an_expiry_while_the_payment_was_open_is_flagged() -> None:
    """S14: the janitor expired the stock of a payment the customer could still pay."""
    w, pid = opened()
    rid = expire_for_real(w, pid)
    assert [(v.subject, v.detail) for v in violations(w)] == [
        (rid, f"expired while payment {pid} is open")
    ]


def test_a_legitimate_expiry_does_not_hide_a_later_reservation() -> None:
    """The check goes on past a reservation the processing hold expired."""
    w, _ = processing_past_its_hold()
    res = w.service.create_payment_intent(SESSION_2, [CartItem("p_tee", 1)])
    rid = expire_for_real(w, res.payment_id)
    assert [v.subject for v in violations(w)] == [rid]
