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


def test_refunds_past_every_follow_up_age_are_not_made_due_by_the_upgrade(
    tmp_path: Path,
) -> None:
    """The version that adds refunds' follow-up times makes the succeeded refunds it
    finds due at once, but for those made over 30 days before the newest refund: past
    every age, they would cost a provider read each in the first runs."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"CREATE TABLE {migrate.TABLE} (version INTEGER PRIMARY KEY, name TEXT)")
    before = next(m.version for m in migrate.migrations("sqlite") if "follow_up" in m.name) - 1
    for mig in migrate.migrations("sqlite")[:before]:
        conn.executescript(mig.sql)
        conn.execute(f"INSERT INTO {migrate.TABLE} VALUES (?, ?)", (mig.version, mig.name))
    columns = [(name, kind) for _, name, kind, *_ in conn.execute('PRAGMA table_info("refunds")')]
    day = 86_400_000
    newest = 1_700_000_000_000
    rows = {  # id: (status, made this long before the newest)
        "rf_old": ("succeeded", 31 * day),
        "rf_recent": ("succeeded", 29 * day),
        "rf_new": ("succeeded", 0),
        "rf_old_failed": ("failed", 90 * day),
    }
    for rid, (status, age) in rows.items():
        values = {
            name: (f"{name}_{rid}" if kind.upper() == "TEXT" else 0) for name, kind in columns
        }
        values.update(id=rid, status=status, created_at=newest - age)
        marks = ", ".join("?" for _ in values)
        names = ", ".join(f'"{n}"' for n in values)
        conn.execute(f'INSERT INTO "refunds" ({names}) VALUES ({marks})', list(values.values()))
    conn.close()
    store = SQLiteStore(path, migrate=True)
    due = dict(store.connection().execute('SELECT id, follow_up_at FROM "refunds"').fetchall())
    store.close()
    assert due == {"rf_old": 2**63 - 1, "rf_recent": 0, "rf_new": 0, "rf_old_failed": 0}
