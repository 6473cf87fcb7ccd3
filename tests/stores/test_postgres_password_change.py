"""The password of the store's role changes under a running store (a rotation, a
revoked account) and its sessions end: the pool's reconnects are refused, and a call
waits the pool's timeout. Its error now says why, from one direct connection tried
after the timeout (libpq's "password authentication failed", which the pool only
logged as warnings), instead of only "couldn't get a connection after N sec". Neither
password is in it, nor in the store's attributes."""

from __future__ import annotations

import contextlib
import os

import psycopg
import pytest
from psycopg import sql

from paycore.errors import OperationalError
from paycore_adapters.sql.postgres_store import PostgresStore

OLD, NEW = "oldPw4Rotation", "newPw4Rotation"


def test_a_refused_reconnect_is_told_in_the_servers_words(migrated_postgres_dsn: str) -> None:
    role = f"paycore_rotated_{os.getpid()}"  # roles are the server's, not the database's
    with psycopg.connect(migrated_postgres_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(OLD)
            )
        )
    url = psycopg.conninfo.make_conninfo(migrated_postgres_dsn, user=role, password=OLD)
    store = PostgresStore(url, max_size=1, timeout=1)
    try:
        assert OLD not in repr(vars(store)) and OLD not in repr(store)
        store.schema_version()
        with psycopg.connect(migrated_postgres_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(NEW))
            )
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
        with contextlib.suppress(OperationalError):
            store.schema_version()  # may meet the ended session itself first
        with pytest.raises(OperationalError) as refused:
            store.schema_version()
        told = refused.value.message
        assert "no connection to the PostgreSQL store" in told
        assert "a direct connection fails too" in told
        assert "password authentication failed" in told
        assert OLD not in str(refused.value) and NEW not in str(refused.value)
    finally:
        store.close()
        with psycopg.connect(migrated_postgres_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_busy_pool_says_so_without_a_probe(migrated_postgres_dsn: str) -> None:
    """Every pooled connection in use: that is the answer, and no direct connection is
    tried (one per waiting request would crowd a loaded server further)."""
    store = PostgresStore(migrated_postgres_dsn, max_size=1, timeout=1)
    try:
        with (
            store.transaction(),
            pytest.raises(OperationalError, match="every pooled connection was in use"),
        ):
            store.schema_version()
        assert store._pool.probed == (0.0, "")  # no direct connection was tried
    finally:
        store.close()
