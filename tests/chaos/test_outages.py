"""Provider outages, from seconds to days: none may make damage permanent.

Each test replays one scenario: the provider answers every call with a 5xx (the
ambiguous case) for a while, the recovery worker keeps running, then the provider
comes back and the jobs run. Whatever the outage interrupted must end right: the
refund lands, the checkout's stock is released once its payment cannot succeed, the
orphan's money goes back.
"""

from __future__ import annotations

import pytest
from tests.chaos.test_orphans_and_webhooks import orphan_intent, start_orphan_flows
from tests.support import SESSION, converged, faultable, flow_of, make_shop

from paycore import schema as s
from paycore.config import Config
from paycore.errors import FlowPending, ProviderError, ProviderUnavailable
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import Snapshot
from paycore.records import Reservation
from paycore.status import (
    FlowStatus,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ReservationStatus,
)
from paycore_adapters.memory import Wiring, in_memory

SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def outage(w: Wiring, duration_ms: int) -> int:
    """Every provider call fails with a 5xx, before any effect, for ``duration_ms``
    from now. Returns when it ends."""
    until = w.clock.now() + duration_ms

    def fault(name: str, phase: str, key: str | None) -> None:
        if w.clock.now() < until:
            raise ProviderUnavailable(f"{name}: 503 from the provider (outage)")

    w.provider.fault = fault
    return until


def ride_out(w: Wiring, until: int, tick_ms: int = 5 * SECOND) -> None:
    """The recovery worker keeps running through the outage (the other jobs need the
    provider, and what they do during an outage is not what these tests are about)."""
    while w.clock.now() < until:
        w.clock.advance(tick_ms)
        w.service.run_recovery()


def after_outage(w: Wiring, span_ms: int, tick_ms: int = 10 * MINUTE) -> None:
    """The provider is back: every job runs, now and then, for ``span_ms``."""
    end = w.clock.now() + span_ms
    while w.clock.now() < end:
        w.clock.advance(tick_ms)
        w.service.run_jobs()


def paid_order(w: Wiring) -> str:
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    assert w.service.payment(res.payment_id).status is PaymentStatus.SUCCEEDED
    return res.payment_id


class TestRefundDuringOutage:
    def test_refund_interrupted_by_a_150_s_outage_lands_once_the_provider_is_back(self) -> None:
        """A refund asked for during a 150 s outage is made once, with its own key, after it."""
        w = make_shop()
        pid = paid_order(w)
        until = outage(w, 150 * SECOND)
        with pytest.raises((FlowPending, ProviderError)):
            w.service.create_refund(pid, idempotency_key="rma-1")
        ride_out(w, until)
        after_outage(w, 2 * HOUR)
        (refund,) = w.service.refunds_of(pid)
        assert refund.status is RefundStatus.SUCCEEDED
        assert [r.amount for r in w.provider.refunds()] == [1250]
        flow = flow_of(w, f"refund:{refund.id}")
        assert flow.status is FlowStatus.SUCCEEDED
        converged(w)

    def test_no_alert_for_a_short_outage_but_a_stall_alert_for_a_long_one(self) -> None:
        """Retrying quietly is right for minutes; past the stall threshold someone is told,
        and the alert closes itself once the flow moves on."""
        w = make_shop()
        pid = paid_order(w)
        until = outage(w, 40 * MINUTE)
        with pytest.raises((FlowPending, ProviderError)):
            w.service.create_refund(pid, idempotency_key="rma-1")
        ride_out(w, w.clock.now() + 10 * MINUTE, tick_ms=30 * SECOND)
        assert "flow_stalled" not in {a.kind for a in w.alerts.raised}
        ride_out(w, until, tick_ms=30 * SECOND)
        assert "flow_stalled" in {a.kind for a in w.alerts.raised}
        after_outage(w, HOUR)
        open_kinds = {a.kind for a in w.service.attention()}
        assert "flow_stalled" not in open_kinds
        assert [r.amount for r in w.provider.refunds()] == [1250]


