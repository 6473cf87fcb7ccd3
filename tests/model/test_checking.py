"""The harness re-runs only the invariants whose inputs changed, and reuses nothing stale."""

from __future__ import annotations

import pytest
from tests.support import hunt

from paycore import schema as s
from paycore.invariants import check
from paycore.ports import ProviderEvent
from paycore_adapters.harness import checking
from paycore_adapters.harness.bugs import BUGS
from paycore_adapters.harness.explore import copyable, fork
from paycore_adapters.harness.runner import run_chaos
from paycore_adapters.harness.world import World


@pytest.fixture
def verify(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reused verdict is re-run and compared (an AssertionError if it differs)."""
    monkeypatch.setattr(checking, "VERIFY", True)


@pytest.mark.usefixtures("verify")
class TestReusedVerdictsAreExact:
    def test_a_clean_run_reuses_verdicts_that_a_full_check_confirms(self) -> None:
        """A run checks exactly what a full check finds, and skips most invariant runs."""
        report = run_chaos(seed=3, examples=25, shrink=False)
        assert report.ok and report.error is None
        ran, reused = report.counts[checking.RAN], report.counts[checking.REUSED]
        assert ran > 0 and reused > ran / 2

    @pytest.mark.slow  # default-profile runs, every reused verdict computed twice
    @pytest.mark.parametrize("bug_id", ["S4", "S13"])
    def test_seeded_bugs_are_still_caught_and_no_verdict_is_stale(self, bug_id: str) -> None:
        """A violation a full check would find is found: reused verdicts hide nothing."""
        report = hunt(bug_id)
        assert report.error is None, report.error
        violated = {v.invariant for v in report.violations}
        assert violated & set(BUGS[bug_id].expected), (bug_id, violated)


class TestWhatARunReads:
    def test_only_the_invariants_that_read_a_written_table_run_again(self) -> None:
        """An ignored webhook writes the inbox alone: no stock invariant runs again. A
        restock writes stock: every invariant that read stock runs again. Both times
        the verdicts are what a full check says."""
        world = World()
        world.violations()
        readers = {i for i, v in world.checker._verdicts.items() if "stock" in dict(v.tables)}
        assert readers
        runs = world.counts[checking.RAN]
        event = ProviderEvent("evt_ignored_1", "customer.created", 0, "customer", "cus_1")
        assert world.quietly(lambda: world.w.service.handle_webhook(event)).ignored
        assert world.violations() == check(world.view(), world.ledger())
        inbox_runs = world.counts[checking.RAN] - runs
        runs = world.counts[checking.RAN]
        world.quietly(lambda: world.w.service.restock("s1", "SKU-P", 1))
        assert world.violations() == check(world.view(), world.ledger())
        assert world.counts[checking.RAN] - runs >= len(readers) > inbox_runs

    def test_another_store_starts_afresh(self) -> None:
        """A verdict of one store is never reused for another."""
        world = World()
        world.violations()
        before = world.counts.get(checking.REUSED, 0)
        twin = world.w.store.clone()
        found = world.checker.check(twin, twin.snapshot(), world.ledger(), {}, ("safety",))
        assert found == check(twin.snapshot(), world.ledger())
        assert world.counts.get(checking.REUSED, 0) == before
        assert s.STOCK.name in twin.table_versions()

    @pytest.mark.usefixtures("verify")
    def test_a_forked_world_reuses_the_verdicts_and_each_copy_keeps_its_own(self) -> None:
        """The explorer's copy of a world reuses the verdicts the original found (nothing
        changed), and a write to one copy makes that copy alone run its readers again:
        the other's verdicts stand, and both agree with a full check."""
        world = World()
        world.violations()
        with copyable():
            twin = fork(world)
        assert twin.checker is not world.checker and twin.counts is not world.counts
        ran = twin.counts[checking.RAN]
        assert twin.violations() == check(twin.view(), twin.ledger())
        assert twin.counts[checking.RAN] == ran  # every verdict reused
        twin.quietly(lambda: twin.w.service.restock("s1", "SKU-P", 1))
        assert twin.violations() == check(twin.view(), twin.ledger())
        assert twin.counts[checking.RAN] > ran
        ran = world.counts[checking.RAN]
        assert world.violations() == check(world.view(), world.ledger())
        assert world.counts[checking.RAN] == ran  # the twin's restock is not the world's
        assert [p.on_hand for p in world.view().rows(s.STOCK)] != [
            p.on_hand for p in twin.view().rows(s.STOCK)
        ]
