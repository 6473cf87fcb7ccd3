"""Harness worlds on PostgreSQL: a database per example on one server.

Each example's store is a database copied from a template migrated once per run
(``CREATE DATABASE ... TEMPLATE``, a file copy on the server); a seeded bug that does
without a unique constraint (``SeededBug.drops``) gets a template without it. Once the
wiring of a world is dropped, its store, connections and database are kept for the
next world, emptied first (its tables' rows deleted and its sequences restarted: what the
template holds, the migrations' record aside), instead of dropping the database and
copying the template again: copying, connecting and dropping cost more than the
example's own transactions (an explored state is one example). Everything the run made
is dropped when it ends.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import itertools
import os
import secrets
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from paycore.config import Config
from paycore.errors import OperationalError

from ..memory import Wiring, in_memory
from ..signing import Secret
from ..sql import ddl, dsn, migrate
from ..sql.columns import MAPS
from ..sql.postgres_store import PostgresStore
from .bugs.catalog import dropped_constraints

#: Connections per example's store: the world's own and a race's three workers.
POOL = 6
#: Databases made before a dropped world's is looked for by collecting garbage first.
SPARE = 4


class PostgresWorlds:
    """Makes one wiring per example, each on a new database of the server at ``server``.

    ``server`` is screened as a store's URL is (:func:`.sql.dsn.refusal`: libpq's words
    about a URL it cannot read quote it, password and all), and held as a Secret; a
    failure to connect or to make a database is :class:`OperationalError` naming the
    server without its password."""

    def __init__(self, server: str) -> None:
        why = dsn.refusal(server)
        if why is not None:
            raise OperationalError(f"cannot use the harness's PostgreSQL server: {why}")
        self._server = Secret(server)
        del server  # from here on a Secret in every frame of this call
        self.prefix = f"paycore_harness_{os.getpid()}_{secrets.token_hex(3)}"
        self.template = f"{self.prefix}_template"
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        #: stores whose world is gone, each with a connection of its own to empty it
        #: (a deque: a finalizer may add to it in any thread, while a lock is held)
        self._free: collections.deque[tuple[PostgresStore, psycopg.Connection[Any]]] = (
            collections.deque()
        )
        self._made: list[tuple[PostgresStore, psycopg.Connection[Any]]] = []
        self._closed = False
        self._create(self.template, "template0")
        store = PostgresStore(self._dsn(self.template), migrate=True, max_size=1)
        store.close()
        with self._connect(self._dsn(self.template)) as conn:
            self._empty = emptying(conn)
        drops = dropped_constraints()
        if drops:
            with self._connect(self._dsn(self.template)) as conn:
                for table, fields in sorted(drops):
                    name = ddl.unique_name(MAPS[table], fields)
                    conn.execute(
                        sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                            sql.Identifier(table), sql.Identifier(name)
                        )
                    )

    def __repr__(self) -> str:
        return f"PostgresWorlds({dsn.shown(self._server.reveal())})"

    def _dsn(self, database: str) -> str:
        return psycopg.conninfo.make_conninfo(self._server.reveal(), dbname=database)

    @contextlib.contextmanager
    def _connect(self, conninfo: str | None = None) -> Iterator[psycopg.Connection[Any]]:
        """An autocommit connection to the server (to ``conninfo``'s database, else the
        server's own); a psycopg error while it is open is :class:`OperationalError`
        naming the server without its password, libpq's reason kept on one line."""
        target = conninfo if conninfo is not None else self._server.reveal()
        try:
            with psycopg.connect(target, autocommit=True) as conn:
                yield conn
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())
            raise OperationalError(
                f"the harness's PostgreSQL server {dsn.shown(target)} failed: {reason}"
            ) from None

    def _create(self, database: str, template: str) -> None:
        with self._connect() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(database), sql.Identifier(template)
                )
            )

    def __call__(self, config: Config) -> Wiring:
        made = self._reused()
        if made is None and len(self._made) >= SPARE:
            # Worlds hold reference cycles: a dropped one waits for the collector. Collect
            # before adding a database, so that a run keeps about as many databases (and
            # their connections) as it has worlds alive, not as many as it dropped lately.
            # The young generations first: in the two-flow search that alone gives a world
            # back about half the time, at a fraction of a full collection's cost.
            gc.collect(1)
            made = self._reused()
            if made is None:
                gc.collect()
                made = self._reused()
        made = made or self._new()
        wiring = in_memory(config, store=made[0])
        weakref.finalize(wiring, self._release, made)
        return wiring

    def _new(self) -> tuple[PostgresStore, psycopg.Connection[Any]]:
        with self._lock:  # a template may be copied by one CREATE DATABASE at a time
            database = f"{self.prefix}_{next(self._numbers)}"
            self._create(database, self.template)
        store = PostgresStore(self._dsn(database), max_size=POOL)
        try:
            conn = psycopg.connect(self._dsn(database), autocommit=True)
        except psycopg.Error as exc:
            store.close()
            reason = " ".join(str(exc).split())
            raise OperationalError(f"the harness's PostgreSQL server failed: {reason}") from None
        # Bounded: a connection of the store still in a transaction fails the emptying
        # (the database is then left for close()) instead of waiting for it.
        conn.execute("SET lock_timeout = '5s'")
        made = (store, conn)
        self._made.append(made)
        return made

    def _reused(self) -> tuple[PostgresStore, psycopg.Connection[Any]] | None:
        """A store whose world is gone, emptied; None if there is none."""
        while self._free:
            try:
                made = self._free.popleft()
            except IndexError:
                return None
            store, conn = made
            try:
                conn.execute(self._empty)
            except psycopg.Error:
                continue  # left for close() to drop
            store.emptied()
            return made
        return None

    def _release(self, made: tuple[PostgresStore, psycopg.Connection[Any]]) -> None:
        if not self._closed:
            self._free.append(made)

    def close(self) -> None:
        """Close every store this run made and drop every database (the examples' and
        the template)."""
        self._closed = True
        self._free.clear()
        for store, conn in self._made:
            store.close()
            conn.close()
        self._made.clear()
        with self._connect() as conn:
            names = [
                row[0]
                for row in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE %s",
                    (self.prefix + "%",),
                )
            ]
            for name in names:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def emptying(conn: psycopg.Connection[Any]) -> sql.Composed:
    """The statement that brings a database made from the template ``conn`` is connected
    to (or from a copy of it) back to it: every table but the migrations' emptied, every
    sequence restarted. The migrations put no row in any other table, so an emptied copy
    holds what a new copy would."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> %s ORDER BY tablename",
            (migrate.TABLE,),
        )
    ]
    sequences = [
        row[0]
        for row in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
            " ORDER BY sequencename"
        )
    ]
    # DELETE, not TRUNCATE: an example leaves a few dozen rows, and TRUNCATE gives
    # each table new files and catalog rows (about 70 ms for the 18 tables against
    # 12 ms for the DELETEs, measured in one run); autovacuum takes the dead rows.
    deletes = [sql.SQL("DELETE FROM {}").format(sql.Identifier(t)) for t in tables]
    restarts = [sql.SQL("ALTER SEQUENCE {} RESTART").format(sql.Identifier(n)) for n in sequences]
    return sql.SQL("; ").join([*deletes, *restarts])
