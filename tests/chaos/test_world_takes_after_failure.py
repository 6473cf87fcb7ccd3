"""The harness's worker takes a flow before stepping it again after a failed step or a
crash, as a production run does (``Runner.take``).

A checkout's first seller check goes on at once to the create (``Remote.then``); the
check run again knows the create may have gone out only because a run that does not go
on from its own commit takes the flow first, bumping its version. The world used to
step such a flow again without taking it: after the first step's commit failed (or a
crash lost its answer), the check run a day later took itself for the first, went
straight to ``create`` under a key the provider had forgotten (24 hours), and the
session ended with two live intents (``paycore chaos --seed 3``). Production never
steps a flow that way: the caller's run, a replay of the session, or recovery takes it.
"""

from __future__ import annotations

import pytest

from paycore.invariants import Violation
from paycore_adapters.harness import outages
from paycore_adapters.harness.faults import FaultKind
from paycore_adapters.harness.world import World

DAY_MS = 24 * 3600 * 1000


def one_checkout_lost_at_its_first_step(world: World, lose: str) -> None:
    """A checkout whose first step (the seller check and the create, sent together)
    lost its answer: its commit failed, or the worker crashed holding it."""
    world.begin_checkout(0, 1, 2)
    fid = world.runnable()[0]
    world._advance(fid)  # the calls went out; their answer is held in memory
    assert world.engine.has_inflight(fid)
    if lose == "commit":
        world.arm(FaultKind.COMMIT_FAILS)
        world._advance(fid)  # applying it: the commit fails
    else:
        world.crash()
    assert fid in world.untaken


def then_the_provider_is_away(world: World) -> None:
    """The next check meets the provider away (a retry), and a day passes."""
    fid = f"checkout:{world.sessions[0]}"
    outages.start(world, 0)
    world._advance(fid)
    world._advance(fid)
    world.plan.enabled = False
    world.w.clock.advance(DAY_MS + 1)


# The crash case held before the world took flows too; it stays as a guard.
@pytest.mark.parametrize("lose", ["commit", "crash"])
def test_a_day_later_the_checkout_still_makes_one_intent(lose: str) -> None:
    world = World()
    one_checkout_lost_at_its_first_step(world, lose)
    then_the_provider_is_away(world)  # as in ``paycore chaos --seed 3``
    for _ in range(40):
        if not world.step(0):
            break
        bad: list[Violation] = world.violations(("safety",))
        assert not bad, "\n".join([*map(str, bad), *world.timeline])
    session = world.sessions[0]
    live = [
        v.id
        for v in world.w.provider.intents()
        if v.metadata.get("checkout_session_id") == session and v.status != "canceled"
    ]
    assert len(live) == 1, (live, world.timeline)
    assert not world.untaken


def test_the_flow_is_taken_once_then_stepped_as_before() -> None:
    """The take is one transaction that leases the flow to this worker and bumps its
    version; the mark is gone after it, so later steps go on from their own commits."""
    world = World()
    one_checkout_lost_at_its_first_step(world, "commit")
    fid = f"checkout:{world.sessions[0]}"
    version = next(f.version for f in world._active() if f.id == fid)
    world.step(0)
    assert fid not in world.untaken
    after = next((f for f in world._active() if f.id == fid), None)
    assert after is None or after.version > version
