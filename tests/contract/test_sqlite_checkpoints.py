"""The SQLite store checkpoints its write-ahead log on a thread of its own
(:mod:`paycore_adapters.sql.checkpointer`), not inside the commit that fills the log."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from paycore.errors import InvalidInput
from paycore.schema import ORDERS
from paycore_adapters.sql.checkpointer import BOUND, Checkpointer
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.testing.rows import order


def checkpoint_threads(folder: Path) -> list[threading.Thread]:
    """The checkpoint threads of stores in ``folder`` (other tests' stores may run theirs)."""
    prefix = f"sqlite-checkpoint:{folder}"
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def commit_orders(store: SQLiteStore, n: int, first: int = 0) -> None:
    for i in range(first, first + n):
        with store.transaction() as tx:
            tx.insert(ORDERS, order(f"o{i}"))


def wait_for(condition: object, what: str) -> None:
    """Wait (bounded) for another thread to make ``condition()`` true."""
    for _ in range(3000):
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.01)
    pytest.fail(f"never happened: {what}")


def test_every_n_commits_a_thread_checkpoints_the_log(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.db", migrate=True, checkpoint_every=5)
    assert store.checkpoints is not None
    commit_orders(store, 4)
    assert store.checkpoints.runs == 0 and not checkpoint_threads(tmp_path)  # none needed yet
    commit_orders(store, 1, first=4)
    wait_for(lambda: store.checkpoints.runs == 1, "a checkpoint after 5 commits")
    assert len(checkpoint_threads(tmp_path)) == 1
    # Two wake-ups while the thread is still busy make one run, so one at a time.
    commit_orders(store, 5, first=5)
    wait_for(lambda: store.checkpoints.runs == 2, "a checkpoint after 10 commits")
    commit_orders(store, 5, first=10)
    wait_for(lambda: store.checkpoints.runs == 3, "a checkpoint every 5 commits")
    assert store.checkpoints.failures == 0
    store.close()
    assert not checkpoint_threads(tmp_path)
    again = SQLiteStore(tmp_path / "p.db")
    assert len(again.snapshot().rows(ORDERS)) == 15


def test_the_commits_own_automatic_checkpoint_is_only_a_bound(tmp_path: Path) -> None:
    background = SQLiteStore(tmp_path / "b.db", migrate=True)
    inline = SQLiteStore(tmp_path / "i.db", migrate=True, checkpoint_every=None)
    assert background.connection().execute("PRAGMA wal_autocheckpoint").fetchone() == (BOUND,)
    assert inline.connection().execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    assert inline.checkpoints is None
    commit_orders(inline, 5)
    assert not checkpoint_threads(tmp_path)
    background.close()
    inline.close()


def test_closing_stops_the_thread_and_the_next_commits_start_one_again(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.db", migrate=True, checkpoint_every=2)
    assert store.checkpoints is not None
    commit_orders(store, 2)
    wait_for(lambda: store.checkpoints.runs == 1, "the first checkpoint")
    store.close()
    assert not checkpoint_threads(tmp_path)
    commit_orders(store, 2, first=2)  # the store reopens its connections on use
    wait_for(lambda: store.checkpoints.runs == 2, "a checkpoint after reopening")
    store.close()
    assert not checkpoint_threads(tmp_path)


def test_a_dropped_disposable_store_stops_its_thread(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.db", migrate=True, checkpoint_every=1)
    store.dispose_when_dropped()
    commit_orders(store, 1)
    checkpoints = store.checkpoints
    assert checkpoints is not None
    wait_for(lambda: checkpoints.runs == 1, "the first checkpoint")
    del store
    gc.collect()
    assert not checkpoint_threads(tmp_path)
    assert not (tmp_path / "p.db").exists()


def test_a_checkpoint_refused_is_counted_not_raised(tmp_path: Path) -> None:
    cp = Checkpointer(tmp_path / "p.db", 1, busy_timeout_ms=0)
    conn = sqlite3.connect(tmp_path / "p.db")
    conn.close()  # a closed connection refuses every statement
    cp.checkpoint(conn)
    assert (cp.runs, cp.failures) == (0, 1)


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    """Typed and by name, before the file is made (tests/unit/test_sqlite_store_arguments.py)."""
    with pytest.raises(InvalidInput, match="checkpoint_every") as refused:
        SQLiteStore(tmp_path / "p.db", migrate=True, checkpoint_every=0)
    assert refused.value.fields["field"] == "checkpoint_every"
    assert not (tmp_path / "p.db").exists()
