"""A SQL transaction that met a store error stays failed, and never commits: on SQLite
the writes sent before the error were kept, on PostgreSQL none was while the commit
counted as a success (the server answers ``COMMIT`` on an aborted transaction with the
command tag ``ROLLBACK``). And SQLite tells a commit that failed for sure (a full disk,
a lock, a read-only file) from one whose fate is unknown (an I/O error)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from paycore.errors import CommitUnknown, DataError, OperationalError, StoreError
from paycore.schema import ORDERS, PAYMENTS
from paycore_adapters.sql import postgres_pipe
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.testing.store_contract import order

SQLStore = SQLiteStore | PostgresStore


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    if request.param == "sqlite":
        yield SQLiteStore(tmp_path / "failed.db", migrate=True)
        return
    pg = PostgresStore(request.getfixturevalue("migrated_postgres_dsn"), migrate=True, max_size=2)
    yield pg
    pg.close()


def stored(store: SQLStore, *keys: str) -> list[str]:
    with store.transaction() as tx:
        return [k for k in keys if tx.get(ORDERS, k) is not None]


def test_a_refused_write_caught_in_the_block_keeps_nothing(store: SQLStore) -> None:
    """The review's case: three inserts, the second with text no SQL driver can send, sent
    together by a query; the caller catches the DataError and leaves the block. Every
    later call raises, the block's end raises, and none of the three is stored (SQLite
    kept the first; PostgreSQL kept none but counted a commit)."""
    commits = store.stats["commits"]
    with pytest.raises(DataError) as at_end, store.transaction() as tx:
        tx.insert(ORDERS, order("a1"))
        tx.insert(ORDERS, attrs.evolve(order("a2"), cart_fingerprint="f\udc80"))
        tx.insert(ORDERS, order("a3"))
        with pytest.raises(DataError):
            tx.find(ORDERS, "checkout_session_id", "x")  # sends the three writes
        with pytest.raises(DataError):
            tx.find(ORDERS, "checkout_session_id", "x")
    assert "rolled back" in str(at_end.value)
    assert store.stats["commits"] == commits
    assert stored(store, "a1", "a2", "a3") == []


def test_an_integer_past_64_bits_is_data_error(store: SQLStore) -> None:
    """A value past 64 bits, as a query's argument or in a row written: DataError (not
    retryable), never the driver's raw OverflowError, and nothing kept."""
    with pytest.raises(DataError) as err, store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
        tx.find_since(PAYMENTS, "status", "succeeded", "created_at", 10**30)
    assert not err.value.retryable
    with pytest.raises(DataError), store.transaction() as tx:
        tx.insert(ORDERS, order("o2"))
        tx.insert(ORDERS, attrs.evolve(order("o3"), created_at=2**64))
    assert stored(store, "o1", "o2", "o3") == []


class _Faulty:
    """A SQLite connection whose statements fail as ``fail`` says (an error to raise, or
    None), the rest run on ``conn``."""

    def __init__(self, conn: sqlite3.Connection, fail: Any) -> None:
        self.conn, self.fail = conn, fail

    def execute(self, sql: str, *args: Any) -> Any:
        exc = self.fail(sql)
        if exc is not None:
            raise exc
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def sqlite_error(message: str, name: str) -> sqlite3.OperationalError:
    """The driver's error for SQLite's result code ``name`` (as ``sqlite3`` raises it)."""
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = getattr(sqlite3, name)  # type: ignore[attr-defined]
    exc.sqlite_errorname = name  # type: ignore[attr-defined]
    return exc


