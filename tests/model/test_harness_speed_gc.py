"""A run makes full collections rare while it runs, and gives the collector its settings
back when it ends."""

from __future__ import annotations

import gc
from typing import ClassVar

from paycore_adapters.harness.model import PaycoreMachine
from paycore_adapters.harness.runner import run_chaos
from paycore_adapters.harness.world import World


class Noting(PaycoreMachine):
    thresholds: ClassVar[list[tuple[int, int, int]]] = []

    def make_world(self) -> World:
        Noting.thresholds.append(gc.get_threshold())
        return super().make_world()


def test_full_passes_are_rare_during_a_run_and_the_settings_come_back() -> None:
    """A full pass goes through every object the run made (Hypothesis's records of
    every example among them): during the run it waits for many more passes of the
    middle generation; the young generation's pass is as often as before."""
    before = gc.get_threshold()
    Noting.thresholds.clear()
    assert run_chaos(seed=0, examples=2, steps=5, machine=Noting).ok
    assert Noting.thresholds
    assert all(t[:2] == before[:2] and t[2] >= 100 for t in Noting.thresholds)
    assert gc.get_threshold() == before


def test_a_process_with_rarer_full_passes_keeps_its_own() -> None:
    """A process that already made full passes rarer than a run would keeps its setting."""
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], 500)
    try:
        Noting.thresholds.clear()
        assert run_chaos(seed=0, examples=2, steps=5, machine=Noting).ok
        assert all(t[2] == 500 for t in Noting.thresholds)
        assert gc.get_threshold() == (before[0], before[1], 500)
    finally:
        gc.set_threshold(*before)
