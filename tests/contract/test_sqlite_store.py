"""SQLiteStore against the store contract, plus what only the SQLite store promises."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from paycore import records as r
from paycore.errors import CommitUnknown, IntegrityError, OperationalError
from paycore.money import Money
from paycore.ports import Store
from paycore.schema import INSTALLATION, ORDERS, PAYMENTS, STOCK
from paycore_adapters.sql import migrate
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.testing import StoreContract
from paycore_adapters.testing.store_contract import order


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "paycore.db"


class TestSQLiteStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path
        self.opened = 0

    def make_store(self) -> Store:
        self.opened += 1
        return SQLiteStore(self.folder / f"store{self.opened}.db", migrate=True)


def test_money_is_plain_columns_an_operator_can_query(db: Path) -> None:
    store = SQLiteStore(db, migrate=True)
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
    conn = sqlite3.connect(db)
    row = conn.execute("SELECT total, total_currency, status FROM orders").fetchone()
    assert row == (1000, "EUR", "pending")


def test_data_survives_closing_and_reopening_the_file(db: Path) -> None:
    store = SQLiteStore(db, migrate=True)
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
        assert tx.next_seq("audit") == 1
    store.close()
    again = SQLiteStore(db)
    with again.transaction() as tx:
        assert tx.get(ORDERS, "o1") == order("o1")
        assert tx.next_seq("audit") == 2


def test_an_unmigrated_file_is_refused_with_the_command_to_run(db: Path) -> None:
    sqlite3.connect(db).close()  # an empty SQLite file (a missing one: StoreFileMissing)
    with pytest.raises(migrate.SchemaNotMigrated, match="paycore migrate"):
        SQLiteStore(db)
    store = SQLiteStore(db, migrate=True)
    assert store.schema_version() == migrate.latest("sqlite")
    assert store.migrate() == []  # nothing left to apply


def test_a_file_from_a_newer_paycore_is_refused(db: Path) -> None:
    SQLiteStore(db, migrate=True).close()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO paycore_migrations VALUES (99, 'from_the_future')")
    conn.commit()
    with pytest.raises(migrate.SchemaTooNew):
        SQLiteStore(db)


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "x.db", synchronous="SOMETIMES")
    with pytest.raises(ValueError, match="file"):
        SQLiteStore(":memory:")


def test_durability_defaults_to_full(db: Path) -> None:
    store = SQLiteStore(db, migrate=True)
    level = store.connection().execute("PRAGMA synchronous").fetchone()[0]
    assert level == 2  # FULL
    mode = store.connection().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_snapshot_sees_committed_data_only(db: Path) -> None:
    store = SQLiteStore(db, migrate=True)
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
        assert store.snapshot().get(ORDERS, "o1") is None
    assert store.snapshot().get(ORDERS, "o1") == order("o1")


def test_writers_in_two_threads_serialize(db: Path) -> None:
    """Two threads each read a counter and write it back plus one, 50 times: with
    BEGIN IMMEDIATE no increment is lost."""
    store = SQLiteStore(db, migrate=True)
    with store.transaction() as tx:
        tx.insert(STOCK, r.Stock("s1", "SKU", on_hand=0, version=1))
    key = r.Stock("s1", "SKU").key

    def bump() -> None:
        for _ in range(50):
            with store.transaction() as tx:
                cur = tx.get(STOCK, key)
                assert cur is not None
                tx.update(STOCK, r.Stock("s1", "SKU", cur.on_hand + 1, version=cur.version + 1))

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = store.snapshot().get(STOCK, key)
    assert final is not None and final.on_hand == 100
    assert store.stats["commits"] == store.stats["writes"] == 101  # counted from both threads


def test_a_lock_not_granted_in_time_is_an_operational_error(db: Path) -> None:
    store = SQLiteStore(db, migrate=True, busy_timeout_ms=50)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError), store.transaction():
            pass
    finally:
        blocker.execute("ROLLBACK")
    with store.transaction() as tx:  # the store goes on once the lock is free
        tx.insert(ORDERS, order("o1"))


class _CommitFails:
    """A connection whose COMMIT fails (as when the disk goes away at that moment)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def test_a_failed_commit_is_ambiguous(db: Path) -> None:
    """An error from COMMIT is CommitUnknown (the caller must not assume either way);
    the connection is left usable."""
    store = SQLiteStore(db, migrate=True)
    real = store.connection()
    store._local.conn = _CommitFails(real)
    with pytest.raises(CommitUnknown), store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
    store._local.conn = real
    assert not real.in_transaction
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o2"))


def test_a_unique_violation_names_its_fields(db: Path) -> None:
    store = SQLiteStore(db, migrate=True)
    with store.transaction() as tx:
        tx.insert(PAYMENTS, r.Payment("p1", "o1", "cs1", "acct", Money(100, "EUR"), 1))
    with pytest.raises(IntegrityError) as err, store.transaction() as tx:
        tx.insert(PAYMENTS, r.Payment("p2", "o1", "cs2", "acct", Money(100, "EUR"), 1))
    assert err.value.fields["constraint"] == ("order_id",)
    assert err.value.fields["table"] == "payments"


def test_the_installation_row_is_read_once_and_kept_once_committed(db: Path) -> None:
    """The installation row never changes once committed: the store reads it once and
    keeps it; a row only inserted by a transaction that rolled back is not kept."""
    store = SQLiteStore(db, migrate=True)
    seen: list[str] = []
    store.connection().set_trace_callback(seen.append)
    row = r.Installation("this", "inst_1", 1)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert(INSTALLATION, row)
        raise RuntimeError("the transaction fails after the insert")
    with store.transaction() as tx:
        assert tx.get(INSTALLATION, "this") is None  # nothing kept from the rollback
        tx.insert(INSTALLATION, row)
    reads = [q for q in seen if q.startswith("SELECT") and "installation" in q]
    assert len(reads) == 1
    for _ in range(2):
        with store.transaction() as tx:
            assert tx.get(INSTALLATION, "this") == row
    assert [q for q in seen if q.startswith("SELECT") and "installation" in q] == reads
    store.close()
