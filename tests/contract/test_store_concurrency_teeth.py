"""The shipped concurrency cases have teeth: a store that gives its lock back as soon as
a transaction opens (reads and writes no longer one unit) fails them, and so does one
that runs transactions at once and checks unique constraints only against its own copy."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tests.chaos.test_concurrency import LostUpdateStore

from paycore.errors import IntegrityError, StoreConflict
from paycore.ports import Snapshot
from paycore.schema import ORDERS, TABLES, Table
from paycore_adapters.testing.rows import order
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


class _CopyTransaction:
    """Works on a copy of the tables taken when it began: keys, unique constraints and
    versions are checked against that copy only."""

    def __init__(self, tables: dict[str, dict[str, Any]]) -> None:
        self.tables = {name: dict(rows) for name, rows in tables.items()}
        self.wrote: dict[tuple[str, str], Any] = {}

    def get(self, table: Table[Any], key: str) -> Any:
        return self.tables[table.name].get(key)

    def _write(self, table: Table[Any], record: Any, key: str) -> None:
        mine = table.unique_values(record)
        for other_key, row in self.tables[table.name].items():
            clash = [c for c in mine if c in table.unique_values(row)]
            if other_key != key and clash:
                raise IntegrityError("unique", table=table.name, constraint=clash[0][0])
        self.tables[table.name][key] = record
        self.wrote[(table.name, key)] = record

    def insert(self, table: Table[Any], record: Any) -> None:
        key = table.key_of(record)
        if key in self.tables[table.name]:
            raise IntegrityError("duplicate key", table=table.name, constraint=(table.key,))
        self._write(table, record, key)

    def update(self, table: Table[Any], record: Any) -> None:
        key = table.key_of(record)
        row = self.tables[table.name].get(key)
        if row is None or row.version + 1 != record.version:
            raise IntegrityError("stale version", table=table.name)
        self._write(table, record, key)


class CopyCheckedStore:
    """Runs transactions at once, each on its own copy; a commit refuses a row another
    transaction wrote meanwhile (StoreConflict) but checks unique constraints only
    against its copy: two orders for one checkout session, by two transactions at once,
    both commit (a common mistake over a key-value or document database)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {t.name: {} for t in TABLES}
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_CopyTransaction]:
        with self.lock:
            tx = _CopyTransaction(self.tables)
            seen = {name: dict(rows) for name, rows in self.tables.items()}
        yield tx
        with self.lock:
            for name, key in tx.wrote:
                if self.tables[name].get(key) is not seen[name].get(key):
                    raise StoreConflict("a row written meanwhile")
            for (name, key), row in tx.wrote.items():
                self.tables[name][key] = row

    def snapshot(self) -> Snapshot:
        with self.lock:
            return Snapshot({name: dict(rows) for name, rows in self.tables.items()})


@pytest.mark.parametrize(
    "case",
    [
        "test_a_unique_race_keeps_exactly_one_row",
        "test_an_update_and_an_insert_racing_for_one_unique_value_keep_one",
    ],
)
def test_a_store_checking_unique_values_against_its_own_copy_fails_the_races(case: str) -> None:
    """The threads meet inside their transactions: on a store that runs them at once,
    each sees only its own insert, and without a check across transactions both
    commit."""
    with pytest.raises(AssertionError, match="cs_race"):
        getattr(StoreConcurrencyCases(), case)(CopyCheckedStore())


def test_the_copy_checked_store_keeps_a_unique_value_within_one_transaction() -> None:
    """The store above is broken across transactions only: one at a time, it refuses."""
    store = CopyCheckedStore()
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o1", "cs_x"))
    with pytest.raises(IntegrityError), store.transaction() as tx:
        tx.insert(ORDERS, order("o2", "cs_x"))
