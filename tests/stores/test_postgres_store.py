"""PostgresStore against the store contract, plus what only the PostgreSQL store promises:
typed columns an operator can query, SERIALIZABLE transactions whose conflicts and
deadlocks become StoreConflict, unique races as IntegrityError, a connection lost at
COMMIT as CommitUnknown, and migrations that build what the records declare."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import psycopg
import pytest

from paycore import records as r
from paycore.errors import CommitUnknown, IntegrityError, OperationalError, StoreConflict
from paycore.money import Money
from paycore.ports import Store, Transaction
from paycore.schema import AUDIT, ORDERS, STOCK, Table
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.sql import migrate
from paycore_adapters.sql.ddl import SEQUENCE_BLOCK
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.sql.postgres_tx import ROWS_PER_INSERT
from paycore_adapters.testing import StoreContract
from paycore_adapters.testing.store_contract import order

WAIT_S = 30.0  # how long a helper thread may take at most before the test gives up


class TestPostgresStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, migrated_postgres_dsn: str) -> Iterator[None]:
        self.dsn = migrated_postgres_dsn
        self.opened: list[PostgresStore] = []
        yield
        for store in self.opened:
            store.close()

    def make_store(self) -> Store:
        assert not self.opened, "one store per case: each case gets an empty database"
        store = PostgresStore(self.dsn, migrate=True, max_size=4)
        self.opened.append(store)
        return store


def test_columns_are_typed_for_an_operator(stores: Callable[[], PostgresStore]) -> None:
    """Money is bigint + text, an order's lines are jsonb an operator can query."""
    store = stores()
    line = r.OrderLine("p1", "MUG-BLUE", "s1", "Mug", Money(1250, "EUR"), 2)
    with store.transaction() as tx:
        tx.insert(ORDERS, attrs.evolve(order("o1"), lines=(line,)))
    with psycopg.connect(store.dsn) as conn:
        row = conn.execute(
            "SELECT total + 1, total_currency, status, pg_typeof(lines)::text,"
            " jsonb_typeof(lines) FROM orders"
        ).fetchone()
    assert row == (1001, "EUR", "pending", "jsonb", "object")


def test_transactions_are_serializable(stores: Callable[[], PostgresStore]) -> None:
    store = stores()
    with store.transaction() as tx:
        tx.get(ORDERS, "o1")
        conn = tx.conn
        (level,) = conn.execute("SHOW transaction_isolation").fetchone()
    assert level == "serializable"


def two_stocks(store: PostgresStore) -> tuple[str, str]:
    a, b = r.Stock("s1", "A", on_hand=1), r.Stock("s1", "B", on_hand=1)
    with store.transaction() as tx:
        tx.insert(STOCK, a)
        tx.insert(STOCK, b)
    return a.key, b.key


def stock_row(tx: Transaction, key: str) -> r.Stock:
    row = tx.get(STOCK, key)
    assert row is not None
    return row


def take_one_if_both_left(tx: Transaction, mine: str, other: str) -> None:
    """Skew-prone: take one unit of ``mine`` if both SKUs still have one (read both, write one)."""
    cur, theirs = stock_row(tx, mine), stock_row(tx, other)
    assert cur.on_hand == theirs.on_hand == 1
    tx.update(STOCK, attrs.evolve(cur, on_hand=0, version=cur.version + 1))


def bump(tx: Transaction, key: str) -> None:
    """Add one to a stock row, and hold its row lock from now on: a store sends its
    writes before a query of their table (the scan), so the UPDATE runs here."""
    cur = stock_row(tx, key)
    tx.update(STOCK, attrs.evolve(cur, on_hand=cur.on_hand + 1, version=cur.version + 1))
    send_writes(tx, STOCK)


def send_writes(tx: Transaction, table: Table[Any]) -> None:
    """A store sends a transaction's waiting writes before a query of their table: its
    row and index locks are taken from here on."""
    list(tx.scan(table))


