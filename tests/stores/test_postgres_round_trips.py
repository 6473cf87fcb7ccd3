"""Statements and round trips the PostgreSQL store saves: rows a transaction found are
known as rows it read are; the installation row is kept across transactions; a
transaction draws its log numbers with its first query."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import attrs
import psycopg
import pytest

from paycore.config import Config
from paycore.errors import IntegrityError
from paycore.records import AuditEntry, Installation
from paycore.schema import AUDIT, INSTALLATION, ORDERS, PAYMENTS
from paycore.status import PaymentStatus
from paycore_adapters.harness.pg_worlds import PostgresWorlds
from paycore_adapters.sql import postgres_pipe
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.sql.postgres_tx import PostgresTransaction
from paycore_adapters.testing.rows import payment


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The commands the store sent on their own (a commit not sent with writes)."""
    sent: list[bytes] = []
    command = postgres_pipe.command

    def noting(conn: Any, sql: bytes) -> None:
        sent.append(sql)
        command(conn, sql)

    monkeypatch.setattr(postgres_pipe, "command", noting)
    return sent


class TestRowsFound:
    """A row found by an indexed field (``find``) is known to the transaction."""

    def test_a_stale_update_of_a_found_row_fails_at_once(
        self, stores: Callable[..., PostgresStore]
    ) -> None:
        """Its update is checked against the version found, by the update itself."""
        store = stores(max_size=1)
        with store.transaction() as tx:
            tx.insert(PAYMENTS, payment("pay_1", intent="pi_1"))
        with pytest.raises(IntegrityError, match="stale write"), store.transaction() as tx:
            (found,) = tx.find(PAYMENTS, "provider_intent_id", "pi_1")
            tx.update(PAYMENTS, attrs.evolve(found, version=found.version + 2))
            raise AssertionError("the stale update was not refused at once")

    def test_an_update_of_a_found_row_commits_with_its_writes(
        self, stores: Callable[..., PostgresStore], commands: list[bytes]
    ) -> None:
        """Nothing is left to check after the writes, so the commit goes with them."""
        store = stores(max_size=1)
        with store.transaction() as tx:
            tx.insert(PAYMENTS, payment("pay_1", intent="pi_1"))
        with store.transaction() as tx:
            (found,) = tx.find(PAYMENTS, "provider_intent_id", "pi_1")
            new = attrs.evolve(found, status=PaymentStatus.CANCELED, version=found.version + 1)
            tx.update(PAYMENTS, new)
        assert commands == []
        assert store.snapshot().get(PAYMENTS, "pay_1") == new


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the store's transactions ran (not the writes they sent)."""
    ran: list[str] = []
    run = PostgresTransaction._run

    def noting(self: Any, sql: str, args: Any) -> Any:
        ran.append(sql)
        return run(self, sql, args)

    monkeypatch.setattr(PostgresTransaction, "_run", noting)
    return ran


def installation(store: PostgresStore) -> Installation | None:
    with store.transaction() as tx:
        return tx.get(INSTALLATION, "this")


