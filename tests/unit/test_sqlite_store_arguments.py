"""The SQLite store's constructor refuses bad arguments up front, typed and by name; a
store that is not there is refused without leaving a file; a bare path to a SQLite
file and a store in a folder paycore cannot write get words that say what to do.

Before: ``synchronous="bogus"``/``None``, ``path=None``/``""``, ``busy_timeout_ms="x"``
and ``checkpoint_every=0`` failed untyped (ValueError, TypeError, AttributeError);
``busy_timeout_ms=-5`` was taken; ``migrate="no"`` migrated (a truthy string); a
missing file was created (an empty SQLite file left behind) and then refused as
"schema version 0: run paycore migrate", so a typo'd path, migrated as told, became an
empty store. A bare path was read as JSON ("UnicodeDecodeError"), and ``migrate
--store shop.db`` said a JSON store has no schema. In a folder paycore cannot write
the open failed with SQLite's "unable to open database file" alone."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from tests.support import cli

from paycore.errors import InvalidInput
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.stores import (
    StoreFileMissing,
    StoreFileUnreadable,
    StoreUrlInvalid,
    open_store,
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    SQLiteStore(path, migrate=True).close()
    return path


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("synchronous", "bogus"),
        ("synchronous", None),
        ("synchronous", 2),
        ("busy_timeout_ms", "x"),
        ("busy_timeout_ms", -5),
        ("busy_timeout_ms", 1.5),
        ("busy_timeout_ms", True),
        ("busy_timeout_ms", 10**12),
        ("checkpoint_every", 0),
        ("checkpoint_every", "100"),
        ("checkpoint_every", False),
        ("migrate", "no"),
        ("migrate", 0),
        ("migrate", None),
    ],
)
def test_a_bad_argument_is_refused_by_name_before_anything_is_opened(
    tmp_path: Path, field: str, value: Any
) -> None:
    path = tmp_path / "new.db"
    with pytest.raises(InvalidInput) as refused:
        SQLiteStore(path, **{field: value})
    assert refused.value.fields["field"] == field
    assert not path.exists()


@pytest.mark.parametrize("path", [None, "", "   ", ":memory:", "file:x.db", 7, b"x.db"])
def test_a_path_that_names_no_file_is_refused_by_name(path: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        SQLiteStore(path)
    assert refused.value.fields["field"] == "path"


def test_a_truthy_string_does_not_migrate(tmp_path: Path) -> None:
    path = tmp_path / "c5.db"
    with pytest.raises(InvalidInput):
        SQLiteStore(path, migrate="no")  # type: ignore[arg-type]
    assert not path.exists()


def test_a_missing_file_is_refused_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "shpo.db"
    with pytest.raises(StoreFileMissing) as refused:
        SQLiteStore(path)
    assert str(path) in refused.value.message and "migrate" in refused.value.message
    assert sorted(os.listdir(tmp_path)) == []


def test_a_file_removed_after_the_store_opened_is_not_made_again(db: Path) -> None:
    """Every connection opens the file as it is (``mode=rw``): one opened after the file
    was removed fails instead of starting an empty store in its place."""
    store = SQLiteStore(db, checkpoint_every=None)
    store.close()
    for name in os.listdir(db.parent):
        os.unlink(db.parent / name)
    with pytest.raises(Exception):  # noqa: B017 - whichever the store's error
        store.snapshot()
    assert not db.exists()


def test_good_arguments_are_taken(db: Path) -> None:
    for sync in ("off", "NORMAL", "Full", "EXTRA"):
        SQLiteStore(db, synchronous=sync, busy_timeout_ms=0, checkpoint_every=None).close()
    SQLiteStore(str(db), busy_timeout_ms=5_000, checkpoint_every=1).close()


# --- a bare path to a SQLite file --------------------------------------------------------


def test_a_bare_path_to_a_sqlite_file_says_to_name_it_sqlite(db: Path) -> None:
    with pytest.raises(StoreUrlInvalid) as refused:
        open_store(str(db))
    assert f"sqlite:{db}" in refused.value.message
    assert "UnicodeDecodeError" not in refused.value.message


def test_check_on_a_bare_sqlite_path_says_to_name_it_sqlite(db: Path) -> None:
    code, _, err = cli("check", "--store", str(db))
    assert code == 2 and f"sqlite:{db}" in err and "UnicodeDecodeError" not in err


@pytest.mark.parametrize("existing", [True, False])
def test_migrate_on_a_bare_db_path_says_to_name_it_sqlite(
    tmp_path: Path, db: Path, existing: bool
) -> None:
    path = db if existing else tmp_path / "new.db"
    code, _, err = cli("migrate", "--store", str(path))
    assert code == 2 and f"sqlite:{path}" in err
    assert existing or not path.exists()


def test_a_bare_path_to_a_json_store_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    opened = open_store(str(path), create=True)
    opened.save()
    open_store(str(path)).close()


# --- a folder paycore cannot write -------------------------------------------------------


def _cannot(why: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"in CI this test must run: {why}")
    pytest.skip(why)


@contextlib.contextmanager
def _immutable(folder: Path) -> Iterator[None]:
    """``folder`` made unwritable even for root (``chattr +i``); where that cannot be
    done the test is skipped, except in CI, where it fails (the CI machine can)."""
    chattr = shutil.which("chattr")
    if chattr is None:
        _cannot("no chattr here")
    made = subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False)
    if made.returncode != 0 or os.access(folder, os.W_OK):
        _cannot("cannot make a folder unwritable here")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def _read_only_shop(tmp_path: Path) -> Path:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "s.db"
    SQLiteStore(path, migrate=True).close()
    for extra in ("s.db-wal", "s.db-shm"):  # what a clean close leaves: nothing
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / extra)
    return path


def test_check_in_a_folder_it_cannot_write_names_the_folders_permission(tmp_path: Path) -> None:
    path = _read_only_shop(tmp_path)
    with _immutable(path.parent):
        code, _, err = cli("check", "--store", f"sqlite:{path}")
    assert code == 2 and "store_file_unreadable" in err
    assert f"{path.parent}" in err and "-wal" in err and "write" in err


def test_the_message_names_the_folder_when_it_is_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same words where the folder cannot be made unwritable (a non-root runner):
    the open is made to fail as SQLite fails there, and the folder reported unwritable."""
    path = _read_only_shop(tmp_path)
    real_access = os.access

    def access(p: Any, mode: int, **kw: Any) -> bool:
        if Path(p) == path.parent and mode & os.W_OK:
            return False
        return real_access(p, mode, **kw)

    def cannot_open(*args: Any, **kwargs: Any) -> Any:
        import sqlite3

        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr("paycore_adapters.sql.sqlite_store.sqlite3.connect", cannot_open)
    with pytest.raises(StoreFileUnreadable) as refused:
        open_store(f"sqlite:{path}")
    message = refused.value.message
    assert str(path.parent) in message and "-wal" in message and "write" in message
