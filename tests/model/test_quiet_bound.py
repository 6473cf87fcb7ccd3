"""A quiet system settles within a bounded number of job rounds, not just eventually."""

from __future__ import annotations

from paycore_adapters.harness.model import PaycoreMachine
from paycore_adapters.harness.runner import run_chaos
from paycore_adapters.harness.world import QUIET_ROUNDS, World


class RestlessWorld(World):
    """A job that changes something on every run: the shop never settles."""

    def job(self, which: int) -> None:
        super().job(which)
        if which == 0:
            self.quietly(lambda: self.w.service.restock("s1", "SKU-P", 1))


class RestlessShop(PaycoreMachine):
    def make_world(self) -> World:
        return RestlessWorld()


def test_a_clean_world_settles_within_the_bound() -> None:
    """The shop as built settles well inside the bound, even with nothing to do."""
    assert World().quiesce()


def test_a_world_that_never_settles_fails_the_run() -> None:
    """Jobs that keep changing things past the bound are a finding, named as such."""
    assert not RestlessWorld().quiesce()
    report = run_chaos(seed=0, examples=3, steps=5, machine=RestlessShop, shrink=False)
    assert {v.invariant for v in report.violations} == {"quiet-within-bound"}
    assert str(QUIET_ROUNDS) in report.violations[0].detail
