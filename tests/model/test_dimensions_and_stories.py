"""Dimensions vary the shop an example runs in; stories open an example with a path
random actions rarely reach. Each does what it claims, and leaves a clean shop."""

from __future__ import annotations

import attrs
import pytest

from paycore import schema as s
from paycore.status import OrderStatus, ReservationStatus
from paycore_adapters.harness import dimensions, stories
from paycore_adapters.harness.model import PaycoreMachine
from paycore_adapters.harness.runner import run_chaos
from paycore_adapters.harness.world import World

#: what each story must reach (steps or transitions), on its own
REACHES: dict[str, str | tuple[str, ...]] = {
    "late_success_after_resale": "order: pending -mark_out_of_stock-> out_of_stock",
    "gives_up_after_intent_created": "payment: creating -cancel-> canceled",
    "second_intent_for_one_payment": "orphan.refund",
    "stray_debit_settles_later": ("reopen_orphans.ask", "orphan.refund"),
    "orphan_after_the_reconciler_ran": "orphan.refund",
    "refund_answer_lost_behind_newer_refunds": "refund.resolve",
    "refund_still_running_when_retried": ("refund.replay", "refund.resolve"),
    "create_still_running_when_the_seller_stops": (
        "checkout.find",
        "payment: creating -creation_failed-> failed",
    ),
    "create_answer_lost_for_a_day": ("checkout.replay", "checkout.find"),
    "debit_fails_then_three_d_secure": "payment: processing -require_action-> requires_action",
    "give_up_confirm_and_cancel": "cancel.give_up",
    "multi_line_order": "order: partially_refunded -refund_rest-> refunded",
    "second_seller_paid": "payment: open -succeed-> succeeded",
    "three_d_secure_fails_then_debit": "payment: requires_action -start_processing-> processing",
    "bank_fails_a_pending_refund": (
        "refund: pending -fail-> failed",
        "refund: pending -cancel-> canceled",
    ),
    "operator_revives_a_dead_refund": "flow: dead -revive-> active",
    "abandoned_checkout_behind_search": "checkout.cancel_found",
    "seller_blocked_at_checkout": "payment: creating -creation_failed-> failed",
    "failures_before_their_webhooks": (
        "payment: requires_action -reopen-> open",
        "payment: processing -cancel-> canceled",
    ),
    "declined_to_the_limit": (
        "payment: open -cancel-> canceled",
        "refund: succeeded -fail-> failed",
    ),
}


def quiet_and_clean(world: World) -> None:
    assert world.violations(("safety",)) == []
    assert world.quiesce()
    assert world.violations(("safety", "convergence")) == []


@pytest.mark.parametrize("name", list(stories.STORIES))
def test_each_story_reaches_its_path_and_converges(name: str) -> None:
    """The story reaches what it is for; safety holds after it and the shop settles."""
    world = World()
    stories.tell(world, list(stories.STORIES).index(name))
    world.coverage.read_audit(world.view())
    reached = {**world.coverage.steps, **world.coverage.transitions}
    wanted = REACHES[name]
    for path in (wanted,) if isinstance(wanted, str) else wanted:
        assert reached.get(path, 0) > 0, (path, sorted(reached))
    quiet_and_clean(world)


def test_every_story_is_checked_here() -> None:
    assert set(REACHES) == set(stories.STORIES)


def test_late_success_is_refunded_and_support_cannot_refund_twice() -> None:
    """The order resold under a late success is out of stock and refunded exactly once."""
    world = World()
    stories.late_success_after_resale(world)
    orders = sorted(world.view().rows(s.ORDERS), key=lambda o: o.id)
    assert [o.status for o in orders] == [OrderStatus.OUT_OF_STOCK, OrderStatus.PAID]
    refunded = [r for r in world.w.provider.refunds() if r.status == "succeeded"]
    assert sum(r.amount for r in refunded) == orders[0].total.amount
    assert any("refund pay_000001" in line and "->" in line for line in world.timeline)


