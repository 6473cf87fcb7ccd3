"""The shipped concurrency cases have teeth: a store that gives its lock back as soon as
a transaction opens (reads and writes no longer one unit) fails them."""

from __future__ import annotations

import pytest
from tests.chaos.test_concurrency import LostUpdateStore

from paycore_adapters.testing.store_concurrency import StoreConcurrencyCases


def test_a_store_that_does_not_isolate_commits_a_write_skew() -> None:
    cases = StoreConcurrencyCases()
    with pytest.raises(AssertionError, match="write skew committed"):
        for _ in range(10):  # a race: the two threads must both read before either writes
            cases.test_a_write_skew_is_never_committed(LostUpdateStore())


def test_a_store_that_does_not_isolate_lets_two_workers_claim_one_flow() -> None:
    cases = StoreConcurrencyCases()
    with pytest.raises(AssertionError):
        for _ in range(10):
            cases.test_job_claims_under_concurrency_take_each_flow_once(LostUpdateStore())