def test_an_operational_error_caught_in_the_block_keeps_nothing(tmp_path: Path) -> None:
    """A statement that fails on SQLite (the database locked, say) after writes were sent:
    the caller catches the OperationalError and leaves the block; nothing is kept."""
    store = SQLiteStore(tmp_path / "locked.db", migrate=True)
    real = store.connection()
    locked = sqlite_error("database is locked", "SQLITE_BUSY")
    store._local.conn = _Faulty(real, lambda sql: locked if "paycore_sequences" in sql else None)
    with pytest.raises(OperationalError) as at_end, store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
        assert tx.find(ORDERS, "checkout_session_id", "x") == []  # sends the insert
        with pytest.raises(OperationalError):
            tx.next_seq("order")
    assert type(at_end.value) is OperationalError
    store._local.conn = real
    assert not real.in_transaction
    assert stored(store, "o1") == []


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("SQLITE_FULL", OperationalError),
        ("SQLITE_BUSY", OperationalError),
        ("SQLITE_READONLY", OperationalError),
        ("SQLITE_READONLY_DBMOVED", OperationalError),
        ("SQLITE_IOERR", CommitUnknown),
        ("SQLITE_IOERR_FSYNC", CommitUnknown),
    ],
)
def test_sqlite_tells_a_commit_that_failed_from_one_that_may_have_happened(
    tmp_path: Path, name: str, error: type[StoreError]
) -> None:
    """A WAL commit that fails with SQLITE_FULL, SQLITE_BUSY or SQLITE_READONLY did not
    commit: OperationalError (the engine notifies, runs no on-commit callback). An I/O
    error may have left a commit the log replays: CommitUnknown. Either way the
    transaction is rolled back and the store works on."""
    store = SQLiteStore(tmp_path / "commit.db", migrate=True)
    real = store.connection()
    fails = sqlite_error(name.lower(), name)
    store._local.conn = _Faulty(real, lambda sql: fails if sql == "COMMIT" else None)
    with pytest.raises(OperationalError) as err, store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
    assert type(err.value) is error
    store._local.conn = real
    assert not real.in_transaction
    assert stored(store, "o1") == []
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o2"))
    assert stored(store, "o1", "o2") == ["o2"]


def test_postgres_never_counts_a_commit_the_server_rolled_back(
    migrated_postgres_dsn: str,
) -> None:
    """Below the transaction's own record of its failure: a transaction the server aborted
    (a value out of range) that reaches its end as if nothing happened is refused at the
    COMMIT, OperationalError and nothing stored, never counted as a commit."""
    store = PostgresStore(migrated_postgres_dsn, migrate=True, max_size=2)
    try:
        commits = store.stats["commits"]
        with pytest.raises(OperationalError) as err, store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
            assert tx.find(ORDERS, "checkout_session_id", "x") == []  # sends the insert
            with pytest.raises(DataError):
                tx.find_since(PAYMENTS, "status", "succeeded", "created_at", 10**30)
            tx.failed = None  # as a transaction that lost track of its failure would
        assert type(err.value) is OperationalError
        assert store.stats["commits"] == commits
        assert stored(store, "o1") == []
    finally:
        store.close()


def test_postgres_pipelined_commit_answered_rollback_is_refused(
    migrated_postgres_dsn: str,
) -> None:
    """The answer ``ROLLBACK`` to a ``COMMIT`` (the transaction was aborted) is an error,
    in a pipeline as on its own: nothing was committed."""
    store = PostgresStore(migrated_postgres_dsn, migrate=True, max_size=2)
    conn = store._getconn()
    try:
        for send in (
            lambda: postgres_pipe.send(conn, {}, lambda: b"x", [], True),
            lambda: postgres_pipe.command(conn, b"COMMIT"),
        ):
            conn.execute("SELECT 1")
            with pytest.raises(Exception, match="division by zero"):
                conn.execute("SELECT 1/0")
            with pytest.raises(Exception, match=r"ROLLBACK|aborted"):
                send()
            conn.rollback()
    finally:
        store._pool.putconn(conn)
        store.close()


def test_an_error_while_a_query_reads_its_rows_fails_the_transaction(tmp_path: Path) -> None:
    """SQLite steps a query as its rows are read: an error part way through the rows (an
    interrupt here; an I/O error or a damaged page in the field) is the port's error, and
    the transaction keeps nothing, whatever the caller does with it."""
    from paycore.status import OrderStatus

    store = SQLiteStore(tmp_path / "rows.db", migrate=True)
    with store.transaction() as tx:
        for i in range(300):
            tx.insert(ORDERS, order(f"o{i:04d}"))
    with pytest.raises(StoreError), store.transaction() as tx:
        tx.insert(ORDERS, order("before"))
        tx.find(ORDERS, "checkout_session_id", "x")  # sends the insert
        tx.conn.set_progress_handler(lambda: 1, 2000)  # type: ignore[attr-defined]
        with pytest.raises(OperationalError):
            tx.find(ORDERS, "status", OrderStatus.PENDING)
        tx.conn.set_progress_handler(None, 0)  # type: ignore[attr-defined]
        tx.insert(ORDERS, order("after"))
    assert stored(store, "before", "after") == []
    store.close()