class TestCheckoutDuringOutage:
    def test_checkout_interrupted_by_a_420_s_outage_ends_with_its_stock_back(self) -> None:
        """The checkout finishes or is compensated once the provider is back; after the
        reservation time its payment is canceled at the provider and its stock released."""
        w = make_shop()
        until = outage(w, 420 * SECOND)
        with pytest.raises((FlowPending, ProviderError)):
            w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        ride_out(w, until)
        after_outage(w, 2 * DAY, tick_ms=HOUR)
        snap = w.store.snapshot()
        (order,) = [o for o in snap.rows(s.ORDERS) if o.checkout_session_id == SESSION]
        payment = snap.get(s.PAYMENTS, order.payment_id)
        assert payment is not None
        assert payment.status in (PaymentStatus.CANCELED, PaymentStatus.FAILED)
        assert order.status is OrderStatus.CANCELED
        held = [r for r in reserved(snap, order.id) if r.status is ReservationStatus.HELD]
        assert held == []
        assert all(v.status == "canceled" for v in w.provider.intents())
        converged(w)

    def test_dead_checkout_with_an_unanswered_create_is_ended_by_the_janitor(self) -> None:
        """Past the retry horizon a checkout whose create was never answered dies; the
        janitor asks the provider, cancels the intent the create did make, and only then
        releases the stock."""
        cfg = Config(retry_horizon_ms=HOUR)
        w = make_shop_with(cfg)
        made: list[str] = []

        def fault(name: str, phase: str, key: str | None) -> None:
            if name == "create_intent" and phase == "after" and not made:
                made.append(name)
                raise ProviderUnavailable("create_intent: response lost")
            if made and w.clock.now() < until:
                raise ProviderUnavailable(f"{name}: 503 from the provider (outage)")

        until = w.clock.now() + 2 * DAY
        w.provider.fault = fault
        with pytest.raises((FlowPending, ProviderError)):
            w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        ride_out(w, until, tick_ms=10 * MINUTE)
        flow = flow_of(w, f"checkout:{SESSION}")
        assert flow.status is FlowStatus.DEAD
        snap = w.store.snapshot()
        (order,) = [o for o in snap.rows(s.ORDERS) if o.checkout_session_id == SESSION]
        # Nothing was released while the provider could not say what exists.
        held = [r for r in reserved(snap, order.id) if r.status is ReservationStatus.HELD]
        assert len(held) == 1
        after_outage(w, HOUR)
        snap = w.store.snapshot()
        payment = snap.get(s.PAYMENTS, order.payment_id)
        assert payment is not None
        assert payment.status is not PaymentStatus.CREATING
        (intent,) = w.provider.intents()
        assert intent.status == "canceled"
        assert all(r.status is not ReservationStatus.HELD for r in reserved(snap, order.id))
        converged(w)


class TestOrphanDuringOutage:
    def test_orphan_charge_interrupted_by_an_outage_is_refunded_after_it(self) -> None:
        """An outage while an orphan charge is being handled delays its refund, never
        drops it."""
        w = make_shop()
        pi = orphan_intent(w, "pm_card_visa")
        (fid,) = start_orphan_flows(w)
        until = outage(w, 30 * MINUTE)
        ride_out(w, until)
        after_outage(w, 2 * HOUR)
        assert sum(r.amount for r in w.provider.refunds() if r.status == "succeeded") == pi.amount
        assert flow_of(w, fid).status is FlowStatus.SUCCEEDED
        converged(w)

    def test_dead_orphan_flow_is_revived_by_the_reconciler(self) -> None:
        """An orphan flow that died past the retry horizon is started again by the
        reconciler, though the intent already has a case."""
        w = make_shop_with(Config(retry_horizon_ms=HOUR))
        pi = orphan_intent(w, "pm_card_visa")
        (fid,) = start_orphan_flows(w)
        until = outage(w, 3 * HOUR)
        ride_out(w, until, tick_ms=MINUTE)
        assert flow_of(w, fid).status is FlowStatus.DEAD
        assert "flow_dead_lettered" in {a.kind for a in w.alerts.raised}
        after_outage(w, 2 * HOUR)
        assert sum(r.amount for r in w.provider.refunds() if r.status == "succeeded") == pi.amount
        converged(w)


def reserved(snap: Snapshot, order_id: str) -> list[Reservation]:
    return [r for r in snap.rows(s.RESERVATIONS) if r.order_id == order_id]


def make_shop_with(config: Config) -> Wiring:
    """The conftest shop with another configuration."""
    w = faultable(in_memory(config))
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.service.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    w.service.restock("s1", "SKU-MUG", 5)
    return w
