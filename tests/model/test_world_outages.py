"""The world's provider outages: clock-driven, from seconds to days, ridden out when quiet."""

from __future__ import annotations

import pytest

from paycore import schema as s
from paycore.flows.jobflow import is_job
from paycore.status import FlowStatus
from paycore_adapters.harness import outages
from paycore_adapters.harness.bugs import switched_on
from paycore_adapters.harness.faults import FaultKind
from paycore_adapters.harness.world import World


def checkout_in_outage(n: int) -> World:
    """A checkout begins, then the provider goes down for the ``n``-th span."""
    world = World()
    world.begin_checkout(0, 1, 1)
    outages.start(world, n)
    for _ in range(5):
        world.step(0)
    return world


class TestOutage:
    def test_every_provider_call_fails_until_the_clock_passes_its_end(self) -> None:
        """During the outage the checkout cannot reach the provider; the outage ends by
        time alone."""
        world = checkout_in_outage(0)
        assert world.plan.fired[FaultKind.PROVIDER_OUTAGE] == 1
        (payment,) = world.view().rows(s.PAYMENTS)
        assert payment.provider_intent_id is None
        world.w.clock.advance(outages.SPANS[0])
        assert not world.plan.outage_on(world.w.clock.now())

    @pytest.mark.parametrize("n", range(len(outages.SPANS)))
    def test_the_quiet_phase_rides_it_out_and_converges(self, n: int) -> None:
        """Seconds to days: once the outage is over, everything converges."""
        world = checkout_in_outage(n)
        start = world.w.clock.now()
        assert world.quiesce()
        assert world.w.clock.now() - start >= outages.span(world, n)
        assert world.violations(("safety", "convergence")) == []
        # every operation's flow (a job's run may have failed during the outage: its
        # next run asked again)
        flows = [f for f in world.view().rows(s.FLOWS) if not is_job(f.id)]
        assert flows and all(f.status is FlowStatus.SUCCEEDED for f in flows)

    def test_an_outage_never_outlasts_the_retry_horizon(self) -> None:
        """Spans are capped at half the configured horizon."""
        world = World()
        assert all(
            outages.span(world, n) * 2 <= world.config.retry_horizon_ms
            for n in range(len(outages.SPANS))
        )

    def test_before_the_fix_a_long_outage_leaves_a_dead_flow(self) -> None:
        """With I1 on (every failure a strike, nothing revived), a days-long outage leaves
        a flow dead-lettered: flows-finished catches it."""
        with switched_on("I1"):
            world = checkout_in_outage(3)
            world.quiesce()
            found = {v.invariant for v in world.violations(("safety", "convergence"))}
        assert "flows-finished" in found
