"""Provider outages for the harness's world: from seconds to days, driven by the clock.

An outage starts now and lasts one of :data:`SPANS`: until the clock passes its
end, every provider call answers 503 before any effect
(:meth:`paycore_adapters.harness.faults.FaultPlan.start_outage`). Nothing ends it but
time. The quiet phase first rides it out (:func:`ride_out`): the worker keeps stepping
its flows and running its jobs while the clock moves on in doubling ticks, as a
recovery worker would through a real outage; only then are faults turned off and
convergence required. So a flow that gives up on a long outage, or that nothing
revives once the provider is back, is a finding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .world import World

SECOND = 1_000
HOUR = 3_600 * SECOND
#: How long an outage lasts: seconds, minutes, hours, a day and a half. Each is capped at
#: half the configured retry horizon: an outage that outlasts the horizon dead-letters
#: flows by design (an operator revives them), which is not the convergence this checks,
#: and a flow may already have been failing for up to a day before it began (a key whose
#: saved answer is a 500).
SPANS = (20 * SECOND, 7 * 60 * SECOND, 9 * HOUR, 36 * HOUR)
#: The first tick of a ride-out; each next one is twice as long.
FIRST_TICK_MS = SECOND


def span(world: World, n: int) -> int:
    """The ``n``-th outage length (modulo), within the world's retry horizon."""
    return min(SPANS[n % len(SPANS)], world.config.retry_horizon_ms // 2)


def start(world: World, n: int) -> None:
    """The provider goes down now for the ``n``-th of :data:`SPANS`."""
    length = span(world, n)
    if length <= 0:
        return
    until = world.w.clock.now() + length
    world.plan.start_outage(until)
    world.say(f"provider outage for {length // SECOND} s")


def ride_out(world: World) -> None:
    """Keep the worker going until the outage is over: step every due flow, deliver what
    the provider sent, run every job, and move the clock on by a tick that doubles each
    time (never past the outage's end)."""
    tick = FIRST_TICK_MS
    while world.plan.outage_on(world.w.clock.now()):
        until = world.plan.outage_until
        assert until is not None
        world.drain()
        world.job_round()
        step = min(tick, until - world.w.clock.now())
        world.w.clock.advance(step)
        world.say(f"clock +{step // SECOND} s (riding out the outage)")
        tick *= 2
    world.say("provider outage over")
