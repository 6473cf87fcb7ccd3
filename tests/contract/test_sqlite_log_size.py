"""The SQLite store's ``-wal`` file does not keep the largest size it ever reached, and
the checkpoint thread copies the whole log back when it can, so the next writer starts
the log again (:mod:`paycore_adapters.sql.checkpointer`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from paycore.schema import ORDERS
from paycore_adapters.sql import sqlite_store
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.testing.rows import order

from .test_sqlite_checkpoints import commit_orders, wait_for


def wal_size(path: Path) -> int:
    return path.with_name(path.name + "-wal").stat().st_size


def test_the_log_file_shrinks_back_once_a_reader_lets_it_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "LOG_LIMIT", 64 * 1024)
    path = tmp_path / "p.db"
    store = SQLiteStore(path, migrate=True, checkpoint_every=10, synchronous="OFF")
    assert store.checkpoints is not None
    assert store.connection().execute("PRAGMA journal_size_limit").fetchone() == (64 * 1024,)
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM paycore_sequences").fetchone()  # pins the log
    commit_orders(store, 300)
    grown = wal_size(path)
    assert grown > 256 * 1024
    reader.execute("COMMIT")  # the reader lets the log go
    runs = store.checkpoints.runs
    commit_orders(store, 10, first=300)
    wait_for(lambda: store.checkpoints.runs > runs, "a checkpoint after the reader")
    wait_for(lambda: store.checkpoints.last[0] == store.checkpoints.last[1], "all copied")
    with store.transaction() as tx:  # the writer after it starts the log again
        tx.insert(ORDERS, order("last"))
    assert wal_size(path) <= 64 * 1024 + 16 * 4096, (grown, wal_size(path))
    reader.close()
    store.close()


def test_a_checkpoint_says_how_far_it_got(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    store = SQLiteStore(path, migrate=True, checkpoint_every=5)
    assert store.checkpoints is not None
    commit_orders(store, 5)
    wait_for(lambda: store.checkpoints.runs == 1, "a checkpoint after 5 commits")
    log, done = store.checkpoints.last
    assert log == done > 0  # nobody else wrote or read: all of it copied back
    with store.transaction() as tx:
        tx.insert(ORDERS, order("next"))
    conn = sqlite3.connect(path)
    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    conn.close()
    assert frames < log  # the log started again from its beginning
    store.close()
