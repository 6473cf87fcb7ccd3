"""PostgreSQL at the edges of opening and checking: a schema holding another program's
tables is refused by ``migrate`` before anything is written into it (tables in other
schemas of the database are fine), and ``paycore check`` says on stderr that it is waiting
for a safe snapshot when another session's serializable writer keeps it waiting; a row
that cannot be read as its record is a finding there too."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from tests.stores.test_postgres_urls import as_url
from tests.support import cli

from paycore_adapters import cli_check
from paycore_adapters.sql.foreign import StoreNotPaycore
from paycore_adapters.sql.postgres_store import PostgresStore


def tables(dsn: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN "
            "('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_migrate_refuses_a_schema_holding_another_programs_tables(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id int PRIMARY KEY, total int)")
    before = tables(postgres_dsn)
    with pytest.raises(StoreNotPaycore) as raised:
        PostgresStore(postgres_dsn, migrate=True).close()
    assert "invoices" in raised.value.message
    assert tables(postgres_dsn) == before  # not even paycore_migrations
    code, _, err = cli("migrate", "--store", as_url(postgres_dsn))
    assert code == 2 and "store_not_paycore" in err
    assert tables(postgres_dsn) == before


def test_tables_in_another_schema_do_not_stop_a_new_store(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA billing")
        conn.execute("CREATE TABLE billing.invoices (id int PRIMARY KEY)")
    PostgresStore(postgres_dsn, migrate=True).close()
    found = tables(postgres_dsn)
    assert ("billing", "invoices") in found and ("public", "paycore_migrations") in found
    PostgresStore(postgres_dsn, migrate=True).close()  # a paycore store: migrated again


def test_an_extensions_objects_in_the_schema_do_not_stop_a_new_store(postgres_dsn: str) -> None:
    """``pg_stat_statements`` puts two views in ``public``: they are the extension's
    (``pg_depend.deptype = 'e'``), not another program's tables."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public'"
        ).fetchone()
        assert owned is not None and owned[0] > 0
    PostgresStore(postgres_dsn, migrate=True).close()
    assert ("public", "paycore_migrations") in tables(postgres_dsn)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE paycore_migrations CASCADE")
        conn.execute("CREATE TABLE invoices (id int PRIMARY KEY)")
    with pytest.raises(StoreNotPaycore) as raised:  # the extension's views are not named
        PostgresStore(postgres_dsn, migrate=True).close()
    assert "invoices" in raised.value.message
    assert "pg_stat_statements" not in raised.value.message


def test_check_says_it_waits_behind_a_serializable_writer(
    migrated_postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_check, "WAIT_NOTE_S", 0.5)
    writer = psycopg.connect(migrated_postgres_dsn)
    done: list[tuple[int, str, str]] = []
    try:
        writer.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        writer.execute("UPDATE paycore_sequences SET value = value")
        url = as_url(migrated_postgres_dsn)
        t = threading.Thread(target=lambda: done.append(cli("check", "--store", url)))
        t.start()
        time.sleep(3)
        assert not done  # still waiting for the writer
    finally:
        writer.commit()
        writer.close()
    t.join(timeout=60)
    code, _, err = done[0]
    assert code == 0
    assert "waiting for a safe snapshot" in err


def test_an_unreadable_row_on_postgresql_is_a_finding(migrated_postgres_dsn: str) -> None:
    from tests.stores.test_streamed_check import a_day

    store = PostgresStore(migrated_postgres_dsn, migrate=True)
    try:
        a_day(store)
    finally:
        store.close()
    with psycopg.connect(migrated_postgres_dsn, autocommit=True) as conn:
        key = conn.execute("SELECT id FROM orders ORDER BY id LIMIT 1").fetchone()
        assert key is not None
        conn.execute("UPDATE orders SET status = 'shipped' WHERE id = %s", (key[0],))
    code, out, err = cli("check", "--store", as_url(migrated_postgres_dsn), "--json")
    assert code == 1, err
    found = [v for v in json.loads(out)["violations"] if v["invariant"] == "record-readable"]
    assert [v["subject"] for v in found] == [f"orders/{key[0]}"]
    assert "status" in found[0]["detail"] and "shipped" in found[0]["detail"]
