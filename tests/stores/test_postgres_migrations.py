"""The PostgreSQL migrations build the schema the records declare, from scratch and from
every earlier version: the expected schema is what ``paycore_adapters.sql.ddl`` derives
from ``paycore.schema``, applied in a schema of its own on the same database and read
back the same way as the migrated one."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import sql

from paycore.schema import TABLES
from paycore_adapters.sql import ddl, migrate
from paycore_adapters.sql.postgres_store import PostgresStore

Shape = dict[str, object]


def shape(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> Shape:
    """Every table's columns (name, type, nullable, identity) and every index's
    definition, by table, the migrator's bookkeeping table left out; and the sequence
    objects the store draws from (the identity columns' own are named by their table).

    Columns are compared by name, not position: PostgreSQL adds a column after the
    table's last (its ``pos`` identity), where the records' declaration puts ``pos``
    last, and every statement of the store names the columns it reads and writes."""
    out: Shape = {}
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
        " AND table_name <> %s ORDER BY table_name",
        (schema, migrate.TABLE),
    ).fetchall()
    for (table,) in tables:
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable, is_identity, identity_generation"
            " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
            " ORDER BY column_name",
            (schema, table),
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, replace(indexdef, %s, '') FROM pg_indexes"
            " WHERE schemaname = %s AND tablename = %s ORDER BY indexname",
            (f"{schema}.", schema, table),
        ).fetchall()
        out[str(table)] = {"columns": columns, "indexes": indexes}
    out["sequences"] = conn.execute(
        "SELECT sequence_name, data_type, increment FROM information_schema.sequences"
        " WHERE sequence_schema = %s ORDER BY sequence_name",
        (schema,),
    ).fetchall()
    return out


def declared(dsn: str) -> Shape:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA declared")
        conn.execute("SET search_path TO declared")
        conn.execute("\n".join(ddl.schema(ddl.POSTGRESQL)).encode())
        return shape(conn, "declared")


def migrated(dsn: str) -> Shape:
    with psycopg.connect(dsn) as conn:
        return shape(conn, "public")


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in migrate.migrations("postgresql")]
    assert versions == list(range(1, len(versions) + 1))
    assert migrate.latest("postgresql") == len(versions) >= 1


def test_from_scratch_the_schema_is_what_the_records_declare(postgres_dsn: str) -> None:
    PostgresStore(postgres_dsn, migrate=True).close()
    got, want = migrated(postgres_dsn), declared(postgres_dsn)
    for table in want:
        assert got.get(table) == want[table], f"{table}: migrations and records differ"
    assert set(got) == set(want)
    assert {t.name for t in TABLES} <= set(got)


@pytest.mark.parametrize("start", range(migrate.latest("postgresql")))
def test_upgrading_from_each_earlier_version_ends_at_the_same_schema(
    postgres_dsn: str, start: int
) -> None:
    """A database at an earlier version (0: only the migrator's table), migrated, equals
    one built from scratch."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {migrate.TABLE} (version bigint PRIMARY KEY, name text)")
        for mig in migrate.migrations("postgresql")[:start]:
            conn.execute(mig.sql.encode())
            conn.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(migrate.TABLE)),
                (mig.version, mig.name),
            )
    store = PostgresStore(postgres_dsn, migrate=True)
    assert store.schema_version() == migrate.latest("postgresql")
    store.close()
    assert migrated(postgres_dsn) == declared(postgres_dsn)