def test_a_write_skew_is_refused_as_a_store_conflict(stores: Callable[[], PostgresStore]) -> None:
    """Two transactions each read both rows and write a different one: the second to
    commit gets StoreConflict (SQLSTATE 40001) and leaves nothing behind."""
    a_store, b_store = stores(), stores()
    a, b = two_stocks(a_store)
    with (
        pytest.raises(StoreConflict) as err,
        a_store.transaction() as ta,
        b_store.transaction() as tb,
    ):
        take_one_if_both_left(ta, a, b)
        take_one_if_both_left(tb, b, a)
        # leaving the block commits tb first, then ta
    assert err.value.fields["sqlstate"] == "40001"
    left = {k: s.on_hand for k, s in a_store.snapshot().tables["stock"].items()}
    assert sorted(left.values()) == [0, 1]
    assert a_store.stats["conflicts"] + b_store.stats["conflicts"] == 1


def test_a_conflict_in_the_pipeline_is_raised_without_the_drivers_warning(
    stores: Callable[[], PostgresStore], caplog: pytest.LogCaptureFixture
) -> None:
    """A row another transaction changed since this one read it: the update, sent with
    the commit in one pipeline, is refused (40001, concurrent update) and raised as
    StoreConflict, without psycopg's "error ignored terminating" warning for the pipeline
    it ended (in a service's logs, one per retried conflict)."""
    a_store, b_store = stores(), stores()
    with a_store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
    with (
        caplog.at_level("WARNING", logger="psycopg"),
        pytest.raises(StoreConflict) as err,
        a_store.transaction() as ta,
    ):
        mine = ta.get(ORDERS, "o1")  # this transaction's snapshot begins
        assert mine is not None
        with b_store.transaction() as tb:
            theirs = tb.get(ORDERS, "o1")
            assert theirs is not None
            tb.update(ORDERS, attrs.evolve(theirs, version=theirs.version + 1))
        ta.update(ORDERS, attrs.evolve(mine, version=mine.version + 1))
    assert err.value.fields["sqlstate"] == "40001"
    assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []


