"""What an operator reads when a SQLite store cannot be opened: the cause, said once.

Before: ``paycore migrate --store sqlite:/no/such/folder/shop.db`` said the folder
"cannot be written" (``os.access`` is false for a folder that does not exist) and that
SQLite needs to create ``-wal`` and ``-shm`` files there, with "cannot open the SQLite
store" twice (``stores._sqlite`` wrapped the store's own message). A missing SQLite
file got one of two different ``store_file_missing`` messages, depending on whether it
was opened by URL or by ``SQLiteStore``."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.support import cli

from paycore.errors import OperationalError
from paycore_adapters.sql.sqlite_args import StoreFileMissing, cannot_open
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.stores import StoreFileUnreadable, open_store


@pytest.mark.parametrize("command", ["migrate", "check"])
def test_a_store_in_a_folder_that_does_not_exist_says_so_once(tmp_path: Path, command: str) -> None:
    folder = tmp_path / "nodir"
    code, _, err = cli(command, "--store", f"sqlite:{folder}/shop.db")
    assert code == 2, err
    assert f"the folder {folder} does not exist" in err, err
    assert "cannot be written" not in err and "-wal" not in err, err
    assert err.count("SQLite store") == 1, err
    assert not folder.exists()


def test_creating_a_store_in_a_folder_that_does_not_exist_is_refused_before_opening(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "a" / "b"
    with pytest.raises(StoreFileMissing) as refused:
        SQLiteStore(folder / "shop.db", migrate=True)
    assert f"the folder {folder} does not exist" in refused.value.message
    assert refused.value.fields["path"] == str(folder / "shop.db")
    assert sorted(os.listdir(tmp_path)) == []


def test_a_folder_removed_under_a_running_store_is_named(tmp_path: Path) -> None:
    """The same words when the folder goes after the store opened (no up-front check
    then: the open itself fails)."""
    path = tmp_path / "gone" / "shop.db"
    err = cannot_open(sqlite3.OperationalError("unable to open database file"), path)
    assert type(err) is OperationalError
    assert f"the folder {path.parent} does not exist" in err.message
    assert "cannot be written" not in err.message
    assert err.fields["path"] == str(path)


def test_a_file_removed_under_a_running_store_is_named(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    err = cannot_open(sqlite3.OperationalError("unable to open database file"), path)
    assert "not there any more" in err.message and "cannot be written" not in err.message


def test_a_failed_open_through_a_url_says_cannot_open_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "shop.db"
    SQLiteStore(path, migrate=True).close()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(sqlite3, "connect", refuse)
    with pytest.raises(StoreFileUnreadable) as refused:
        open_store(f"sqlite:{path}")
    assert refused.value.message.count("cannot open the SQLite store") == 1
    assert str(path) in refused.value.message


@pytest.mark.parametrize("relative", [False, True])
def test_a_missing_sqlite_file_gets_one_message_by_url_or_by_constructor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    name = "shpo.db" if relative else str(tmp_path / "shpo.db")
    with pytest.raises(StoreFileMissing) as by_url:
        open_store(f"sqlite:{name}")
    with pytest.raises(StoreFileMissing) as by_constructor:
        SQLiteStore(name)
    assert by_url.value.message == by_constructor.value.message
    assert str(tmp_path / "shpo.db") in by_url.value.message
    assert f"paycore migrate --store sqlite:{tmp_path / 'shpo.db'}" in by_url.value.message
    assert by_url.value.fields == by_constructor.value.fields
    assert sorted(os.listdir(tmp_path)) == []
