"""The garbage collector during a run: what it leaves out, and how often it goes through
everything.

A run makes and drops many objects: each example's world is a web of references that
only the collector frees, and Hypothesis keeps a record of every example it ran. Two
settings, both given back when the run ends, keep the collector's passes from going
through the same objects again and again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: How many passes of the middle generation a full pass waits for during a run (the
#: interpreter's default is 10).
FULL_PASS_AFTER = 100


@contextmanager
def collection_for_a_run() -> Iterator[None]:
    """Old objects left out, full passes rare: :func:`old_objects_kept_out` and
    :func:`rare_full_passes`."""
    with old_objects_kept_out(), rare_full_passes():
        yield


@contextmanager
def old_objects_kept_out() -> Iterator[None]:
    """The objects that exist when a run starts (modules, their constants, Hypothesis's
    caches) are left out of the garbage collector's passes until it ends
    (:func:`gc.freeze`): a run makes and drops many objects, and each full pass went
    through all of those again (full passes took about 4 % of a run's time, now under 2).
    They are given back to the collector after the run, as they were. A process that
    froze objects of its own is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def rare_full_passes() -> Iterator[None]:
    """A full pass (the oldest generation) waits for :data:`FULL_PASS_AFTER` passes of
    the middle one instead of 10. A full pass goes through everything the run made and
    kept, Hypothesis's records of every example among them: 8 full passes took about
    5 % of a 300-example run (the passes of the two younger generations, which free each
    example's world, about 3 %, as before). The younger passes are as frequent as before,
    so a world is freed as soon as it was; what outlives a pass of the middle generation
    and then dies waits longer (a 300-example run peaked about 20 MB higher). A process
    whose full passes are rarer already keeps its setting."""
    young, middle, full = gc.get_threshold()
    if full >= FULL_PASS_AFTER:
        yield
        return
    gc.set_threshold(young, middle, FULL_PASS_AFTER)
    try:
        yield
    finally:
        young_now, middle_now, _ = gc.get_threshold()
        gc.set_threshold(young_now, middle_now, full)