@pytest.mark.parametrize("name", dimensions.DRAWN[1:])
def test_each_drawn_dimension_leaves_a_working_shop(name: str) -> None:
    """A few whole purchases in each dimension: safety holds and the shop settles."""
    world = World()
    dimensions.apply(world, name)
    for n in range(3):
        world.shop(n, n % 2, 1, 0)
        world.begin_refund(n, 100, 0)
        world.finish(0)
    assert world.counts[f"dimension:{name}"] == 1
    quiet_and_clean(world)


def test_multi_line_and_marketplace_carts() -> None:
    """Two lines make one order; a cart mixing sellers or currencies is refused."""
    world = World()
    dimensions.apply(world, "multi_line")
    world.shop(0, 1, 1, 0)
    (order,) = world.view().rows(s.ORDERS)
    assert [line.product_id for line in order.lines] == ["p_plenty", "p_scarce"]
    mixed = World()
    dimensions.apply(mixed, "mixed_carts")
    mixed.begin_checkout(0, 0, 1)
    assert mixed.view().rows(s.ORDERS) == []
    assert "->" in mixed.timeline[-1] and "checkout:" not in mixed.timeline[-1]
    yen = World()
    dimensions.apply(yen, "marketplace")
    yen.shop(0, 0, 1, 0)
    (paid,) = yen.view().rows(s.ORDERS)
    assert (paid.total.currency, paid.seller_id) == ("JPY", "s2")


def test_a_failing_notifier_delivers_once_faults_stop() -> None:
    """While faults are on, every other send fails; the quiet phase delivers them all."""
    world = World()
    dimensions.apply(world, "flaky_notifier")
    for n in range(3):
        world.shop(n, 1, 1, 0)
    world.job(2)
    assert [m for m in world.view().rows(s.OUTBOX) if not m.sent]
    quiet_and_clean(world)


def test_raw_exceptions_from_the_provider_are_survived() -> None:
    """A fault reaches paycore as a raw ConnectionResetError: flows treat it as unknown."""
    world = World()
    dimensions.apply(world, "raw_exceptions")
    world.begin_checkout(0, 1, 1)
    world.arm(dimensions.FaultKind.RESPONSE_LOST, "create_intent")
    world.finish(0)
    assert any("provider_unavailable" in line for line in world.timeline)
    quiet_and_clean(world)


class FewAttempts(PaycoreMachine):
    def make_world(self) -> World:
        world = World()
        dimensions.apply(world, "few_attempts")
        return world


def test_few_attempts_is_drawn_and_outages_no_longer_dead_letter_its_flows() -> None:
    """Two tries used to be spent by any outage, dead-lettering refunds and webhooks for
    good (issue 7, item 1); transient failures now cost no attempt, so the dimension is
    drawn and a run of it converges with nothing dead."""
    assert "few_attempts" in dimensions.DRAWN and not dimensions.HELD_BACK
    report = run_chaos(seed=0, examples=200, machine=FewAttempts, shrink=False)
    report.check()  # raises the violation, its timeline and replay command as notes
    assert report.ok


def test_an_abandoned_checkout_ends_the_intent_its_payment_records() -> None:
    """The search does not show the intent yet, but the payment records it and the list
    shows it: abandoning the dead checkout cancels that intent, then cancels the order and
    gives its stock back."""
    world = World()
    stories.abandoned_checkout_behind_search(world)
    snap = world.view()
    (payment,) = snap.rows(s.PAYMENTS)
    (order,) = snap.rows(s.ORDERS)
    assert payment.provider_intent_id is not None
    intent = next(v for v in world.w.provider.intents() if v.id == payment.provider_intent_id)
    assert intent.status == "canceled"
    assert order.status is OrderStatus.CANCELED
    assert all(r.status is not ReservationStatus.HELD for r in snap.rows(s.RESERVATIONS))
    assert any("operator: abandons" in line for line in world.timeline)
    quiet_and_clean(world)


def test_the_default_world_s_search_lags_and_a_world_may_choose_its_lag() -> None:
    """The harness's provider lags like Stripe's search by default (a minute); a world can
    be built with another lag, kept when it is built again with another configuration."""
    assert World().w.provider.search_lag_ms == 60_000
    world = World(search_lag_ms=0)
    world.reconfigure(attrs.evolve(world.config, max_attempts=2))
    assert world.w.provider.search_lag_ms == 0
