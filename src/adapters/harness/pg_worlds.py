"""Harness worlds on PostgreSQL: a database per example on one server.

Each example's store is a new database copied from a template migrated once per run
(``CREATE DATABASE ... TEMPLATE``, a file copy on the server), dropped once nothing
refers to its world; a seeded bug that does without a unique constraint
(``SeededBug.drops``) gets a template without it. Everything the run made is dropped
when it ends.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import weakref
from collections.abc import Callable

import psycopg
from psycopg import sql

from paycore.config import Config

from ..memory import Wiring, in_memory
from ..sql import ddl
from ..sql.columns import MAPS
from ..sql.postgres_store import PostgresStore
from .bugs.catalog import dropped_constraints

#: Connections per example's store: the world's own and a race's three workers.
POOL = 6


class PostgresWorlds:
    """Makes one wiring per example, each on a new database of the server at ``server``."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.prefix = f"paycore_harness_{os.getpid()}_{secrets.token_hex(3)}"
        self.template = f"{self.prefix}_template"
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._create(self.template, "template0")
        store = PostgresStore(self._dsn(self.template), migrate=True, max_size=1)
        store.close()
        drops = dropped_constraints()
        if drops:
            with psycopg.connect(self._dsn(self.template), autocommit=True) as conn:
                for table, fields in sorted(drops):
                    name = ddl.unique_name(MAPS[table], fields)
                    conn.execute(
                        sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                            sql.Identifier(table), sql.Identifier(name)
                        )
                    )

    def _dsn(self, database: str) -> str:
        return psycopg.conninfo.make_conninfo(self.server, dbname=database)

    def _create(self, database: str, template: str) -> None:
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(database), sql.Identifier(template)
                )
            )

    def __call__(self, config: Config) -> Wiring:
        with self._lock:  # a template may be copied by one CREATE DATABASE at a time
            database = f"{self.prefix}_{next(self._numbers)}"
            self._create(database, self.template)
        store = PostgresStore(self._dsn(database), max_size=POOL)
        weakref.finalize(store, _drop, store.closer(), self.server, database)
        return in_memory(config, store=store)

    def close(self) -> None:
        """Drop every database this run made (the examples' and the template)."""
        with psycopg.connect(self.server, autocommit=True) as conn:
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


def _drop(close: Callable[[], None], server: str, database: str) -> None:
    close()
    try:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
    except psycopg.Error:
        pass  # the run's end drops what is left
