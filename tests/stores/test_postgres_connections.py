"""The PostgreSQL store's connections: dead ones after a restart (the server ending the
sessions, as ``pg_terminate_backend`` does), the sessions' timeouts, TCP keepalives, and
a migration the role may not run."""

from __future__ import annotations

import os
import time

import attrs
import psycopg
import pytest
from psycopg import sql

from paycore.errors import CommitUnknown, OperationalError, StoreConflict
from paycore.records import Seller
from paycore.schema import ORDERS, SELLERS
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.testing.rows import order


def _end_sessions(dsn: str, *pids: int) -> int:
    """End ``pids`` (every other session on the database if none) as a restart would, and
    wait until they are gone; how many were ended."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        me = admin.info.backend_pid
        if not pids:
            rows = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> %s AND backend_type = 'client backend'",
                (me,),
            ).fetchall()
            pids = tuple(int(r[0]) for r in rows)
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(400):  # the sessions end a moment after the signal
            gone = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)
            ).fetchone()
            if gone is not None and gone[0] == 0:
                break
            time.sleep(0.02)
    return len(pids)


def test_after_the_sessions_end_every_transaction_still_runs(migrated_postgres_dsn: str) -> None:
    """Every pooled connection dead at once (a restart, a failover): none fails a call."""
    store = PostgresStore(migrated_postgres_dsn, min_size=3, max_size=3)
    try:
        with store.transaction() as tx:
            assert tx.get(ORDERS, "zz") is None
        assert _end_sessions(migrated_postgres_dsn) >= 3
        for i in range(5):
            with store.transaction() as tx:
                assert tx.get(ORDERS, "zz") is None
                tx.insert(SELLERS, Seller(f"s{i}", "Mug Shop", "acct_1"))
        assert all(store.snapshot().get(SELLERS, f"s{i}") is not None for i in range(5))
    finally:
        store.close()


def test_a_transaction_whose_first_exchange_meets_a_dead_connection_runs_on_another(
    migrated_postgres_dsn: str,
) -> None:
    """The connection dies after the checkout, before the transaction's first statement
    (which carries its BEGIN): that exchange runs again on a fresh connection."""
    store = PostgresStore(migrated_postgres_dsn, max_size=2)
    try:
        with store.transaction() as tx:
            first = tx.conn.info.backend_pid
            _end_sessions(migrated_postgres_dsn, first)
            assert tx.get(ORDERS, "zz") is None
            assert tx.conn.info.backend_pid != first
            tx.insert(SELLERS, Seller("s1", "Mug Shop", "acct_1"))
        assert store.snapshot().get(SELLERS, "s1") == Seller("s1", "Mug Shop", "acct_1")
        with store.transaction() as tx:  # writes first: BEGIN with the writes, no COMMIT
            _end_sessions(migrated_postgres_dsn, tx.conn.info.backend_pid)
            tx.insert(ORDERS, order("o1"))
            assert tx.find(ORDERS, "checkout_session_id", "cs_o1") == [order("o1")]
        assert store.snapshot().get(ORDERS, "o1") == order("o1")
    finally:
        store.close()


def test_a_connection_that_dies_after_an_exchange_is_not_run_again(
    migrated_postgres_dsn: str,
) -> None:
    """Once an exchange succeeded the transaction fails (the caller saw its results);
    an exchange that carried the COMMIT stays CommitUnknown."""
    store = PostgresStore(migrated_postgres_dsn, max_size=2)
    try:
        with pytest.raises(OperationalError) as failed, store.transaction() as tx:
            assert tx.get(ORDERS, "zz") is None
            _end_sessions(migrated_postgres_dsn, tx.conn.info.backend_pid)
            tx.get(ORDERS, "yy")
        assert not isinstance(failed.value, CommitUnknown)
        with pytest.raises(CommitUnknown), store.transaction() as tx:
            _end_sessions(migrated_postgres_dsn, tx.conn.info.backend_pid)
            tx.insert(SELLERS, Seller("s2", "Mug Shop", "acct_1"))  # sent with the COMMIT
        with store.transaction() as tx:  # and the store goes on
            assert tx.get(SELLERS, "s2") is None
    finally:
        store.close()


def test_a_row_lock_held_by_a_stalled_session_is_given_up_as_a_conflict(
    migrated_postgres_dsn: str,
) -> None:
    """A transaction waiting on a row lock held by a session that stalled gives up after
    ``lock_timeout`` (55P03) with StoreConflict, which the engine runs again."""
    store = PostgresStore(migrated_postgres_dsn, max_size=2, lock_timeout=0.2)
    try:
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        with psycopg.connect(migrated_postgres_dsn) as stalled:
            stalled.execute("SELECT 1 FROM orders WHERE id = 'o1' FOR UPDATE")  # then nothing
            with pytest.raises(StoreConflict), store.transaction() as tx:
                row = tx.get(ORDERS, "o1")
                assert row is not None
                tx.update(ORDERS, attrs.evolve(row, version=row.version + 1))
            stalled.rollback()
        with store.transaction() as tx:  # the lock released, the same update runs
            row = tx.get(ORDERS, "o1")
            assert row is not None
            tx.update(ORDERS, attrs.evolve(row, version=row.version + 1))
        assert store.stats["conflicts"] == 1
    finally:
        store.close()


def _session(store: PostgresStore) -> dict[str, str]:
    names = ("lock_timeout", "idle_in_transaction_session_timeout", "enable_seqscan")
    with store.transaction() as tx:
        got = {n: str(tx.conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(n))).fetchone()[0])
               for n in names}  # fmt: skip
        got.update({o.keyword.decode(): o.val.decode() for o in tx.conn.pgconn.info
                    if o.keyword.startswith((b"keepalives", b"tcp_user")) and o.val})  # fmt: skip
    return got


def test_sessions_have_timeouts_and_keepalives_unless_told_otherwise(
    migrated_postgres_dsn: str,
) -> None:
    store = PostgresStore(migrated_postgres_dsn, max_size=1)
    try:
        assert _session(store) == {
            "lock_timeout": "5s",
            "idle_in_transaction_session_timeout": "30s",
            "enable_seqscan": "off",
            "keepalives": "1",
            "keepalives_idle": "30",
            "keepalives_interval": "10",
            "keepalives_count": "3",
            "tcp_user_timeout": "60000",
        }
    finally:
        store.close()
    told = psycopg.conninfo.make_conninfo(
        migrated_postgres_dsn, options="-c lock_timeout=7s", keepalives_idle="5"
    )
    store = PostgresStore(told, max_size=1, idle_in_transaction_timeout=0)
    try:
        got = _session(store)
        assert got["lock_timeout"] == "7s" and got["keepalives_idle"] == "5"
        assert got["idle_in_transaction_session_timeout"] == "0"
    finally:
        store.close()


def test_a_role_that_may_not_create_gets_a_typed_error(postgres_dsn: str) -> None:
    """``migrate`` as a role without CREATE on the schema: the port's OperationalError."""
    role = f"paycore_nocreate_{os.getpid()}"  # roles are the server's, not the database's
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'nocreate'").format(sql.Identifier(role))
        )
        admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    nopriv = psycopg.conninfo.make_conninfo(postgres_dsn, user=role, password="nocreate")
    try:
        with pytest.raises(OperationalError, match="permission denied"):
            PostgresStore(nopriv, migrate=True, max_size=1)
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_check_may_pause_inside_its_snapshot_past_the_idle_timeout(
    migrated_postgres_dsn: str,
) -> None:
    """``paycore check`` reads the provider's books again while its snapshot is open;
    the session's idle-in-transaction timeout must not end that read-only snapshot."""
    store = PostgresStore(migrated_postgres_dsn, max_size=1, idle_in_transaction_timeout=0.2)
    try:
        with store.streamed() as view:
            time.sleep(0.6)  # idle inside the snapshot, three times the timeout
            assert list(view.rows(ORDERS)) == []
    finally:
        store.close()


def test_a_transaction_ended_by_the_idle_timeout_commits_nothing_and_the_store_goes_on(
    migrated_postgres_dsn: str,
) -> None:
    """A transaction left idle past ``idle_in_transaction_session_timeout`` is ended by
    the server before its COMMIT arrives. libpq does not pass on the server's FATAL
    25P03 here (the COMMIT meets a closed connection: "server closed the connection
    unexpectedly"), so the client cannot tell this from a connection cut after the
    commit: CommitUnknown, the safe answer. Nothing was committed, and the store goes on
    on a fresh connection."""
    store = PostgresStore(migrated_postgres_dsn, max_size=1, idle_in_transaction_timeout=0.2)
    try:
        with pytest.raises(CommitUnknown), store.transaction() as tx:
            assert tx.get(ORDERS, "o1") is None  # the transaction is open on the server
            tx.insert(ORDERS, order("o1"))  # queued; sent with the COMMIT
            time.sleep(0.8)  # idle, four times the timeout: the server ends the session
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o1") is None
    finally:
        store.close()
