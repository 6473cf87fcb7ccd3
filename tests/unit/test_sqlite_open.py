"""Opening one SQLite file: two openers migrating it at once, and a relative path."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from paycore import schema as s
from paycore_adapters.sql import migrate
from paycore_adapters.sql.sqlite_store import SQLiteStore


def test_two_stores_migrating_one_new_file_at_once_both_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read version 0 before either migrates (forced): the second finds each
    migration applied by the first and skips it instead of failing."""
    path = tmp_path / "shop.db"
    read = SQLiteStore.schema_version
    both_read = threading.Barrier(2)
    waited: set[int] = set()

    def version(store: SQLiteStore) -> int:
        found = read(store)
        # Each thread's first read waits for the other's: a later read (a migration
        # that reads again before the other committed) must not wait alone.
        if found == 0 and threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            both_read.wait(timeout=60)  # a bound only: both threads always get here
        return found

    monkeypatch.setattr(SQLiteStore, "schema_version", version)
    results: dict[int, str] = {}

    def opener(i: int) -> None:
        try:
            SQLiteStore(path, migrate=True).close()
            results[i] = "opened"
        except Exception as exc:
            results[i] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=opener, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not both_read.broken  # the two really interleaved
    assert results == {0: "opened", 1: "opened"}
    store = SQLiteStore(path)
    assert read(store) == migrate.latest("sqlite")
    store.close()


def test_a_relative_path_names_one_file_whatever_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path is resolved once: after a chdir a new thread's connection still opens
    the store's file, not a new empty one beside the new directory."""
    monkeypatch.chdir(tmp_path)
    store = SQLiteStore("rel.db", migrate=True)
    store.snapshot()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)  # monkeypatch.chdir restores the directory at the end
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(store.snapshot().get(s.SELLERS, "x")))
    worker.start()
    worker.join()
    store.close()
    assert seen == [None]
    assert store.path == tmp_path / "rel.db"
    assert list(elsewhere.iterdir()) == []