class TestTheInstallationRow:
    """The installation row never changes once committed: the store keeps it across
    transactions (``paycore_adapters.sql.kept``)."""

    def test_a_committed_row_read_once_is_read_without_a_statement(
        self, stores: Callable[..., PostgresStore], statements: list[str]
    ) -> None:
        """Inserted and committed in one store, read once in another: its next
        transactions find it without a statement."""
        first, second = stores(max_size=1), stores(max_size=1)
        with first.transaction() as tx:
            tx.insert(INSTALLATION, ROW)
        assert installation(second) == ROW and len(statements) == 1
        assert installation(second) == ROW and installation(first) == ROW
        assert len(statements) == 1

    def test_a_row_not_committed_is_not_kept(
        self, stores: Callable[..., PostgresStore], statements: list[str]
    ) -> None:
        """A rolled-back insert keeps nothing, and an absent row is read each time."""
        store, other = stores(max_size=1), stores(max_size=1)
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.insert(INSTALLATION, ROW)
            raise RuntimeError("rolled back")
        assert installation(store) is None
        with other.transaction() as tx:
            tx.insert(INSTALLATION, ROW)
        assert installation(store) == ROW
        assert len(statements) == 2

    def test_a_reset_of_the_content_forgets_it(
        self, stores: Callable[..., PostgresStore], migrated_postgres_dsn: str
    ) -> None:
        """Emptied behind the store's back, the database has no installation row; once
        the store is told (as the harness tells it) it reads it so too."""
        store = stores(max_size=1)
        with store.transaction() as tx:
            tx.insert(INSTALLATION, ROW)
        with psycopg.connect(migrated_postgres_dsn, autocommit=True) as conn:
            conn.execute("TRUNCATE installation")
        assert installation(store) == ROW  # kept: the store was not told
        store.emptied()
        assert installation(store) is None

    def test_an_update_through_the_port_forgets_it(
        self, stores: Callable[..., PostgresStore]
    ) -> None:
        """paycore never updates the row; an update through the port is read after."""
        store = stores(max_size=1)
        with store.transaction() as tx:
            tx.insert(INSTALLATION, ROW)
        newer = attrs.evolve(ROW, created_at=2, version=1)
        with store.transaction() as tx:
            assert tx.get(INSTALLATION, "this") == ROW
            tx.update(INSTALLATION, newer)
        assert installation(store) == newer

    def test_a_reused_harness_world_has_none(self, postgres_server: str) -> None:
        """The harness's PostgreSQL worlds reuse a dropped world's database, emptied: the
        next world's store has no installation row, as a new database has none."""
        worlds = PostgresWorlds(postgres_server)
        try:
            world = worlds(Config())
            store = world.store
            assert isinstance(store, PostgresStore)
            with store.transaction() as tx:
                tx.insert(INSTALLATION, ROW)
            assert installation(store) == ROW
            del world
            gc.collect()
            again = worlds(Config())
            assert again.store is store
            assert installation(store) is None
        finally:
            worlds.close()


ROW = Installation("this", "inst_1", 1)


class TestLogNumbers:
    """A transaction's first exchange draws the log numbers its kind draws."""

    @staticmethod
    def audited(store: PostgresStore, order_id: str) -> int:
        """A transaction of one kind: it looks an order up first, then draws an audit
        number and writes an audit row with it."""
        with store.transaction() as tx:
            tx.get(ORDERS, order_id)
            seq = tx.next_seq("audit")
            tx.insert(AUDIT, AuditEntry(seq, 1, "order", order_id, None, "paid", "t", None))
        return seq

    def test_a_transaction_that_begins_as_one_that_drew_draws_with_its_begin(
        self, stores: Callable[..., PostgresStore], statements: list[str]
    ) -> None:
        """The second transaction of a kind draws its block with its first query, not
        on its own; the numbers still grow, and the log holds both rows."""
        store = stores(max_size=1)
        first = self.audited(store, "o1")
        assert [s.split()[0] for s in statements] == ["SELECT", "SELECT"]  # get, nextval
        statements.clear()
        second = self.audited(store, "o2")
        assert len(statements) == 1 and "nextval" not in statements[0]
        assert second > first
        assert sorted(a.seq for a in store.snapshot().rows(AUDIT)) == [first, second]

    def test_a_transaction_of_another_kind_draws_nothing_first(
        self, stores: Callable[..., PostgresStore], statements: list[str]
    ) -> None:
        """A kind that drew nothing last time draws nothing with its begin; a kind that
        did and then did not, draws nothing the time after."""
        store = stores(max_size=1)
        self.audited(store, "o1")
        with store.transaction() as tx:  # another first query, no draw
            tx.get(PAYMENTS, "pay_1")
        with store.transaction() as tx:  # the audited kind, drawing nothing this time
            tx.get(ORDERS, "o1")
        statements.clear()
        draws: list[Any] = []
        run = postgres_pipe.run

        def noting(conn: Any, names: Any, new_name: Any, batch: Any, *rest: Any) -> Any:
            draws.extend(sql for sql, _ in batch if "nextval" in sql)
            return run(conn, names, new_name, batch, *rest)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(postgres_pipe, "run", noting)
            with store.transaction() as tx:
                tx.get(PAYMENTS, "pay_1")
            with store.transaction() as tx:
                tx.get(ORDERS, "o1")
        assert draws == []
