"""Migrated databases lent to one test at a time, emptied between tests.

Copying the migrated template for every test (``CREATE DATABASE ... TEMPLATE``) makes
the server write out every dirty buffer first, and with the suite's other tests writing
meanwhile that cost about 0.2 to 0.5 s a test. A test's database is instead given back
when the test ends and lent to the next one emptied, the way the harness reuses its
worlds' databases (:func:`paycore_adapters.harness.pg_worlds.emptying`): every session
still on it ended, every table but the migrations' emptied, every sequence restarted.

A test may change more than rows (drop a constraint, add a table, record a migration
from the future, set a parameter on the database). A database whose definitions no
longer match the template's (:data:`DEFINITIONS`, compared as a digest) is dropped
instead of lent again, as is one that could not be emptied; the next test then gets a
new copy of the template.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from paycore_adapters.harness.pg_worlds import emptying
from paycore_adapters.sql import migrate

#: Everything about a database, rows aside, that a test could change and a later test
#: could trip over, as one digest: relations, columns, constraints, indexes, sequences,
#: triggers, functions, schemas, privileges, the database's own settings, and the
#: migrations' record.
DEFINITIONS = sql.SQL(
    """
SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
  SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' '
         || coalesce(c.relacl::text, '') || ' ' || c.relowner::regrole::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT 'col ' || a.attrelid::regclass::text || '.' || a.attname || ' '
         || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' '
         || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped
     AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT 'con ' || conrelid::regclass::text || ' ' || conname || ' '
         || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace <> 'pg_catalog'::regnamespace
  UNION ALL
  SELECT 'idx ' || indexdef FROM pg_indexes
   WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
  UNION ALL
  SELECT 'seq ' || schemaname || '.' || sequencename || ' ' || increment_by || ' '
         || start_value || ' ' || min_value || ' ' || max_value || ' ' || cycle
    FROM pg_sequences
  UNION ALL
  SELECT 'trg ' || tgrelid::regclass::text || ' ' || tgname || ' ' || tgenabled::text
    FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT 'fn ' || p.oid::regprocedure::text || ' ' || md5(coalesce(p.prosrc, ''))
    FROM pg_proc p WHERE p.pronamespace NOT IN
         ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  UNION ALL
  SELECT 'nsp ' || nspname || ' ' || coalesce(nspacl::text, '') FROM pg_namespace
  UNION ALL
  SELECT 'ext ' || extname || ' ' || extversion FROM pg_extension
  UNION ALL
  SELECT 'set ' || setrole::text || ' ' || array_to_string(setconfig, ',')
    FROM pg_db_role_setting
   WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
  UNION ALL
  SELECT 'mig ' || m::text FROM {migrations} m
) AS definitions(x)
"""
).format(migrations=sql.Identifier(migrate.TABLE))


class MigratedDatabases:
    """The migrated databases of one test process, copies of ``template`` on ``server``
    (the maintenance database's DSN), each lent to one test at a time."""

    def __init__(self, server: str, template: str) -> None:
        self.server, self.template = server, template
        self._free: list[str] = []
        self._made: list[str] = []
        with self._connect(template) as conn:
            self._digest = self._definitions(conn)
            self._empty = emptying(conn)
            self._require_empty(conn)

    @contextmanager
    def lent(self) -> Iterator[str]:
        """The DSN of a database of the template's, empty, for one test; given back after."""
        name = self._free.pop() if self._free else self._new()
        try:
            yield self._dsn(name)
        finally:
            self._give_back(name)

    def close(self) -> None:
        """Drop every database this process made."""
        with psycopg.connect(self.server, autocommit=True) as conn:
            for name in self._made:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self._free.clear()
        self._made.clear()

    def _new(self) -> str:
        name = f"paycore_test_{secrets.token_hex(6)}"
        create = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY")
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(create.format(sql.Identifier(name), sql.Identifier(self.template)))
        self._made.append(name)
        return name

    def _give_back(self, name: str) -> None:
        """Lend ``name`` again once emptied, if nothing but its rows changed; else drop it."""
        with psycopg.connect(self.server, autocommit=True) as conn:
            # The sessions a test left open (a store it did not close, a stuck thread's
            # connection) end here, as DROP DATABASE ... WITH (FORCE) ended them.
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        try:
            with self._connect(name) as conn:
                conn.execute("SET lock_timeout = '5s'")
                if self._definitions(conn) == self._digest:
                    conn.execute(self._empty)
                    self._free.append(name)
                    return
        except psycopg.Error:
            pass  # not emptied: dropped below, and the next test gets a new copy
        self._made.remove(name)
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def _require_empty(self, conn: psycopg.Connection[Any]) -> None:
        """Emptying a copy gives what a new copy holds only if the template's tables,
        the migrations' record aside, hold no row."""
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> %s",
            (migrate.TABLE,),
        ).fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            row = conn.execute(query).fetchone()
            assert row is not None and row[0] == 0, f"the template's {table} holds rows"

    @staticmethod
    def _definitions(conn: psycopg.Connection[Any]) -> str:
        row = conn.execute(DEFINITIONS).fetchone()
        assert row is not None
        return str(row[0])

    def _dsn(self, name: str) -> str:
        return psycopg.conninfo.make_conninfo(self.server, dbname=name)

    @contextmanager
    def _connect(self, name: str) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self._dsn(name), autocommit=True) as conn:
            yield conn