def run_in_thread(fn: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def body() -> None:
        try:
            fn()
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, failures


def wait_until_blocked(dsn: str, count: int) -> None:
    """Until ``count`` sessions of this database wait for a lock (bounded by WAIT_S)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(int(WAIT_S / 0.02)):
            (n,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone() or (0,)
            if n >= count:
                return
            threading.Event().wait(0.02)
    raise AssertionError(f"{count} sessions never waited for a lock")


def test_a_deadlock_is_a_store_conflict(stores: Callable[[], PostgresStore]) -> None:
    """Two transactions update two rows in opposite orders: PostgreSQL breaks the
    deadlock by refusing one (40P01, or 40001 under SERIALIZABLE); it is a StoreConflict
    and the other commits."""
    a_store, b_store = stores(), stores()
    a, b = two_stocks(a_store)
    holding = threading.Event()
    release = threading.Event()

    def other() -> None:
        with b_store.transaction() as tx:
            bump(tx, b)
            holding.set()
            release.wait(WAIT_S)
            bump(tx, a)

    thread, failures = run_in_thread(other)
    outcome: BaseException | None = None
    try:
        with a_store.transaction() as tx:
            bump(tx, a)
            assert holding.wait(WAIT_S)
            release.set()
            wait_until_blocked(a_store.dsn, 1)
            bump(tx, b)
    except StoreConflict as exc:
        outcome = exc
    thread.join(WAIT_S)
    refused = [e for e in [outcome, *failures] if e is not None]
    assert len(refused) == 1 and isinstance(refused[0], StoreConflict), refused
    assert refused[0].fields["sqlstate"] in ("40P01", "40001")
    stock = a_store.snapshot().tables["stock"]
    assert sorted(s.on_hand for s in stock.values()) == [2, 2]


def test_a_unique_race_is_an_integrity_error(stores: Callable[[], PostgresStore]) -> None:
    """Two transactions insert an order for one checkout session at once: the second
    waits for the first, then gets IntegrityError naming the constraint."""
    a_store, b_store = stores(), stores()

    def second() -> None:
        with b_store.transaction() as tx:
            tx.insert(ORDERS, order("o2", "cs_1"))
            send_writes(tx, ORDERS)

    with a_store.transaction() as tx:
        tx.insert(ORDERS, order("o1", "cs_1"))
        send_writes(tx, ORDERS)
        thread, failures = run_in_thread(second)
        wait_until_blocked(a_store.dsn, 1)
    thread.join(WAIT_S)
    assert len(failures) == 1 and isinstance(failures[0], IntegrityError), failures
    assert failures[0].fields["constraint"] == ("checkout_session_id",)
    assert failures[0].fields["table"] == "orders"
    assert [o.id for o in a_store.snapshot().rows(ORDERS)] == ["o1"]


def test_a_connection_lost_at_commit_is_commit_unknown(
    stores: Callable[[], PostgresStore], postgres_server: str
) -> None:
    """The server ends the session just before COMMIT: the caller gets CommitUnknown
    (it cannot tell whether the commit happened), and the store goes on."""
    store = stores()
    with pytest.raises(CommitUnknown), store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
        pid = tx.conn.info.backend_pid
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o2"))
    assert [o.id for o in store.snapshot().rows(ORDERS)] == ["o2"]


def test_an_unmigrated_database_is_refused_with_the_command_to_run(postgres_dsn: str) -> None:
    with pytest.raises(migrate.SchemaNotMigrated, match="paycore migrate"):
        PostgresStore(postgres_dsn)
    store = PostgresStore(postgres_dsn, migrate=True)
    try:
        assert store.schema_version() == migrate.latest("postgresql")
        assert store.migrate() == []
    finally:
        store.close()


def test_a_database_from_a_newer_paycore_is_refused(
    stores: Callable[[], PostgresStore], migrated_postgres_dsn: str
) -> None:
    stores()
    with psycopg.connect(migrated_postgres_dsn) as conn:
        conn.execute(f"INSERT INTO {migrate.TABLE} VALUES (99, 'from_the_future')")
    with pytest.raises(migrate.SchemaTooNew):
        PostgresStore(migrated_postgres_dsn)


def test_a_database_that_is_not_there_is_an_operational_error(postgres_dsn: str) -> None:
    """Opening a store on a missing database fails at once with the server's reason."""
    missing = psycopg.conninfo.make_conninfo(postgres_dsn, dbname="paycore_no_such_db")
    with pytest.raises(OperationalError, match="paycore_no_such_db"):
        PostgresStore(missing, timeout=5)


def test_a_connection_lost_mid_transaction_leaves_nothing(
    stores: Callable[[], PostgresStore], postgres_server: str
) -> None:
    """The server ends the session between two writes: the next statement is an
    OperationalError, the first write is gone, and the store goes on."""
    store = stores()
    with pytest.raises(OperationalError) as err, store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
        send_writes(tx, ORDERS)
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (tx.conn.info.backend_pid,))
        tx.insert(ORDERS, order("o2"))
        send_writes(tx, ORDERS)
    assert not isinstance(err.value, CommitUnknown)  # it failed before COMMIT: nothing is in
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o3"))
    assert [o.id for o in store.snapshot().rows(ORDERS)] == ["o3"]


def test_any_constraint_refusing_a_write_is_an_integrity_error(
    stores: Callable[[], PostgresStore],
) -> None:
    """A NOT NULL column given None (a record built wrongly) is IntegrityError too, and
    the transaction rolls back whole."""
    store = stores()
    with pytest.raises(IntegrityError) as err, store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
        tx.insert(ORDERS, attrs.evolve(order("o2"), seller_id=None))
    assert err.value.fields["table"] == "orders"
    assert store.snapshot().rows(ORDERS) == []


