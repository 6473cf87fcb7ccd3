"""The chaos harness on PostgreSQL: a database per example, the same run as in memory,
and the seeded bugs of locking and constraints caught.

On a store that refuses conflicting transactions, whether a race's transaction is
refused depends on timing; the engine runs a refused transaction again (with pauses),
so a seeded run still counts what it counts in memory."""

from __future__ import annotations

import pytest
from tests.shared_runs import SharedRuns
from tests.support import run_shape as shape

from paycore_adapters.harness.bugs import BUGS
from paycore_adapters.harness.explore import explore
from paycore_adapters.harness.faults import STORE_FAULTS
from paycore_adapters.harness.runner import run_chaos

pytestmark = pytest.mark.slow

EXAMPLES = 60


def test_a_chaos_run_on_postgresql_is_clean_and_the_same_run_as_in_memory(
    postgres_server: str, shared_runs: SharedRuns
) -> None:
    on_pg = run_chaos(seed=3, examples=EXAMPLES, store="postgresql", server=postgres_server)
    assert on_pg.ok, on_pg.violations or on_pg.error
    assert all(on_pg.faults[k.value] for k in STORE_FAULTS), on_pg.faults
    assert shape(on_pg) == shape(shared_runs.chaos(seed=3, examples=EXAMPLES))
    assert "postgresql" in on_pg.replay and "password" not in on_pg.replay
    assert on_pg.replay.endswith(' --store postgresql --server "$PAYCORE_HARNESS_POSTGRES"')


@pytest.mark.parametrize("bug_id", ["S8", "S9", "S13"])
def test_locking_and_constraint_bugs_are_caught_on_postgresql(
    bug_id: str, postgres_server: str
) -> None:
    for seed in range(4):
        report = run_chaos(
            seed=seed,
            bug=bug_id,
            shrink=False,
            store="postgresql",
            server=postgres_server,
            stop_at=BUGS[bug_id].expected,
        )
        if report.violations or report.error:
            break
    assert report.error is None, report.error
    violated = {v.invariant for v in report.violations}
    assert violated & set(BUGS[bug_id].expected), (bug_id, violated)


def test_the_two_flow_scenario_with_any_one_fault_explored_on_postgresql(
    postgres_server: str, shared_runs: SharedRuns
) -> None:
    """Every schedule of two checkouts of one session with any one fault, each state
    rebuilt on a database of its own by replaying its path: clean, and state for state
    the memory search (the run's one, ``shared_runs``, that test_explore.py checks too)."""
    on_pg = explore(
        flows=2,
        faults=1,
        only=["one-session"],
        store="postgresql",
        server=postgres_server,
        method="replay",
    )
    in_memory = shared_runs.explore(flows=2, faults=1, only=["one-session"])
    assert on_pg.complete and on_pg.violations == []
    assert on_pg.faults_injected == in_memory.faults_injected
    assert all(on_pg.faults_injected.values())
    counts = ("states_generated", "distinct_states", "schedules", "quiesced", "depth")
    assert [getattr(on_pg, c) for c in counts] == [getattr(in_memory, c) for c in counts]
