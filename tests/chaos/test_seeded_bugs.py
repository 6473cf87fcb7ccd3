"""The harness has teeth: every seeded re-creation of a seed flaw is caught."""

from __future__ import annotations

import pytest
from tests.support import hunt

from paycore.invariants import INVARIANTS
from paycore_adapters.harness.bugs import BUGS
from paycore_adapters.harness.model import HARNESS_CHECKS
from paycore_adapters.harness.runner import run_chaos

#: Tests of the harness itself: slow; `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow


FINDINGS = [f"S{i}" for i in range(1, 19)]
#: Flaws of issue 7's items, re-created as they were before the fix.
ISSUE_ITEMS = ["I1", "I11", "I2", "I3", "I4"]
#: Flaws of listing found by reviewing the fake provider against Stripe.
LISTING_FLAWS = ["L1", "L2"]
#: Flaws that only a faithful provider model reveals (its review against Stripe).
FIDELITY_FLAWS = ["F1", "F2", "F3", "F4"]
#: Flaws no check saw, found by reviewing the harness's blind spots.
BLIND_SPOTS = ["H1", "H2", "H3", "H4", "H5"]


def test_catalog_has_one_switch_per_finding() -> None:
    """S1-S18, the issue items, the listing flaws, the fidelity flaws and the blind spots
    each have a switch that names invariants (or harness checks) that exist."""
    assert sorted(b for b in BUGS if b.startswith("S")) == sorted(FINDINGS)
    assert sorted(b for b in BUGS if b.startswith("I")) == ISSUE_ITEMS
    assert sorted(b for b in BUGS if b.startswith("L")) == LISTING_FLAWS
    assert sorted(b for b in BUGS if b.startswith("F")) == FIDELITY_FLAWS
    assert sorted(b for b in BUGS if b.startswith("H")) == BLIND_SPOTS
    assert len(BUGS) == (
        len(FINDINGS)
        + len(ISSUE_ITEMS)
        + len(LISTING_FLAWS)
        + len(FIDELITY_FLAWS)
        + len(BLIND_SPOTS)
    )
    ids = {i.id for i in INVARIANTS} | HARNESS_CHECKS
    for bug in BUGS.values():
        assert bug.expected and set(bug.expected) <= ids, bug.id


@pytest.mark.parametrize("bug_id", FINDINGS + ISSUE_ITEMS + FIDELITY_FLAWS + BLIND_SPOTS)
def test_harness_catches_seeded_bug(bug_id: str) -> None:
    """With the flaw switched on, a default run (of the first seeds, until one finds it)
    finds a violation of an expected invariant."""
    report = hunt(bug_id)
    assert report.error is None, report.error
    violated = {v.invariant for v in report.violations}
    assert violated, f"{bug_id} went unnoticed"
    assert violated & set(BUGS[bug_id].expected), (bug_id, violated)


@pytest.mark.parametrize("bug_id", LISTING_FLAWS)
def test_random_actions_catch_listing_flaw_without_stories(bug_id: str) -> None:
    """The listing flaws are caught by the random actions alone: a default run with no
    story told (neither in the prologue nor drawn as an example's opening), on the first
    seeds until one finds something, violates an invariant the catalog expects. Their
    stories (``orphan_after_the_reconciler_ran``, ``refund_answer_lost_behind_newer_refunds``)
    would otherwise be all that reaches them."""
    for seed in range(4):
        report = run_chaos(seed=seed, bug=bug_id, shrink=False, with_stories=False)
        if report.violations or report.error:
            break
    assert report.error is None, report.error
    assert not [name for name in report.counts if name.startswith("story:")]
    violated = {v.invariant for v in report.violations}
    assert violated & set(BUGS[bug_id].expected), (bug_id, violated)


def test_switches_restore_the_code() -> None:
    """A run with a bug switched on leaves paycore exactly as it was: a clean run passes."""
    run_chaos(seed=1, bug="S13", examples=30, shrink=False)
    assert run_chaos(seed=1, examples=30).ok
