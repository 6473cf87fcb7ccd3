"""``postgresql://`` store URLs: `paycore migrate` and the operator's commands on the
PostgreSQL store."""

from __future__ import annotations

from urllib.parse import quote

import psycopg
from tests.support import cli

from paycore.records import Seller
from paycore.schema import SELLERS
from paycore_adapters.sql import migrate
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.stores import open_store, parse_url


def as_url(dsn: str) -> str:
    """The URL form of a libpq key=value DSN (what an operator passes to --store)."""
    p = psycopg.conninfo.conninfo_to_dict(dsn)
    auth = quote(str(p["user"]), safe="") + ":" + quote(str(p.get("password", "")), safe="")
    return f"postgresql://{auth}@{p['host']}:{p['port']}/{quote(str(p['dbname']), safe='')}"


def test_a_postgresql_url_names_the_postgresql_store() -> None:
    url = "postgresql://shop:secret@127.0.0.1:5432/paycore"
    assert parse_url(url).kind == "postgresql" and parse_url(url).dsn == url
    assert parse_url("postgres://127.0.0.1/paycore").kind == "postgresql"


def test_migrate_then_the_operators_commands_use_the_database(postgres_dsn: str) -> None:
    """`paycore migrate` brings an empty database to the latest schema (again: nothing
    to do); a refused database says which command to run."""
    url = as_url(postgres_dsn)
    code, _, err = cli("flows", "list", "--store", url)
    assert code == 2 and "store_schema_not_migrated" in err
    code, out, _ = cli("migrate", "--store", url)
    assert code == 0 and f"schema at version {migrate.latest('postgresql')}" in out
    assert cli("migrate", "--store", url)[0] == 0
    opened = open_store(url)
    assert isinstance(opened.store, PostgresStore)
    with opened.store.transaction() as tx:
        tx.insert(SELLERS, Seller("s1", "Mug Shop", "acct_1"))
    opened.close()
    code, out, _ = cli("flows", "list", "--store", url)
    assert code == 0
    again = open_store(url)
    assert again.store.snapshot().get(SELLERS, "s1") == Seller("s1", "Mug Shop", "acct_1")
    again.close()


def test_no_command_on_a_live_database_shows_its_password(postgres_dsn: str) -> None:
    """migrate, check, flows and attention on a database reached with a password: the
    store is named by what its repr shows, never by the URL."""
    url = as_url(postgres_dsn)
    password = str(psycopg.conninfo.conninfo_to_dict(postgres_dsn)["password"])
    assert password and password in url
    for command in (("migrate",), ("check",), ("flows", "list"), ("attention",)):
        code, out, err = cli(*command, "--store", url)
        assert code == 0, (command, err)
        assert password not in out + err, command
    code, out, _ = cli("migrate", "--store", url)
    assert out.startswith("PostgresStore(host=")
