"""The PostgreSQL store's schema: its version, and its migrations applied."""

from __future__ import annotations

from typing import Any

import psycopg

from paycore.errors import OperationalError

from . import migrate as migrations
from .foreign import foreign_tables, refusal
from .postgres_errors import translate

#: Key of the advisory lock that lets one process at a time migrate a database.
MIGRATION_LOCK = 0x70617963  # "payc"

Conn = psycopg.Connection[Any]


def version(conn: Conn) -> int:
    """The database's schema version (0: none yet)."""
    table = conn.execute("SELECT to_regclass(%s)", (migrations.TABLE,)).fetchone()
    if table is None or table[0] is None:
        return 0
    row = conn.execute(f"SELECT max(version) FROM {migrations.TABLE}").fetchone()
    return int(row[0] or 0) if row is not None else 0


def migrate(conninfo: str, store: str) -> list[int]:
    """Apply every pending migration, each in its own transaction with its row in
    ``paycore_migrations``, under an advisory lock (two instances starting at once
    migrate once), on a connection of its own; the versions applied. Every driver
    error is the port's (a lost connection, a role that may not ``CREATE``): ``store``
    names the store in its message."""
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            # The bookkeeping table under the lock too: two CREATE TABLE IF NOT EXISTS
            # at once can both try to create it.
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                _refuse_foreign(conn, store)  # before paycore's first table is made
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {migrations.TABLE} "
                    "(version bigint PRIMARY KEY, name text NOT NULL)"
                )
            return _apply(conn)
    except psycopg.Error as exc:
        raise translate(exc, f"migrating {store} failed") from None


def _apply(conn: Conn) -> list[int]:
    """The pending migrations applied one by one on ``conn`` (:func:`migrate`)."""
    done: list[int] = []
    at = 0
    while True:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                todo = migrations.pending("postgresql", version(conn))
                if not todo:
                    return done
                mig = todo[0]
                at = mig.version
                conn.execute(mig.sql.encode())  # a script: no parameters
                conn.execute(
                    f"INSERT INTO {migrations.TABLE} VALUES (%s, %s)", (mig.version, mig.name)
                )
        except psycopg.Error as exc:
            raise OperationalError(f"migration {at} failed: {exc}") from None
        done.append(mig.version)


def _refuse_foreign(conn: Conn, store: str) -> None:
    """Raise ``StoreNotPaycore`` (:mod:`.foreign`) when the schema the migrations would
    create their tables in (``current_schema()``) holds another program's tables and no
    ``paycore_migrations``. Tables in the database's other schemas are not looked at, nor
    are the objects an extension created there (``pg_stat_statements``'s views, PostGIS's
    ``spatial_ref_sys``): they belong to the extension, which any database may have."""
    rows = conn.execute(
        "SELECT c.relname, n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
        " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
        " AND d.objid = c.oid AND d.deptype = 'e')"
    ).fetchall()
    foreign = foreign_tables(str(name) for name, _ in rows)
    if foreign:
        raise refusal(f"the schema {rows[0][1]} of {store}", foreign)
