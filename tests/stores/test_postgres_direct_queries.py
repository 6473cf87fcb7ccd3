"""The PostgreSQL store's queries inside a transaction run on libpq directly
(``PostgresTransaction._query``): the same rows and errors as through psycopg's cursor,
at about half the CPU."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import psycopg
import pytest

from paycore.errors import DataError, OperationalError, StoreConflict
from paycore.schema import ORDERS, PAYMENTS
from paycore_adapters.sql import postgres_pipe, postgres_tx
from paycore_adapters.sql.postgres_pipe import numbered, text_value, text_values
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.sql.postgres_tx import PostgresTransaction, Rows
from paycore_adapters.testing.rows import order, payment


@pytest.fixture
def cursor_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements that went through psycopg's cursor."""
    seen: list[str] = []
    original = psycopg.Cursor.execute

    def execute(self: Any, query: Any, params: Any = None, *args: Any, **kw: Any) -> Any:
        seen.append(str(query))
        return original(self, query, params, *args, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return seen


def test_values_are_sent_in_text_format() -> None:
    assert [text_value(v) for v in ("pay_1", 7, -3, True, False, None)] == [
        b"pay_1", b"7", b"-3", b"t", b"f", None,
    ]  # fmt: skip
    with pytest.raises(TypeError):
        text_value(1.5)
    assert text_values(("pay_1", 7, -3, True, False, None, 10**12)) == [
        b"pay_1", b"7", b"-3", b"t", b"f", None, b"1000000000000",
    ]  # fmt: skip
    assert text_values(("pay_1", 1.5)) is None  # psycopg adapts it
    assert numbered('SELECT 1 FROM "t" WHERE "a" = %s AND "b" <= %s') == (
        b'SELECT 1 FROM "t" WHERE "a" = $1 AND "b" <= $2'
    )


def test_queries_skip_the_cursor_and_are_prepared_once(
    stores: Callable[..., PostgresStore], cursor_runs: list[str]
) -> None:
    """Every statement, the transaction's first included (it goes with the ``BEGIN``), is
    prepared on the connection at its first use and run by name after."""
    store = stores(max_size=2)
    with store.transaction() as tx:
        tx.insert(PAYMENTS, payment("pay_1", intent="pi_1"))
    assert len(postgres_tx._PREPARED[tx.conn]) == 1
    cursor_runs.clear()  # the store's opening (migrations, the session's settings)
    for _ in range(2):
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o1") is None
            found = tx.get(PAYMENTS, "pay_1")
            assert found is not None and found.provider_intent_id == "pi_1"
            assert tx.find(PAYMENTS, "provider_intent_id", "pi_1") == [found]
            prepared = dict(postgres_tx._PREPARED[tx.conn])
    assert cursor_runs == []
    assert len(prepared) == 4  # the insert, the two gets, the find


def test_the_first_statement_goes_with_the_begin(
    stores: Callable[..., PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction's first query, or its first writes, and its ``BEGIN`` are one
    exchange (one libpq pipeline); the transaction is SERIALIZABLE; a commit on its own
    is one libpq command, not psycopg's."""
    store = stores(max_size=1)
    begins: list[bool] = []
    run = postgres_pipe.run

    def counting(*args: Any) -> Any:
        begins.append(args[-1])
        return run(*args)

    def no_psycopg_commit(conn: Any) -> None:
        raise AssertionError("psycopg's commit was called")

    monkeypatch.setattr(postgres_pipe, "run", counting)
    monkeypatch.setattr(psycopg.Connection, "commit", no_psycopg_commit)
    with store.transaction() as tx:
        assert isinstance(tx, PostgresTransaction)
        (level,) = tx._run("SELECT current_setting('transaction_isolation')", ()).fetchone()
        assert level == "serializable" and begins == [True]
        assert tx.get(ORDERS, "o1") is None  # inside the open transaction: no pipeline
    assert begins == [True]
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))  # sent at the end: begin, insert, commit
    assert begins == [True, True]
    with store.transaction() as tx:
        assert tx.get(ORDERS, "o1") is not None
    assert store.stats["commits"] == 3


def test_rows_read_directly_equal_the_cursors(stores: Callable[..., PostgresStore]) -> None:
    """Every column kind (text, bigint, boolean, jsonb, nulls) loads as psycopg loads it."""
    store = stores(max_size=2)
    made = order("o1", "cs_1")
    with store.transaction() as tx:
        tx.insert(ORDERS, made)
        tx.insert(PAYMENTS, payment("pay_1"))
    with store.transaction() as tx:
        assert isinstance(tx, PostgresTransaction)
        tx.get(ORDERS, "nothing")
        sql = tx._sql["orders"].select
        direct = tx._run(sql, ("o1",))
        through_cursor = tx.conn.execute(sql, ("o1",)).fetchall()
        assert isinstance(direct, Rows) and list(direct) == through_cursor
        assert direct.fetchone() == through_cursor[0]
        assert tx._sql["orders"].map.record(direct.fetchone()) == made
        pay = tx._sql["payments"]
        assert (
            list(tx._run(pay.select, ("pay_1",)))
            == tx.conn.execute(pay.select, ("pay_1",)).fetchall()
        )


def test_an_error_of_a_direct_query_is_the_ports(stores: Callable[..., PostgresStore]) -> None:
    """A statement the server refuses is the port's error (a value it cannot read, SQLSTATE
    class 22: DataError, not retryable), and the transaction rolls back; the store goes on."""
    store = stores(max_size=2)
    with pytest.raises(DataError) as err, store.transaction() as tx:
        assert isinstance(tx, PostgresTransaction)
        tx.get(ORDERS, "o1")
        tx._run('SELECT 1 FROM "orders" WHERE "version" = %s::bigint', ("not a number",))
    assert not isinstance(err.value, StoreConflict)
    assert "invalid input syntax" in str(err.value)
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
    with store.transaction() as tx:
        row = tx.get(ORDERS, "o1")
        assert row is not None
        tx.update(ORDERS, attrs.evolve(row, version=row.version + 1))


def test_queries_after_a_rollback_run_on_the_statements_prepared_before(
    stores: Callable[..., PostgresStore],
) -> None:
    """psycopg prepares nothing on the store's connections, so no rollback deallocates the
    store's statements (psycopg sends ``DEALLOCATE ALL`` at one once it prepared its own:
    a statement's sixth run)."""
    store = stores(max_size=2)
    for n in range(8):
        with store.transaction() as tx:
            assert tx.conn.prepare_threshold is None
            tx.get(ORDERS, "first")
            tx.insert(PAYMENTS, payment(f"pay_{n}"))
            assert tx.get(PAYMENTS, f"pay_{n - 1}") is not None or n == 0
            names = dict(postgres_tx._PREPARED[tx.conn])
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.get(ORDERS, "first")
        raise RuntimeError("rolled back")
    with store.transaction() as tx:
        tx.get(ORDERS, "first")
        assert tx.get(PAYMENTS, "pay_7") is not None
        assert postgres_tx._PREPARED[tx.conn] == names
    assert store.stats["rollbacks"] == 1


def test_a_session_that_lost_the_statements_makes_them_again(
    stores: Callable[..., PostgresStore],
) -> None:
    """Someone deallocated every statement of the session: the query that finds its
    statement gone fails its transaction (OperationalError); the next ones prepare theirs
    again, under new names."""
    store = stores(max_size=2)
    with store.transaction() as tx:
        tx.get(ORDERS, "first")
        tx.get(PAYMENTS, "pay_1")
        before = set(postgres_tx._PREPARED[tx.conn].values())
        tx.conn.pgconn.exec_(b"DEALLOCATE ALL")
    with pytest.raises(OperationalError, match="does not exist"), store.transaction() as tx:
        tx.get(ORDERS, "first")
        tx.get(PAYMENTS, "pay_1")
    with store.transaction() as tx:
        tx.get(ORDERS, "first")
        assert tx.get(PAYMENTS, "pay_1") is None
        assert not before & set(postgres_tx._PREPARED[tx.conn].values())


def test_a_pipeline_that_finds_its_statement_gone_makes_them_again(
    stores: Callable[..., PostgresStore],
) -> None:
    """The same for writes sent in one pipeline: the transaction whose write finds its
    statement gone fails (OperationalError); the next one prepares it again."""
    store = stores(max_size=1)
    with store.transaction() as tx:
        tx.insert(PAYMENTS, payment("pay_1"))
    with pytest.raises(OperationalError, match="does not exist"), store.transaction() as tx:
        tx.conn.pgconn.exec_(b"DEALLOCATE ALL")
        tx.insert(PAYMENTS, payment("pay_2"))
    with store.transaction() as tx:
        tx.insert(PAYMENTS, payment("pay_3"))
    assert sorted(store.snapshot().tables[PAYMENTS.name]) == ["pay_1", "pay_3"]


class TestWritesInOnePipeline:
    """``postgres_pipe.send``: the writes and the commit in one libpq pipeline."""

    @pytest.fixture
    def conn(self, stores: Callable[..., PostgresStore]) -> Iterator[Any]:
        store = stores(max_size=2)
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1", "cs_1"))
        aborted = False
        try:
            with store.transaction() as tx:
                tx.get(ORDERS, "o1")  # the transaction is open
                yield tx.conn
                aborted = tx.conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.INERROR
        except OperationalError:  # a case left the server's transaction aborted:
            assert aborted  # its COMMIT is refused (it was counted as one, committing nothing)

    @staticmethod
    def send(conn: Any, batch: list[Any], commit: bool = False) -> list[int]:
        names: dict[str, bytes] = {}
        return postgres_pipe.send(conn, names, postgres_tx._new_name, batch, commit)

    def test_row_counts_in_order(self, conn: Any) -> None:
        update = 'UPDATE "orders" SET "total" = %s WHERE "id" = %s'
        assert self.send(conn, [(update, [b"5", b"o1"]), (update, [b"5", b"nope"])]) == [1, 0]

    def test_the_refused_write_is_named_and_those_after_it_skipped(self, conn: Any) -> None:
        update = 'UPDATE "orders" SET "checkout_session_id" = %s WHERE "id" = %s'
        mark = 'UPDATE "orders" SET "total" = %s WHERE "id" = %s'
        with pytest.raises(postgres_pipe.PipelineFailed) as err:
            self.send(conn, [(mark, [b"7", b"o1"]), (update, [None, b"o1"]), (mark, [b"8", b"o1"])])
        assert err.value.at == 1 and isinstance(err.value.exc, psycopg.IntegrityError)
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.INERROR

    def test_a_statement_the_server_cannot_prepare_is_named(self, conn: Any) -> None:
        mark = 'UPDATE "orders" SET "total" = %s WHERE "id" = %s'
        with pytest.raises(postgres_pipe.PipelineFailed) as err:
            self.send(conn, [(mark, [b"7", b"o1"]), ("UPDATE nowhere SET x = %s", [b"1"])])
        assert err.value.at == 1 and err.value.exc.sqlstate == "42P01"

    def test_the_commit_goes_with_the_writes(self, conn: Any) -> None:
        mark = 'UPDATE "orders" SET "total" = %s WHERE "id" = %s'
        assert self.send(conn, [(mark, [b"9", b"o1"])], commit=True) == [1]
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute('SELECT "total" FROM "orders"').fetchone() == (9,)
