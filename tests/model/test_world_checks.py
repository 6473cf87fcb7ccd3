"""The world's own checks (``world_checks``): intents planted for others stay as planted,
and a processing payment's stock is kept for the shop's processing hold.

Each check is shown to hold on a clean world and to catch its seeded bug (H2, H3) where
no invariant does.
"""

from __future__ import annotations

import attrs
import pytest

from paycore import schema as s
from paycore.status import PaymentStatus, ReservationStatus
from paycore_adapters.harness.bugs import switched_on
from paycore_adapters.harness.world import METHODS, World
from paycore_adapters.harness.world_checks import FOREIGN_KEPT, PROCESSING_HOLD

OTHER_STORES_UNPAID, PAYMENT_LINK = 1, 4  # indices into foreign.CROWD
PROCESSING = METHODS.index("pm_successDelayed_de")


def ids(world: World, kinds: tuple[str, ...] = ("safety",)) -> set[str]:
    return {v.invariant for v in world.violations(kinds)}  # type: ignore[arg-type]


class TestForeignKeptAsPlanted:
    def test_a_clean_world_keeps_them_through_the_quiet_phase(self) -> None:
        world = World()
        world.shop(0, 1, 1, 0)
        assert world.quiesce()
        assert world.violations(("safety", "convergence")) == []

    def test_their_customers_act_and_paycore_gets_their_webhooks(self) -> None:
        """Another store's customer pays its unpaid intent (whose metadata names the shop's
        pay_000002) and the payment link's owner cancels it, before the shop has a payment;
        the events reach paycore's webhook endpoint and change nothing of the shop's."""
        world = World()
        world.customer(OTHER_STORES_UNPAID, 0)  # no payment yet: someone else's customer
        world.customer(PAYMENT_LINK, 3)
        assert [world.foreign[i].status for i in (OTHER_STORES_UNPAID, PAYMENT_LINK)] == [
            "succeeded",
            "canceled",
        ]
        world.shop(0, 1, 1, 0)
        world.shop(1, 1, 1, 0)
        before = world.counts.get("webhooks", 0)
        assert world.quiesce()
        assert world.counts["webhooks"] > before
        assert world.violations(("safety", "convergence")) == []
        payments = {p.id: p.status for p in world.view().rows(s.PAYMENTS)}
        assert set(payments.values()) == {PaymentStatus.SUCCEEDED}
        assert world.counts["others' customers"] == 2

    def test_a_foreign_intent_changed_behind_the_world_is_caught(self) -> None:
        world = World()
        link = world.foreign[PAYMENT_LINK]
        world.w.provider.cancel_intent(link.id, idempotency_key="behind-the-world")
        (v,) = world.violations()
        assert v.invariant == FOREIGN_KEPT and v.subject == link.id
        assert "planted as requires_payment_method, now canceled" in v.detail

    def test_a_refund_of_a_foreign_intent_is_caught(self) -> None:
        world = World()
        paid = world.foreign[0]
        world.w.provider.create_refund(
            paid.id, amount=50, reason=None, metadata={}, idempotency_key="x"
        )
        assert ids(world) == {FOREIGN_KEPT}

    def test_seeded_bug_h2_is_caught_by_this_check_alone(self) -> None:
        """The reconciler cancels another store's unpaid intent and the payment link: no
        refund for foreign-left-alone to see, no invariant violated; the world's check
        names both."""
        with switched_on("H2"):
            world = World()
            world.job(1)  # the reconciler
            world.drain()
            world.run_job_flows()
            world.drain()
        bad = world.violations(("safety", "convergence"))
        assert {v.invariant for v in bad} == {FOREIGN_KEPT}
        subjects = {v.subject for v in bad}
        assert subjects == {world.foreign[OTHER_STORES_UNPAID].id, world.foreign[PAYMENT_LINK].id}


def processing_world(hold_ms: int | None = 3_600_000) -> tuple[World, str]:
    """A world whose one order's payment is a bank debit still processing."""
    world = World()
    if hold_ms != world.config.processing_hold_ms:
        world.reconfigure(attrs.evolve(world.config, processing_hold_ms=hold_ms))
    world.shop(0, 0, 1, PROCESSING)
    (payment,) = world.view().rows(s.PAYMENTS)
    assert payment.status is PaymentStatus.PROCESSING
    return world, payment.order_id


def reservation(world: World) -> ReservationStatus:
    (r,) = world.view().rows(s.RESERVATIONS)
    return r.status


class TestProcessingHoldKept:
    def test_the_janitor_keeps_the_stock_inside_the_hold_and_gives_it_back_after(self) -> None:
        world, _ = processing_world()
        world.w.clock.advance(world.config.reservation_ttl_ms + 60_000)
        world.job(0)  # the janitor, a minute past the order's expiry
        assert reservation(world) is ReservationStatus.HELD
        world.w.clock.advance(world.config.processing_hold_ms or 0)
        world.job(0)
        assert reservation(world) is ReservationStatus.EXPIRED
        assert world.violations() == []

    @pytest.mark.parametrize("hold_ms", [3_600_000, None])
    def test_seeded_bug_h3_is_caught_by_this_check_alone(self, hold_ms: int | None) -> None:
        """A minute past the order's expiry the janitor gives the stock back at once
        (an hour early, or when the shop holds it until the payment settles)."""
        with switched_on("H3"):
            world, _ = processing_world(hold_ms)
            world.w.clock.advance(world.config.reservation_ttl_ms + 60_000)
            world.job(0)
        assert reservation(world) is ReservationStatus.EXPIRED
        assert ids(world) == {PROCESSING_HOLD}

    def test_a_shop_holding_until_settled_never_gives_it_back(self) -> None:
        world, _ = processing_world(None)
        world.w.clock.advance(world.config.reservation_ttl_ms * 1000)
        world.job(0)
        assert reservation(world) is ReservationStatus.HELD
        assert world.quiesce()
        assert world.violations(("safety", "convergence")) == []
        assert reservation(world) is ReservationStatus.HELD

    def test_the_quiet_phase_stops_inside_the_hold(self) -> None:
        """With H3 on, the quiet phase alone finds the early release: it stops the clock
        just past the order's expiry before it jumps past every timer. Without that stop
        the janitor first runs after the hold, and nothing is found."""
        with switched_on("H3"):
            world, _ = processing_world()
            assert world.quiesce()
            assert ids(world) == {PROCESSING_HOLD}
            assert world.counts["quiet stops inside a processing hold"] == 1
            blind, _ = processing_world()
            blind.into_the_hold = lambda: None  # type: ignore[method-assign]
            assert blind.quiesce()
            assert ids(blind) == set()
