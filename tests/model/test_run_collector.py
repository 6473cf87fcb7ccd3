"""A run keeps the objects that existed before it out of the collector's passes, and
gives them back when it ends."""

from __future__ import annotations

import gc
from typing import ClassVar

from paycore_adapters.harness.model import PaycoreMachine
from paycore_adapters.harness.runner import run_chaos
from paycore_adapters.harness.world import World


class Noting(PaycoreMachine):
    frozen: ClassVar[list[int]] = []

    def make_world(self) -> World:
        Noting.frozen.append(gc.get_freeze_count())
        return super().make_world()


def test_a_run_freezes_what_it_found_and_unfreezes_it_at_the_end() -> None:
    """During the run the objects alive at its start are frozen; afterwards none are."""
    Noting.frozen.clear()
    assert gc.get_freeze_count() == 0
    assert run_chaos(seed=0, examples=2, steps=5, machine=Noting).ok
    assert Noting.frozen and all(n > 0 for n in Noting.frozen)
    assert gc.get_freeze_count() == 0


def test_a_process_that_froze_objects_itself_is_left_as_it_is() -> None:
    """Objects the process froze stay frozen after a run, and no more are frozen."""
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        Noting.frozen.clear()
        assert run_chaos(seed=0, examples=2, steps=5, machine=Noting).ok
        # (a frozen object may still be freed: the count only goes down)
        assert Noting.frozen and max(Noting.frozen) <= before
        assert 0 < gc.get_freeze_count() <= before
    finally:
        gc.unfreeze()