def test_the_log_sequences_go_on_after_the_numbers_their_rows_gave(postgres_dsn: str) -> None:
    """Version 3 moves the audit and stock numbers to sequence objects: a database that
    numbered its log up to 41 (audit) and 7 (stock) goes on at 42 and 8, and the rows
    of ``paycore_sequences`` it no longer reads are gone."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {migrate.TABLE} (version bigint PRIMARY KEY, name text)")
        for mig in migrate.migrations("postgresql")[:2]:
            conn.execute(mig.sql.encode())
            conn.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(migrate.TABLE)),
                (mig.version, mig.name),
            )
        conn.execute(
            "INSERT INTO paycore_sequences VALUES ('audit', 41), ('stock', 7), ('order', 3)"
        )
    store = PostgresStore(postgres_dsn, migrate=True)
    with store.transaction() as tx:
        drawn = (tx.next_seq("audit"), tx.next_seq("stock"), tx.next_seq("order"))
    assert drawn == (42, 8, 4)
    store.close()
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute("SELECT name, value FROM paycore_sequences").fetchall()
    assert rows == [("order", 4)]


def test_a_migration_that_fails_leaves_the_database_at_its_version(postgres_dsn: str) -> None:
    """Each migration runs in one transaction with its bookkeeping row: a failure keeps
    neither its changes nor the row."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute('CREATE TABLE "orders" (id text)')  # in the way of migration 1
    with pytest.raises(Exception, match="migration 1 failed"):
        PostgresStore(postgres_dsn, migrate=True)
    with psycopg.connect(postgres_dsn) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " ORDER BY table_name"
        ).fetchall()
        assert tables == [("orders",), (migrate.TABLE,)]
        assert conn.execute(f"SELECT count(*) FROM {migrate.TABLE}").fetchone() == (0,)


def test_stores_migrating_at_once_apply_each_migration_once(postgres_dsn: str) -> None:
    """Three instances start at once on an empty database, each migrating: the advisory
    lock lets one apply the migrations; the others find nothing left, and all open."""
    start = threading.Barrier(3)
    opened: list[PostgresStore] = []
    failures: list[BaseException] = []

    def instance() -> None:
        try:
            start.wait(30)
            opened.append(PostgresStore(postgres_dsn, migrate=True, max_size=1))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=instance) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for store in opened:
        store.close()
    assert failures == [] and len(opened) == 3
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(f"SELECT version FROM {migrate.TABLE} ORDER BY version").fetchall()
    assert rows == [(v,) for v in range(1, migrate.latest("postgresql") + 1)]


def test_refunds_past_every_follow_up_age_are_not_made_due_by_the_upgrade(
    postgres_dsn: str,
) -> None:
    """As on SQLite (tests/contract/test_sql_migrations.py): the succeeded refunds made
    over 30 days before the newest are past every follow-up age, not due at once."""
    follow_ups = next(m for m in migrate.migrations("postgresql") if "follow_up" in m.name)
    day, newest = 86_400_000, 1_700_000_000_000
    rows = {
        "rf_old": ("succeeded", 31 * day),
        "rf_recent": ("succeeded", 29 * day),
        "rf_new": ("succeeded", 0),
        "rf_old_failed": ("failed", 90 * day),
    }
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {migrate.TABLE} (version bigint PRIMARY KEY, name text)")
        for mig in migrate.migrations("postgresql")[: follow_ups.version - 1]:
            conn.execute(mig.sql.encode())
            conn.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(migrate.TABLE)),
                (mig.version, mig.name),
            )
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_name = 'refunds' AND is_identity = 'NO' ORDER BY ordinal_position"
        ).fetchall()
        for rid, (status, age) in rows.items():
            plain = {"text": f"_{rid}", "boolean": False, "jsonb": "{}"}
            values: dict[str, object] = {
                str(name): None if nullable == "YES" else plain.get(str(kind), 0)
                for name, kind, nullable in columns
            }
            values.update(id=rid, status=status, created_at=newest - age)
            conn.execute(
                sql.SQL("INSERT INTO refunds ({}) VALUES ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, values)),
                    sql.SQL(", ").join(sql.Placeholder() * len(values)),
                ),
                list(values.values()),
            )
    PostgresStore(postgres_dsn, migrate=True).close()
    with psycopg.connect(postgres_dsn) as conn:
        due = dict(conn.execute("SELECT id, follow_up_at FROM refunds").fetchall())
    assert due == {"rf_old": 2**63 - 1, "rf_recent": 0, "rf_new": 0, "rf_old_failed": 0}
