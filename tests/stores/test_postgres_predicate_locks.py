"""What PostgreSQL's serializable transactions lock when paycore looks a row up, and why
concurrent lifecycles on sequential identifiers no longer refuse each other.

A serializable transaction keeps a predicate lock (SIReadLock) on each index page it
read, and PostgreSQL refuses a transaction that read a page a concurrent one wrote and
wrote a page that one read. paycore's identifiers are sequential (``ord_000123``), so in
a btree every recent row sits on the same rightmost leaf page; the lookups go through
hash indexes (``ddl.hashed_fields``, migration 4), whose buckets spread them, and never
through a sequential scan, which locks the whole table (``enable_seqscan = off``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs
import psycopg
import pytest

from paycore import records as r
from paycore.errors import IntegrityError, StoreConflict
from paycore.ports import Transaction
from paycore.schema import CURSORS, ORDERS, STOCK, TABLES
from paycore.status import OrderStatus
from paycore_adapters.sql.ddl import hashed_fields
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.sql.postgres_tx import POSTGRES_TABLES
from paycore_adapters.testing.rows import order

#: Rows in the table before the lookups are planned: several btree leaf pages' worth.
ROWS = 2000
WAIT_S = 30.0


def orders(store: PostgresStore, n: int) -> list[str]:
    """``n`` pending orders with sequential ids, as the core numbers them."""
    ids = [f"ord_{i:06d}" for i in range(1, n + 1)]
    with store.transaction() as tx:
        for i, oid in enumerate(ids):
            tx.insert(ORDERS, order(oid, f"cs_{i:06d}"))
    return ids


def generic_plan(conn: psycopg.Connection[tuple[object, ...]], sql: str) -> str:
    """The plan PostgreSQL keeps for ``sql`` once prepared (psycopg prepares a statement
    after its fifth run): the generic one, whatever the value looked up."""
    conn.execute("SET plan_cache_mode = force_generic_plan")
    conn.execute(f"PREPARE probe(text) AS {sql.replace('%s', '$1')}")
    try:
        rows = conn.execute("EXPLAIN EXECUTE probe('ord_000007')").fetchall()
    finally:
        conn.execute("DEALLOCATE probe")
    return "\n".join(str(row[0]) for row in rows)


class TestLookupsUseHashIndexes:
    def test_every_table_hashes_its_key_and_the_lookups_of_one_order_or_payment(self) -> None:
        """The key of every table but the logs, each single unique field, and the finds by
        order or payment."""
        hashed = {t.name: hashed_fields(t) for t in TABLES}
        assert hashed["orders"] == ("id", "checkout_session_id")
        assert hashed["payments"] == ("id", "provider_intent_id", "order_id")
        assert hashed["reservations"] == ("id", "order_id")
        assert hashed["refunds"] == ("id", "provider_refund_id", "payment_id")
        assert hashed["audit"] == hashed["stock_movements"] == ()
        assert all(hashed[t.name][0] == t.key for t in TABLES if not t.append_only)

    def test_a_lookup_by_key_or_unique_field_reads_the_hash_index(
        self, stores: Callable[..., PostgresStore]
    ) -> None:
        """The store's own statements, planned generically on a store connection over a
        table of many rows, read the hash index, never the btree or the whole table."""
        store = stores(max_size=2)
        orders(store, ROWS)
        t = POSTGRES_TABLES["orders"]
        with store.transaction() as tx:
            tx.get(ORDERS, "ord_000001")
            conn = tx.conn
            conn.execute("ANALYZE orders")
            by_key = generic_plan(conn, t.select)
            by_session = generic_plan(conn, t.finds["checkout_session_id"])
        assert "orders_id_hash" in by_key, by_key
        assert "orders_checkout_session_id_hash" in by_session, by_session

    def test_a_small_table_is_not_read_whole(self, stores: Callable[..., PostgresStore]) -> None:
        """A shop's few stock rows: a sequential scan would be the cheaper plan, and would
        lock the whole table."""
        store = stores(max_size=2)
        with store.transaction() as tx:
            for n in range(10):
                tx.insert(STOCK, r.Stock("s1", f"SKU-{n}", on_hand=5))
        with store.transaction() as tx:
            tx.get(STOCK, "s1/SKU-0")
            tx.conn.execute("ANALYZE stock")
            plan = generic_plan(tx.conn, POSTGRES_TABLES["stock"].select)
        assert "Seq Scan" not in plan and "stock_key_hash" in plan, plan


def pay(tx: Transaction, oid: str) -> None:
    """Read an order and mark it paid: a status change writes every index of the row."""
    row = tx.get(ORDERS, oid)
    assert row is not None
    tx.update(ORDERS, attrs.evolve(row, status=OrderStatus.PAID, version=row.version + 1))


def test_concurrent_status_changes_of_sequential_orders_both_commit(
    stores: Callable[..., PostgresStore],
) -> None:
    """Two transactions open at once, each reading its own order (neighbours in the key's
    order) and changing its status: both commit. Through the btree both read and wrote
    its last leaf page, and PostgreSQL refused the one to commit last (40001, a pivot)."""
    a_store, b_store = stores(max_size=2), stores(max_size=2)
    ids = orders(a_store, 300)
    failures: list[BaseException] = []

    def other() -> None:  # the whole of the second transaction, while the first is open
        try:
            with b_store.transaction() as tb:
                pay(tb, ids[-2])
        except BaseException as exc:
            failures.append(exc)

    with a_store.transaction() as ta:
        pay(ta, ids[-1])
        list(ta.scan(STOCK))  # sends the update: its index entries are written now
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(WAIT_S)
        assert not thread.is_alive(), "the second transaction waited for the first"
    assert failures == []
    assert a_store.stats["conflicts"] + b_store.stats["conflicts"] == 0
    paid = {o.id for o in a_store.snapshot().rows(ORDERS) if o.status is OrderStatus.PAID}
    assert paid == {ids[-1], ids[-2]}


class TestAValueFoundFreeThenTakenIsAConflict:
    """PostgreSQL reports a unique violation as a serialization failure only when both
    transactions read the same page of the constraint's btree; the lookups read hash
    indexes, so the store tells the case itself: the transaction looked the value up,
    found it free, and a transaction that committed since took it. Run again, it sees
    that row, as in a serial order."""

    @staticmethod
    def taken_meanwhile(store: PostgresStore, write: Callable[[Transaction], None]) -> None:
        with store.transaction() as tb:
            write(tb)

    def test_a_key_read_missing(self, stores: Callable[..., PostgresStore]) -> None:
        a_store, b_store = stores(max_size=2), stores(max_size=2)
        with pytest.raises(StoreConflict), a_store.transaction() as ta:
            assert ta.get(CURSORS, "batch:outbox") is None
            self.taken_meanwhile(
                b_store, lambda tb: tb.insert(CURSORS, r.Cursor("batch:outbox", "b"))
            )
            ta.insert(CURSORS, r.Cursor("batch:outbox", "a"))
            list(ta.scan(CURSORS))
        assert [c.value for c in a_store.snapshot().rows(CURSORS)] == ["b"]

    def test_a_unique_field_found_free(self, stores: Callable[..., PostgresStore]) -> None:
        a_store, b_store = stores(max_size=2), stores(max_size=2)
        with pytest.raises(StoreConflict), a_store.transaction() as ta:
            assert ta.find(ORDERS, "checkout_session_id", "cs_1") == []
            self.taken_meanwhile(b_store, lambda tb: tb.insert(ORDERS, order("o2", "cs_1")))
            ta.insert(ORDERS, order("o1", "cs_1"))
            list(ta.scan(ORDERS))
        assert [o.id for o in a_store.snapshot().rows(ORDERS)] == ["o2"]

    def test_a_value_seen_taken_or_never_looked_up_is_an_integrity_error(
        self, stores: Callable[..., PostgresStore]
    ) -> None:
        """A write of a value the transaction saw taken, or never looked up, is refused
        as before: a run again would be refused the same way."""
        a_store, b_store = stores(max_size=2), stores(max_size=2)
        with pytest.raises(IntegrityError), a_store.transaction() as ta:
            assert ta.get(ORDERS, "o9") is None  # another key: the session is not looked up
            self.taken_meanwhile(b_store, lambda tb: tb.insert(ORDERS, order("o2", "cs_1")))
            ta.insert(ORDERS, order("o1", "cs_1"))
            list(ta.scan(ORDERS))
        with pytest.raises(IntegrityError), a_store.transaction() as ta:
            assert len(ta.find(ORDERS, "checkout_session_id", "cs_1")) == 1
            ta.insert(ORDERS, order("o3", "cs_1"))
            list(ta.scan(ORDERS))
