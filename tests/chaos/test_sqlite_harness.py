"""The whole harness on the SQLite store: the same runs as in memory, and the same teeth.

A run's draws depend only on what paycore does, so a seeded chaos run and an
exhaustive exploration on SQLite must count exactly what they count in memory: any
difference is a store that behaves differently (an isolation or constraint gap). The
seeded bugs that live in locking and constraints are caught here too; a flaw that
drops a unique constraint gets a schema without it (``SeededBug.drops``).
"""

from __future__ import annotations

import pytest
from tests.shared_runs import SharedRuns
from tests.support import run_shape as shape

from paycore_adapters.harness.bugs import BUGS
from paycore_adapters.harness.explore import explore
from paycore_adapters.harness.faults import STORE_FAULTS
from paycore_adapters.harness.runner import run_chaos

#: Tests of the harness itself: slow; `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow

#: A smaller profile than the default (300 examples): enough to reach every fault kind.
EXAMPLES = 60


def test_a_chaos_run_on_sqlite_is_clean_and_the_same_run_as_in_memory(
    shared_runs: SharedRuns,
) -> None:
    on_sqlite = run_chaos(seed=3, examples=EXAMPLES, store="sqlite")
    assert on_sqlite.ok, on_sqlite.violations or on_sqlite.error
    store_faults = [k.value for k in STORE_FAULTS]
    assert all(on_sqlite.faults[k] for k in store_faults), on_sqlite.faults
    in_memory = shared_runs.chaos(seed=3, examples=EXAMPLES)
    assert shape(on_sqlite) == shape(in_memory)


@pytest.mark.parametrize("bug_id", ["S8", "S9", "S13"])
def test_locking_and_constraint_bugs_are_caught_on_sqlite(bug_id: str) -> None:
    for seed in range(4):
        report = run_chaos(
            seed=seed, bug=bug_id, shrink=False, store="sqlite", stop_at=BUGS[bug_id].expected
        )
        if report.violations or report.error:
            break
    assert report.error is None, report.error
    violated = {v.invariant for v in report.violations}
    assert violated & set(BUGS[bug_id].expected), (bug_id, violated)


def test_the_two_flow_scenario_explored_on_sqlite_counts_what_memory_counts() -> None:
    """Every schedule of a checkout racing a confirmation, on SQLite files (each state a
    copy of its parent's file): clean, and state for state the memory search."""
    on_sqlite = explore(flows=2, faults=0, only=["checkout-pay"], store="sqlite")
    in_memory = explore(flows=2, faults=0, only=["checkout-pay"])
    assert on_sqlite.complete and on_sqlite.violations == []
    counts = ("states_generated", "distinct_states", "schedules", "quiesced", "depth")
    assert [getattr(on_sqlite, c) for c in counts] == [getattr(in_memory, c) for c in counts]
    assert on_sqlite.distinct_states > 100


@pytest.mark.parametrize("scenario", ["one-session", "last-unit"])
def test_two_flows_with_any_one_fault_on_sqlite_count_what_memory_counts(
    scenario: str, shared_runs: SharedRuns
) -> None:
    """Any one fault anywhere (the fault wrappers over the SQLite store and the fake
    provider), in the two scenarios that race for one row: the same search as in memory.
    (The other three scenarios take minutes on files; run them with ``explore(...,
    store="sqlite")``: checkout-pay gave the memory search's 8,931 states.) The memory
    search is the run's one (``shared_runs``), that test_explore.py checks too."""
    on_sqlite = explore(flows=2, faults=1, only=[scenario], store="sqlite")
    in_memory = shared_runs.explore(flows=2, faults=1, only=[scenario])
    assert on_sqlite.complete and on_sqlite.violations == []
    assert on_sqlite.faults_injected == in_memory.faults_injected
    assert all(on_sqlite.faults_injected.values())
    counts = ("states_generated", "distinct_states", "schedules", "quiesced", "depth")
    assert [getattr(on_sqlite, c) for c in counts] == [getattr(in_memory, c) for c in counts]


def test_the_race_bug_is_found_by_the_explorer_on_sqlite() -> None:
    """S8 (a second order for one session) in the two-flow search on SQLite, where only
    a schema without the constraint lets it through."""
    report = explore(flows=2, faults=0, bug="S8", store="sqlite", stop_at_first=True)
    violated = {v.invariant for v in report.violations}
    assert violated & set(BUGS["S8"].expected), violated
