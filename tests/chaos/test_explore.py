"""The bounded exhaustive explorer: every schedule of its small scenarios, clean and with teeth."""

from __future__ import annotations

import pytest
from tests.shared_runs import SharedRuns

from paycore_adapters.harness.bugs import BUGS
from paycore_adapters.harness.explore import FAULT_KINDS, ExploreReport, explore, scenarios

#: Tests of the harness itself: slow; `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow


RACE_BUGS = ["S8", "S9", "S10"]


def counts(report: ExploreReport) -> tuple[int, ...]:
    return (
        report.states_generated,
        report.distinct_states,
        report.schedules,
        report.quiesced,
        report.depth,
    )


# One test per scenario, so that the suite's workers share the search: `paycore explore`
# runs all of them in one search (its seen set shared, as TLC shares it between initial
# states); apart, each scenario is explored in full just the same. The search is made once
# per run (``shared_runs``): the SQLite harness compares its own searches with it.
@pytest.mark.parametrize("scenario", [sc.name for sc in scenarios(2)])
def test_two_flows_one_fault_is_exhaustive_and_clean(
    scenario: str, shared_runs: SharedRuns
) -> None:
    """Two racing operations and any one fault anywhere: every schedule explored, none
    bad, and every kind of fault fired somewhere in the scenario."""
    report = shared_runs.explore(flows=2, faults=1, only=[scenario])
    assert report.complete
    assert report.violations == [], report.violations[0]
    assert report.states_generated > report.distinct_states > 0
    assert report.schedules >= report.quiesced > 0
    assert set(report.faults_injected) == {k.value for k in FAULT_KINDS}
    assert all(report.faults_injected.values()), report.faults_injected
    assert report.as_json()["schedules"] == report.schedules


@pytest.mark.parametrize("scenario", [sc.name for sc in scenarios(3)])
def test_three_flows_without_faults_are_exhaustive_and_clean(scenario: str) -> None:
    """Three racing operations per scenario: every schedule explored, none bad."""
    report = explore(flows=3, faults=0, only=[scenario])
    assert report.complete
    assert report.violations == [], report.violations[0]
    assert report.states_generated > report.distinct_states > 0


def test_one_search_over_every_scenario_counts_what_the_parts_count(
    shared_runs: SharedRuns,
) -> None:
    """The per-scenario tests above add up to the whole search: exploring two scenarios
    together finds at most the states of each explored alone, and no fewer schedules."""
    only = ["last-unit", "one-session"]
    together = shared_runs.explore(flows=2, faults=1, only=only)
    apart = [shared_runs.explore(flows=2, faults=1, only=[name]) for name in only]
    assert together.complete and all(r.complete for r in apart)
    assert together.schedules == sum(r.schedules for r in apart)
    assert together.distinct_states <= sum(r.distinct_states for r in apart)
    assert together.quiesced <= sum(r.quiesced for r in apart)


@pytest.mark.parametrize("bug_id", RACE_BUGS)
def test_seeded_race_bug_is_found(bug_id: str) -> None:
    """With a race flaw switched on, some schedule breaks an invariant expected to catch it
    (the search stops at its first violation: the schedules after it are not this test's
    business, and `test_runs_with_a_bug_are_deterministic` searches S10's in full)."""
    assert bug_id in BUGS, f"seeded bug {bug_id} is missing from the catalog"
    report = explore(flows=2, faults=0, bug=bug_id, stop_at_first=True)
    assert report.violations and not report.complete
    violated = {v.invariant for v in report.violations}
    assert violated & set(BUGS[bug_id].expected), (bug_id, violated)
    for v in report.violations:
        assert v.trace[0] == f"scenario {v.scenario}" and len(v.trace) > 1, v.trace


# Two tests, so that two workers can share the four searches.
def test_runs_are_deterministic() -> None:
    """Two runs count the same states and schedules."""
    assert counts(explore(flows=2, faults=0)) == counts(explore(flows=2, faults=0))


def test_runs_with_a_bug_are_deterministic() -> None:
    """Two runs with a race bug switched on count the same and report the same traces."""
    a, b = explore(flows=2, faults=0, bug="S10"), explore(flows=2, faults=0, bug="S10")
    assert counts(a) == counts(b)
    assert [v.trace for v in a.violations] == [v.trace for v in b.violations]


def test_forking_a_state_agrees_with_replaying_its_path(shared_runs: SharedRuns) -> None:
    """Copying a world reaches exactly the states that replaying each path from scratch does."""
    only = ["last-unit", "one-session"]
    forked = shared_runs.explore(flows=2, faults=1, only=only)
    replayed = explore(flows=2, faults=1, only=only, method="replay")
    assert counts(forked) == counts(replayed)
    assert forked.faults_injected == replayed.faults_injected
    assert forked.complete and replayed.complete
