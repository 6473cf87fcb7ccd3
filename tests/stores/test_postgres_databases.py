"""The suite's migrated databases are lent again only as a new copy would be.

``migrated_postgres_dsn`` lends one database to one test at a time and empties it
between tests (``tests.postgres_databases``). These tests hold that an emptied database
is what a new copy of the template is, and that one a test changed otherwise is dropped,
never lent again.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from tests.postgres_databases import MigratedDatabases

from paycore.schema import ORDERS
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.testing.store_contract import order


@pytest.fixture
def databases(postgres_server: str, _migrated_template: str) -> Iterator[MigratedDatabases]:
    """A pool of this test's own (the session's keeps lending to the other tests)."""
    pool = MigratedDatabases(postgres_server, _migrated_template)
    yield pool
    pool.close()


def name_of(dsn: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"])


def test_a_database_given_back_is_lent_again_empty_with_its_sequences_restarted(
    databases: MigratedDatabases,
) -> None:
    with databases.lent() as dsn:
        fresh = contents(dsn)
        store = PostgresStore(dsn, max_size=1)
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
            tx.next_seq("audit")
        store.close()
        assert contents(dsn) != fresh
    with databases.lent() as again:
        assert name_of(again) == name_of(dsn)
        assert contents(again) == fresh


def test_a_session_left_open_is_ended_and_the_database_still_lent_again(
    databases: MigratedDatabases,
) -> None:
    with databases.lent() as dsn:
        left = psycopg.connect(dsn)
        # A transaction left open, holding a lock that emptying the table waits for.
        left.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
    try:
        with databases.lent() as again:
            assert name_of(again) == name_of(dsn)
        assert _is_dead(left)
    finally:
        left.close()


@pytest.mark.parametrize(
    "change",
    [
        "CREATE TABLE leftover (id int)",
        "ALTER TABLE orders DROP COLUMN seller_id",
        "CREATE INDEX orders_extra_idx ON orders (status)",
        "ALTER TABLE orders ALTER COLUMN status DROP NOT NULL",
        "INSERT INTO paycore_migrations VALUES (99, 'from_the_future')",
        "ALTER SEQUENCE paycore_audit_seq INCREMENT BY 1",
        "ALTER DATABASE {db} SET statement_timeout = '1s'",
        "REVOKE ALL ON orders FROM PUBLIC; GRANT SELECT ON orders TO PUBLIC",
    ],
)
def test_a_database_whose_definitions_changed_is_dropped_not_lent_again(
    databases: MigratedDatabases, change: str
) -> None:
    with databases.lent() as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        for statement in change.format(db=f'"{name_of(dsn)}"').split("; "):
            conn.execute(statement)  # type: ignore[arg-type]  # fixed test text
    with databases.lent() as again:
        assert name_of(again) != name_of(dsn)
    with psycopg.connect(databases.server, autocommit=True) as conn:
        gone = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name_of(dsn),))
        assert gone.fetchone() is None


def contents(dsn: str) -> list[tuple[str, int]]:
    """Rows per table and each sequence's next value: what a test could find left."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        out = []
        for t in tables:
            row = conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()  # type: ignore[arg-type]
            assert row is not None
            out.append((t, int(row[0])))
        for (name,) in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall():
            row = conn.execute("SELECT nextval(%s)", (name,)).fetchone()
            assert row is not None
            out.append((f"next {name}", int(row[0])))
        return out


def _is_dead(conn: psycopg.Connection[object]) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False
