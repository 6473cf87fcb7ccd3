"""The chaos model with the circuit breaker around the provider (A5), as the production
wiring has it (``paycore_adapters.runtime.build_service``).

Outages and failed calls open the breaker; new checkouts are then refused at their seller
check while recovery, the jobs and webhooks go on; a trial checkout half-opens it. No
invariant may break on the way: a refused checkout gives its stock back at once, and
every flow still converges once the provider is back."""

from __future__ import annotations

import pytest

from paycore.errors import ProviderCircuitOpen
from paycore_adapters.breaker import Breaker, BreakerProvider
from paycore_adapters.harness.model import PaycoreMachine
from paycore_adapters.harness.runner import run_chaos
from paycore_adapters.harness.world import World

pytestmark = pytest.mark.slow


class CountingBreaker(Breaker):
    """A breaker that counts its moves and refusals in the world's report."""

    def __init__(self, world: World) -> None:
        super().__init__(world.w.clock, fail_max=3)
        self.world = world

    def admit(self) -> int | None:
        try:
            return super().admit()
        except ProviderCircuitOpen:
            self.world.count("circuit_refused")
            raise

    def _move(self, state: str, why: str) -> None:
        self.world.count(f"circuit_{state}")
        super()._move(state, why)


class BreakerShop(PaycoreMachine):
    """The service reaches the fault wrappers through a breaker."""

    def make_world(self) -> World:
        world = super().make_world()
        world.engine.provider = BreakerProvider(world.faulty_provider, CountingBreaker(world))
        return world


#: What each seed's run is known to reach (seed 1: a trial checkout during an outage too).
REACHED = {
    1: ("circuit_open", "circuit_refused", "circuit_half_open", "circuit_closed"),
    2: ("circuit_open", "circuit_refused", "circuit_closed"),
}


@pytest.mark.parametrize("seed", sorted(REACHED))
def test_the_chaos_model_with_a_breaker_breaks_nothing(seed: int) -> None:
    report = run_chaos(seed=seed, examples=400, machine=BreakerShop, shrink=False)
    assert report.error is None, report.error
    assert report.violations == []
    moves = {k: n for k, n in report.counts.items() if k.startswith("circuit_")}
    # the breaker did its work: it opened, refused new checkouts, and closed again
    assert all(moves.get(k, 0) > 0 for k in REACHED[seed]), moves