def test_a_snapshot_inside_a_transaction_sees_committed_data_only(
    stores: Callable[[], PostgresStore],
) -> None:
    """A snapshot taken while this thread's transaction is open does not wait for it
    (it would wait forever) and shows only what was committed."""
    store = stores()
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
        assert store.snapshot().get(ORDERS, "o1") is None
    assert store.snapshot().get(ORDERS, "o1") == order("o1")


def test_log_rows_beyond_one_statement_are_all_written(
    stores: Callable[[], PostgresStore],
) -> None:
    """A transaction's log rows go in multi-row INSERTs of at most ROWS_PER_INSERT rows:
    more than two statements' worth all arrive, in order, and a duplicate among them is
    the port's IntegrityError naming the audit table."""
    store = stores()
    n = 2 * ROWS_PER_INSERT + 7

    def entry(seq: int) -> r.AuditEntry:
        return r.AuditEntry(seq, 0, "order", f"o{seq % 5}", None, "pending", "test", None)

    with store.transaction() as tx:
        for seq in range(1, n + 1):
            tx.insert(AUDIT, entry(seq))
    assert [a.seq for a in store.snapshot().rows(AUDIT)] == list(range(1, n + 1))
    with pytest.raises(IntegrityError) as err, store.transaction() as tx:
        for seq in range(n + 1, n + 1 + ROWS_PER_INSERT):
            tx.insert(AUDIT, entry(seq))
        tx.insert(AUDIT, entry(3))
    assert err.value.fields["table"] == "audit"
    assert len(store.snapshot().rows(AUDIT)) == n


def test_transactions_at_once_take_log_numbers_without_a_conflict(
    stores: Callable[[], PostgresStore],
) -> None:
    """The audit log's numbers come from a sequence object, a block per draw: two
    transactions open at once that both write the log both commit (when the number was a
    row of ``paycore_sequences``, the second to bump it was refused with 40001), and no
    number is given twice."""
    a_store, b_store = stores(), stores()

    def entry(seq: int, order_id: str) -> r.AuditEntry:
        return r.AuditEntry(seq, 0, "order", order_id, None, "pending", "test", None)

    drawn: list[int] = []

    def other() -> None:  # draws and commits while the first transaction is open
        with b_store.transaction() as tb:
            drawn.append(tb.next_seq("audit"))
            tb.insert(AUDIT, entry(drawn[-1], "o2"))

    with a_store.transaction() as ta:
        drawn.append(ta.next_seq("audit"))
        ta.insert(AUDIT, entry(drawn[0], "o1"))
        thread, failures = run_in_thread(other)
        thread.join(WAIT_S)
        assert not thread.is_alive(), "the second transaction waited for the first"
        assert failures == []
        drawn.append(ta.next_seq("audit"))
        ta.insert(AUDIT, entry(drawn[2], "o1"))
    assert len(set(drawn)) == 3 and drawn[0] < drawn[2]
    assert a_store.stats["conflicts"] + b_store.stats["conflicts"] == 0
    logged = sorted(e.seq for e in a_store.snapshot().rows(AUDIT))
    assert logged == sorted(drawn)


def test_stores_compare_by_log_order_not_log_numbers(stores: Callable[[], PostgresStore]) -> None:
    """The fingerprint renumbers the log 1, 2, 3... in its numbers' order: the memory
    store's, for the same entries in the same order, though PostgreSQL skipped numbers."""
    store, memory = stores(), MemoryStore()
    for target in (store, memory):
        for order_id in ("o1", "o2"):
            with target.transaction() as tx:
                seq = tx.next_seq("audit")
                tx.insert(
                    AUDIT, r.AuditEntry(seq, 0, "order", order_id, None, "pending", "t", None)
                )
    numbers = sorted(e.seq for e in store.snapshot().rows(AUDIT))
    assert numbers == [1, 1 + SEQUENCE_BLOCK], "a block per transaction: numbers skipped"
    assert store.fingerprint() == memory.fingerprint()
