"""The world's actions from outside paycore: refunds made in the provider's dashboard."""

from __future__ import annotations

import pytest

from paycore import schema as s
from paycore.config import Config
from paycore.errors import FlowPending
from paycore.ports import Clock, CreateIntent, IntentView
from paycore.status import OrderStatus
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.harness import foreign
from paycore_adapters.harness.bugs import switched_on
from paycore_adapters.harness.world import World
from paycore_adapters.memory import Wiring, in_memory


def paid_world() -> World:
    world = World()
    world.shop(0, 1, 1, 0)  # one unit of the plentiful product, a card that works
    (payment,) = world.view().rows(s.PAYMENTS)
    assert payment.status.value == "succeeded"
    return world


class TestDashboardRefund:
    @pytest.mark.parametrize("lost", [False, True])
    def test_a_whole_dashboard_refund_is_recorded_and_refunds_the_order(self, lost: bool) -> None:
        """Delivered or lost, its webhook or the reconciler's scan records it once quiet."""
        world = paid_world()
        world.merchant(8 + (2 if lost else 0) + 1)  # whole, webhook delivered or lost
        (at_provider,) = world.w.provider.refunds()
        assert at_provider.metadata == {}
        assert world.quiesce()
        assert world.violations(("safety", "convergence")) == []
        (refund,) = world.view().rows(s.REFUNDS)
        assert refund.external and refund.provider_refund_id == at_provider.id
        (order,) = world.view().rows(s.ORDERS)
        assert order.status is OrderStatus.REFUNDED

    def test_half_is_refunded_when_half_is_asked(self) -> None:
        """The partial variant refunds half of what is left."""
        world = paid_world()
        world.merchant(8)
        (at_provider,) = world.w.provider.refunds()
        assert at_provider.amount == 125

    def test_before_the_fix_the_lost_webhook_refund_is_caught(self) -> None:
        """With I4 on (nothing records an outside refund), the quiet shop violates
        refunds-recorded."""
        with switched_on("I4"):
            world = paid_world()
            world.merchant(8 + 2 + 1)
            world.quiesce()
            found = {v.invariant for v in world.violations(("safety", "convergence"))}
        assert "refunds-recorded" in found

    def test_a_refund_the_provider_refuses_for_a_request_in_flight_changes_nothing(
        self,
    ) -> None:
        """While paycore's own refund of the intent is held in flight, the provider
        refuses the dashboard's (lock_timeout: nothing done): the merchant's click fails,
        the world goes on, and once the held request lands the shop converges."""
        world = paid_world()
        (payment,) = world.view().rows(s.PAYMENTS)
        world.w.provider.hold_next("create_refund")
        with pytest.raises(FlowPending):  # its request is held, unanswered
            world.w.service.create_refund(payment.id, 100, idempotency_key="r1")
        assert world.w.provider.held_requests()
        world.merchant(9)  # a whole dashboard refund of the same intent
        assert world.w.provider.conflicts["lock_timeout"] == 1
        assert world.w.provider.refunds() == []
        assert "dashboard_refunds" not in world.counts
        assert any("refused -> provider_lock_timeout" in line for _, line in world.said)
        world.w.provider.release_requests()
        assert world.quiesce()
        assert world.violations(("safety", "convergence")) == []


class TestCrowdPlantedOnce:
    @staticmethod
    def planted_afresh() -> World:
        foreign._PLANTED.clear()
        return World()

    def test_a_copy_of_the_planted_books_is_what_planting_makes(self) -> None:
        """A second world gets the first's planted books, not a planting of its own: the
        same intents, ids, saved keys, events and call counts as a planting makes."""
        first = self.planted_afresh()
        fresh = self.planted_afresh()  # planted again, on a provider in the same state
        copied = World()
        assert len(foreign._PLANTED) == 1
        for world in (first, copied):
            p, q = world.w.provider, fresh.w.provider
            assert p.books() == q.books() and p.state_key() == q.state_key()
            assert p.calls == q.calls and p.all_events == q.all_events
            assert world.foreign == fresh.foreign

    def test_each_world_has_books_of_its_own(self) -> None:
        """What one world given the planted books does to a planted intent leaves
        another's as it was planted."""
        self.planted_afresh()
        first, second = World(), World()
        intent = first.foreign[1]  # another store's, unpaid
        first.w.provider.customer_confirm(intent.id, "pm_card_visa")
        statuses = {i.id: i.status for i in second.w.provider.intents()}
        assert statuses[intent.id] == intent.status != "succeeded"

    def test_a_provider_in_another_state_is_planted_on(self) -> None:
        """A provider whose state differs (here: its clock) is planted on, not given the
        books planted on another."""
        self.planted_afresh()
        later = World(wiring=lambda cfg: advanced(in_memory(cfg)))
        assert [i.created for i in later.foreign] != [i.created for i in World().foreign]


class Noting(FakeProvider):
    """A fake keeping state of its own, which its books do not hold."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self._made = 0

    def create_intent(self, req: CreateIntent, *, idempotency_key: str) -> IntentView:
        self._made += 1
        return super().create_intent(req, idempotency_key=idempotency_key)


def test_a_subclass_of_the_fake_is_planted_on() -> None:
    """Only the fake itself takes the planted books: a subclass plants its own crowd."""
    TestCrowdPlantedOnce.planted_afresh()
    for world in (World(wiring=noting), World(wiring=noting)):
        assert isinstance(world.w.provider, Noting)
        assert world.w.provider._made == len(foreign.CROWD)


def noting(config: Config) -> Wiring:
    """The in-memory wiring with a :class:`Noting` fake (the world wraps it for the
    service)."""
    w = in_memory(config)
    w.provider = Noting(w.clock)
    return w


def advanced(w: Wiring) -> Wiring:
    w.clock.advance(60_000)
    return w


def test_a_fake_with_a_hook_that_cannot_be_pickled_is_planted_on() -> None:
    """A fake carrying a setting that cannot be compared as bytes (a hook) is planted
    on, and the books planted before are kept for the fakes that can be."""
    TestCrowdPlantedOnce.planted_afresh()
    kept = list(foreign._PLANTED)
    for _ in range(2):
        world = World(wiring=hooked)
        assert len(world.w.provider.intents()) == len(foreign.CROWD)
    assert kept == foreign._PLANTED


def hooked(config: Config) -> Wiring:
    w = in_memory(config)
    w.provider.hook = lambda: "made"  # type: ignore[attr-defined]
    return w
