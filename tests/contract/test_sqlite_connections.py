"""The SQLite store's connections over a host's life: threads that come and go, and a
process that forks after opening the store."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from tests.stores.forked import in_child

from paycore.errors import OperationalError
from paycore.schema import INSTALLATION, ORDERS
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.testing.rows import order

THREADS = 60


def _open(store: SQLiteStore) -> int:
    return len(store._connections)


class TestThreadsThatEnd:
    def test_connections_of_ended_threads_are_closed(self, tmp_path: Path) -> None:
        """Short-lived threads, one after another, each run a transaction and read a
        snapshot: the open connections stay bounded by the threads alive, not by the
        threads ever seen."""
        store = SQLiteStore(tmp_path / "paycore.db", migrate=True)
        failures: list[BaseException] = []

        def work() -> None:
            try:
                with store.transaction() as tx:
                    tx.get(INSTALLATION, "this")
                store.snapshot()
            except BaseException as exc:  # reported to the test's thread
                failures.append(exc)

        most = 0
        for _ in range(THREADS):
            t = threading.Thread(target=work)
            t.start()
            t.join()
            most = max(most, _open(store))
        assert failures == []
        # this thread's one, plus the last thread's two (closed by the next to connect)
        assert most <= 3, most
        store.close()
        assert _open(store) == 0

    def test_a_live_thread_keeps_its_connection(self, tmp_path: Path) -> None:
        """Connections of threads still running are left alone: a thread that waits keeps
        using the connection it had while others come and go."""
        store = SQLiteStore(tmp_path / "paycore.db", migrate=True)
        go, done = threading.Event(), threading.Event()
        seen: list[object] = []

        def waiter() -> None:
            seen.append(store.connection())
            go.wait(timeout=30)
            seen.append(store.connection())
            with store.transaction() as tx:
                tx.get(INSTALLATION, "this")
            done.set()

        w = threading.Thread(target=waiter)
        w.start()
        for _ in range(5):
            t = threading.Thread(target=store.connection)
            t.start()
            t.join()
        go.set()
        w.join()
        assert done.is_set()
        assert seen[0] is seen[1]


def _is_open(conn: sqlite3.Connection) -> bool:
    try:
        conn.total_changes  # noqa: B018 (a closed connection refuses even this)
    except sqlite3.ProgrammingError:
        return False
    return True


class TestFork:
    def test_a_forked_child_connects_anew_and_leaves_the_parents_alone(
        self, tmp_path: Path
    ) -> None:
        """A store opened before fork(): the child gets connections of its own, the
        inherited ones are neither used nor closed there, and the parent's go on."""
        store = SQLiteStore(tmp_path / "paycore.db", migrate=True)
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o_parent"))
        store.snapshot()
        parents = store.connection()
        inherited = [c for _, c in store._connections]

        def child() -> dict[str, object]:
            mine = store.connection()
            with store.transaction() as tx:
                tx.insert(ORDERS, order("o_child"))
            seen = sorted(store.snapshot().tables[ORDERS.name])
            store.close()
            return {
                "new": mine is not parents,
                "seen": seen,
                "inherited_open": all(_is_open(c) for c in inherited),
            }

        report = in_child(child)
        assert report == {"new": True, "seen": ["o_child", "o_parent"], "inherited_open": True}
        assert store.connection() is parents
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o_child") == order("o_child")
        store.close()


class TestDriverErrorsAreThePorts:
    def test_sequences_of_a_damaged_file_is_an_operational_error(self, tmp_path: Path) -> None:
        """Reading the sequences of a file whose table was dropped by hand raises the
        port's OperationalError, not the driver's."""
        store = SQLiteStore(tmp_path / "paycore.db", migrate=True)
        other = sqlite3.connect(tmp_path / "paycore.db")
        other.execute("DROP TABLE paycore_sequences")
        other.close()
        with pytest.raises(OperationalError, match="paycore_sequences"):
            store.sequences()

    def test_a_snapshot_on_a_broken_connection_is_an_operational_error(
        self, tmp_path: Path
    ) -> None:
        """A snapshot whose connection cannot begin (closed under it) raises the port's
        OperationalError."""
        store = SQLiteStore(tmp_path / "paycore.db", migrate=True)
        store.snapshot()
        store._reader().close()
        with pytest.raises(OperationalError, match="snapshot"):
            store.snapshot()

    def test_a_rollback_on_a_broken_connection_keeps_the_callers_error(
        self, tmp_path: Path
    ) -> None:
        """The caller's exception leaves the transaction even when its connection broke
        under it (the rollback's own failure does not replace it)."""
        store = SQLiteStore(tmp_path / "paycore.db", migrate=True)
        with pytest.raises(LookupError, match="the caller's"), store.transaction():
            store.connection().close()
            raise LookupError("the caller's")
