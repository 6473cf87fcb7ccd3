"""The migrations build the schema the records declare, from scratch and from every
earlier version (SQLite here; the PostgreSQL store's tests do the same on its server).

The expected schema is not a second copy kept by hand: it is what
``paycore_adapters.sql.ddl`` derives from ``paycore.schema`` and the records'
fields, applied to an empty database and read back the same way as the migrated one.
A record that gains a field without a migration fails here, naming the table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from paycore.schema import TABLES
from paycore_adapters.sql import ddl, migrate
from paycore_adapters.sql.sqlite_store import SQLiteStore

Shape = dict[str, object]


def shape(conn: sqlite3.Connection) -> Shape:
    """Every table's columns (name, type, not null, key) and every index's columns and
    uniqueness, by name; the bookkeeping table of the migrator left out."""
    out: Shape = {}
    tables = [
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if name != migrate.TABLE
    ]
    for table in sorted(tables):
        columns = [
            (name, kind, bool(notnull), pk)
            for _, name, kind, notnull, _, pk in conn.execute(f'PRAGMA table_info("{table}")')
        ]
        indexes = sorted(
            (
                unique,
                origin,
                tuple(c[2] for c in conn.execute(f'PRAGMA index_info("{name}")')),
            )
            for _, name, unique, origin, _ in conn.execute(f'PRAGMA index_list("{table}")')
        )
        out[table] = {"columns": columns, "indexes": indexes}
    return out


def declared(tmp_path: Path) -> Shape:
    conn = sqlite3.connect(tmp_path / "declared.db")
    conn.executescript("\n".join(ddl.schema(ddl.SQLITE)))
    return shape(conn)


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in migrate.migrations("sqlite")]
    assert versions == list(range(1, len(versions) + 1))
    assert migrate.latest("sqlite") == len(versions) >= 1


def test_from_scratch_the_schema_is_what_the_records_declare(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "scratch.db", migrate=True)
    got = shape(store.connection())
    want = declared(tmp_path)
    for table in want:
        assert got.get(table) == want[table], f"{table}: migrations and records differ"
    assert set(got) == set(want)
    assert {t.name for t in TABLES} <= set(got)


@pytest.mark.parametrize("start", range(migrate.latest("sqlite")))
def test_upgrading_from_each_earlier_version_ends_at_the_same_schema(
    tmp_path: Path, start: int
) -> None:
    """A database at an earlier version (0: only the migrator's table), migrated, equals
    one built from scratch."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"CREATE TABLE {migrate.TABLE} (version INTEGER PRIMARY KEY, name TEXT)")
    for mig in migrate.migrations("sqlite")[:start]:
        conn.executescript(mig.sql)
        conn.execute(f"INSERT INTO {migrate.TABLE} VALUES (?, ?)", (mig.version, mig.name))
    store = SQLiteStore(path, migrate=True)
    assert store.schema_version() == migrate.latest("sqlite")
    assert shape(store.connection()) == declared(tmp_path)


def test_a_migration_that_fails_leaves_the_database_at_its_version(tmp_path: Path) -> None:
    """Each migration runs in one transaction with its bookkeeping row: a failure keeps
    neither its changes nor the row."""
    path = tmp_path / "half.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute('CREATE TABLE "orders" (id TEXT)')  # in the way of migration 1
    with pytest.raises(Exception, match="migration 1 failed"):
        SQLiteStore(path, migrate=True)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == [
        "orders",
        migrate.TABLE,
    ]
    assert conn.execute(f"SELECT count(*) FROM {migrate.TABLE}").fetchone() == (0,)
