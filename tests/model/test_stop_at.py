"""``run_chaos(stop_at=...)``: a run ends once a story found one of the named invariants
violated (a hunt for a seeded bug asks only whether a run finds what the bug breaks)."""

from __future__ import annotations

import pytest
from tests.support import run_shape

from paycore_adapters.harness.bugs import BUGS
from paycore_adapters.harness.runner import run_chaos

pytestmark = pytest.mark.slow


def test_a_violation_found_by_a_story_ends_the_run_before_the_random_examples() -> None:
    # L1 is caught by the story `orphan_after_the_reconciler_ran`, told before the examples.
    whole = run_chaos(seed=0, bug="L1", examples=3, shrink=False)
    first = run_chaos(seed=0, bug="L1", examples=3, shrink=False, stop_at=BUGS["L1"].expected)
    assert whole.violations and whole.rules > 0  # the random examples ran
    assert first.violations and first.rules == 0  # they did not
    assert first.examples_run < whole.examples_run  # the stories after the finding neither
    assert {v.invariant for v in first.violations} <= {v.invariant for v in whole.violations}


def test_a_run_that_finds_none_of_them_runs_every_example() -> None:
    report = run_chaos(seed=0, examples=3, stop_at=BUGS["L1"].expected)
    assert report.ok and report.rules > 0
    assert run_shape(report) == run_shape(run_chaos(seed=0, examples=3))
