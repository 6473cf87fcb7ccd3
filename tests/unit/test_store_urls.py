"""Store URLs and `paycore migrate`: which store a command opens, and its schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import cli

from paycore import schema as s
from paycore.records import Seller
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.sql import migrate
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.stores import (
    StoreFileMissing,
    StoreFileUnreadable,
    StoreUrlInvalid,
    open_store,
    parse_url,
)


def test_urls_name_their_kind_file_and_options() -> None:
    assert parse_url("sqlite:shop.db").kind == "sqlite"
    assert parse_url("sqlite:/var/shop.db?synchronous=NORMAL").options == {"synchronous": "NORMAL"}
    assert parse_url("json:shop.json").path == Path("shop.json")
    assert parse_url("shop.json").kind == "json"
    assert parse_url("memory").path is None


@pytest.mark.parametrize(
    "url", ["", "sqlite:", "sqlite:x.db?fast=yes", "redis://localhost", 7, None]
)
def test_bad_urls_are_refused_clearly(url: object) -> None:
    with pytest.raises(StoreUrlInvalid):
        parse_url(url)


@pytest.mark.parametrize("url", ["user:s3cretpw@db.example/shop", "app:s3cretpw@10.0.0.5:5432/x"])
def test_a_database_address_without_its_scheme_is_refused_without_its_password(
    url: str,
) -> None:
    """It was read as a file path and repeated whole in StoreFileMissing's message."""
    with pytest.raises(StoreUrlInvalid) as caught:
        open_store(url)
    assert "s3cretpw" not in str(caught.value) and "postgresql://" in str(caught.value)
    assert parse_url("json:odd:name@x.json").path == Path("odd:name@x.json")


def test_a_new_sqlite_file_is_created_with_its_schema_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    with pytest.raises(StoreFileMissing):
        open_store(f"sqlite:{path}")
    assert not path.exists()
    opened = open_store(f"sqlite:{path}", create=True)
    assert isinstance(opened.store, SQLiteStore)
    with opened.store.transaction() as tx:
        tx.insert(s.SELLERS, Seller("s1", "Shop", "acct_1"))
    opened.close()
    again = open_store(f"sqlite:{path}")
    assert again.store.snapshot().get(s.SELLERS, "s1") == Seller("s1", "Shop", "acct_1")
    again.close()


def test_a_file_that_is_not_a_database_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database, just words " * 100)
    with pytest.raises(StoreFileUnreadable):
        open_store(f"sqlite:{path}")


def test_a_bad_durability_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreUrlInvalid, match="synchronous"):
        open_store(f"sqlite:{tmp_path / 'x.db'}?synchronous=MAYBE", create=True)


def test_memory_is_a_fresh_store() -> None:
    assert isinstance(open_store("memory").store, MemoryStore)


def test_migrate_creates_the_schema_and_says_its_version(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'shop.db'}"
    code, out, _ = cli("migrate", "--store", url)
    assert code == 0
    assert f"schema at version {migrate.latest('sqlite')}" in out
    assert cli("migrate", "--store", url)[0] == 0  # again: nothing to do, still fine
    code, _, err = cli("migrate", "--store", "memory")  # no schema: a usage error
    assert (code, "no schema" in err) == (2, True)


def test_commands_take_the_store_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:{tmp_path / 'shop.db'}"
    assert cli("migrate", "--store", url)[0] == 0
    monkeypatch.setenv("PAYCORE_STORE", url)
    code, out, err = cli("flows", "list")
    assert (code, out.strip(), err) == (0, "0 flows", "")
    monkeypatch.delenv("PAYCORE_STORE")
    code, _, err = cli("flows", "list")
    assert code == 2 and "PAYCORE_STORE" in err
