"""Only the first connection of a SQLite store asked to migrate may create its file:
every later one (a thread's, a snapshot's reader, ``paycore check``'s streamed read, the
checkpoint thread's) opens the file as it is (``mode=rw``), so a file removed under a
running store (a restore or a clean-up gone wrong) is an error, never a new empty store
made in its place that the next ``migrate`` would fill with an empty schema.

Before: a store opened with ``migrate=True`` (the wiring README.md and docs/stripe.md
show, ``open_store("sqlite:...", create=True)``) opened every connection ``mode=rwc``,
and the checkpoint thread opened the bare path (SQLite's default, create too): a read
from another thread after the file was removed left a new 4096-byte ``shop.db``."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from paycore.errors import OperationalError
from paycore.schema import ORDERS
from paycore_adapters.sql.checkpointer import Checkpointer
from paycore_adapters.sql.sqlite_store import SQLiteStore


def _remove_all(folder: Path) -> None:
    for name in os.listdir(folder):
        os.unlink(folder / name)


def _in_thread(store: SQLiteStore) -> BaseException | None:
    caught: list[BaseException | None] = [None]

    def read() -> None:
        try:
            with store.transaction() as tx:
                tx.get(ORDERS, "o1")
        except BaseException as exc:  # handed back to the test
            caught[0] = exc

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    return caught[0]


@pytest.mark.parametrize("checkpoint_every", [None, 1])
def test_a_migrated_store_does_not_make_its_removed_file_again_in_another_thread(
    tmp_path: Path, checkpoint_every: int | None
) -> None:
    store = SQLiteStore(tmp_path / "shop.db", migrate=True, checkpoint_every=checkpoint_every)
    try:
        with store.transaction() as tx:
            tx.get(ORDERS, "o1")
        _remove_all(tmp_path)
        caught = _in_thread(store)
        assert isinstance(caught, OperationalError), repr(caught)
        assert str(tmp_path / "shop.db") in caught.message
        assert sorted(os.listdir(tmp_path)) == []
    finally:
        store.close()


def test_a_migrated_store_does_not_make_its_removed_file_again_for_a_reader(
    tmp_path: Path,
) -> None:
    """The snapshot's reader is a connection of its own, opened on first use."""
    store = SQLiteStore(tmp_path / "shop.db", migrate=True, checkpoint_every=None)
    try:
        _remove_all(tmp_path)
        with pytest.raises(OperationalError):
            store.snapshot()
        with pytest.raises(OperationalError), store.streamed():
            pass
        assert sorted(os.listdir(tmp_path)) == []
    finally:
        store.close()


def test_the_checkpoint_thread_does_not_make_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    cp = Checkpointer(path, 1, busy_timeout_ms=0)
    try:
        cp.committed()  # wakes the thread, which opens its own connection
        deadline = time.monotonic() + 5
        while cp.failures == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cp.failures == 1 and "unable to open" in cp.last_error
        assert sorted(os.listdir(tmp_path)) == []
    finally:
        cp.close()


def test_migrate_still_creates_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = SQLiteStore(path, migrate=True)
    with store.transaction() as tx:
        assert tx.get(ORDERS, "o1") is None
    assert _in_thread(store) is None
    store.close()
    SQLiteStore(path).close()  # made, migrated, and found again
