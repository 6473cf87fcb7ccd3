"""A store transaction that lost a conflict (serialization failure, deadlock) runs again.

SQL stores run paycore's transactions serializable: two that overlap may be refused,
whole, and the refused one is safe to run again from its start. The engine does that,
a bounded number of times, so a flow step or a service call never fails for a conflict
another instance's transaction caused; past the bound the conflict reaches the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tests.support import begin_checkout, make_shop

from paycore import schema as s
from paycore.errors import OperationalError, StoreConflict
from paycore.flows import transactions
from paycore.ports import Transaction
from paycore.unit import Unit


@pytest.fixture(autouse=True)
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the engine asks of ``time.sleep`` between runs, recorded, none slept."""
    asked: list[float] = []
    monkeypatch.setattr(transactions.time, "sleep", asked.append)
    return asked


class ConflictingStore:
    """Wraps a store; the next ``conflicts`` transactions raise StoreConflict on leaving
    their block, after the body ran (as a serializable commit is refused)."""

    def __init__(self, inner: Any, conflicts: int) -> None:
        self.inner = inner
        self.conflicts = conflicts
        self.refused = 0

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self.inner.transaction() as tx:
            yield tx
            if self.conflicts:
                self.conflicts -= 1
                self.refused += 1
                raise StoreConflict("could not serialize access", sqlstate="40001")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_conflict_is_an_operational_error_that_may_be_retried() -> None:
    err = StoreConflict("deadlock detected")
    assert isinstance(err, OperationalError)
    assert err.code == "store_conflict"
    assert err.retryable


def test_a_refused_transaction_runs_again_and_commits_once() -> None:
    w = make_shop()
    store = ConflictingStore(w.store, conflicts=2)
    w.service.engine.store = store
    runs: list[int] = []

    def body(u: Unit) -> str:
        runs.append(1)
        u.alert("test_conflict", "subject", "raised once")
        return "done"

    assert w.service.engine.transact(body) == "done"
    assert (len(runs), store.refused) == (3, 2)
    alert = w.store.snapshot().get(s.ALERTS, "test_conflict:subject")
    assert alert is not None and alert.count == 1  # the refused runs left nothing
    assert [a.kind for a in w.alerts.raised].count("test_conflict") == 1


def test_past_the_bound_the_conflict_reaches_the_caller_and_nothing_is_kept() -> None:
    w = make_shop()
    bound = w.service.engine.config.store_conflict_retries
    store = ConflictingStore(w.store, conflicts=bound + 1)
    w.service.engine.store = store
    before = w.store.fingerprint()
    with pytest.raises(StoreConflict):
        w.service.engine.transact(lambda u: u.alert("test_conflict", "subject", "never kept"))
    assert store.refused == bound + 1
    assert w.store.fingerprint() == before
    assert all(a.kind != "test_conflict" for a in w.alerts.raised)


def test_other_operational_errors_are_not_retried_here() -> None:
    """A store that is down is the caller's to handle (a flow backs off); running the
    body again at once would only hammer it."""
    w = make_shop()
    runs: list[int] = []

    def body(u: Unit) -> None:
        runs.append(1)
        raise OperationalError("disk I/O error")

    with pytest.raises(OperationalError):
        w.service.engine.transact(body)
    assert len(runs) == 1


def test_reading_a_flow_runs_again_when_its_transaction_is_refused() -> None:
    """A read-only transaction may be refused too (a serializable store summarises old
    transactions under load and then refuses some that did nothing wrong): loading a
    flow, as the runner and the jobs do between steps, runs again like every other."""
    w = make_shop()
    flow_id = begin_checkout(w)
    store = ConflictingStore(w.store, conflicts=2)
    w.service.engine.store = store
    flow = w.service.engine.load(flow_id)
    assert flow is not None and flow.id == flow_id
    assert store.refused == 2


def test_the_pause_between_runs_is_at_most_a_tenth_of_a_second(pauses: list[float]) -> None:
    """Each run again waits a random pause, doubled per attempt and never over
    ``MAX_CONFLICT_PAUSE_MS``."""
    w = make_shop()
    store = ConflictingStore(w.store, conflicts=8)
    w.service.engine.store = store
    assert w.service.engine.transact(lambda u: "done") == "done"
    assert len(pauses) == 8
    assert all(0 <= p <= transactions.MAX_CONFLICT_PAUSE_MS / 1000 for p in pauses)
