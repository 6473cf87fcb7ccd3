"""A database that is another program's: refused before paycore writes anything into it.

Opening a store with ``migrate`` (``paycore migrate``, ``paycore demo``, a service that
migrates as it starts) used to take any database without paycore's bookkeeping table
(``paycore_migrations``) for a new one at version 0 and write paycore's tables into it;
on SQLite every opener also switched the file to WAL first. A database, or a
PostgreSQL schema, that holds tables of its own and no ``paycore_migrations`` is
somebody else's: the wrong file or database was named. It is refused, by every opener,
before the first write (SQLite: read by each of a store's connections before anything
else runs on it, the journal mode included; reading recovers a hot journal another
program's crash left, as any opener does, and writes nothing of paycore's; PostgreSQL:
read under the migration lock before the bookkeeping table is created; objects an
extension owns are not the schema's own). An empty database (or a new or empty SQLite file)
is still a new store, and a paycore store an operator added a table of their own to is
still paycore's (it has ``paycore_migrations``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from paycore.errors import StoreError
from paycore.schema import TABLES

from .migrate import TABLE

#: The tables a paycore database holds: the records', the sequences', the migrator's.
PAYCORE_TABLES = frozenset({t.name for t in TABLES} | {"paycore_sequences", TABLE})
#: How many of the foreign tables a message names.
SHOWN = 5


class StoreNotPaycore(StoreError, code="store_not_paycore"):
    """The database named holds another program's tables and no paycore schema
    (``paycore_migrations``): paycore refused it before writing anything into it."""


def foreign_tables(names: Iterable[str]) -> list[str]:
    """The tables of ``names`` (a database's) that make it another program's: all that
    are not paycore's, unless ``paycore_migrations`` is among them (a paycore store)."""
    found = set(names)
    if TABLE in found:
        return []
    return sorted(n for n in found - PAYCORE_TABLES if not n.startswith("sqlite_"))


def refusal(where: str, foreign: list[str]) -> StoreNotPaycore:
    more = len(foreign) - SHOWN
    listed = ", ".join(foreign[:SHOWN]) + (f" and {more} more" if more > 0 else "")
    return StoreNotPaycore(
        f"{where} is not a paycore store: it holds tables or views of another program ({listed}) "
        "and no paycore_migrations; nothing was written to it. Name the paycore store, "
        "or a new file or an empty database to make one",
        tables=foreign[:SHOWN],
    )


def refuse_foreign_on(conn: sqlite3.Connection, path: Path) -> None:
    """On a store's new connection, before anything else runs on it (the journal mode, a
    migration): close ``conn`` and raise :class:`StoreNotPaycore` when the file at
    ``path`` is another program's database.

    Raises:
        sqlite3.Error: the file could not be read.
    """
    foreign = foreign_tables(table_names(conn))
    if foreign:
        conn.close()
        raise refusal(f"the SQLite file {path}", foreign)


def table_names(conn: sqlite3.Connection) -> list[str]:
    """The tables and views of the SQLite database ``conn`` reads."""
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    return [str(r[0]) for r in rows.fetchall()]
