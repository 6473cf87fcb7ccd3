"""A SQLite file damaged under a running store (SQLITE_CORRUPT, SQLITE_NOTADB) is
``store_damaged``: not retryable, saying to stop the instances and restore a backup;
never ``store_unavailable``, which the engine and the jobs would retry forever."""

from __future__ import annotations

import io
import sqlite3
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from paycore.errors import OperationalError
from paycore.schema import FLOWS, ORDERS
from paycore_adapters.cli import main
from paycore_adapters.sql.sqlite_errors import StoreDamaged
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.testing.rows import order


def _damage(path: Path, table: str) -> None:
    """Overwrite ``table``'s root page in the file (the log checkpointed into it first)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    conn.close()
    with path.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * page_size)


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    store = SQLiteStore(path, migrate=True)
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
    store.close()
    _damage(path, ORDERS.name)
    return path


def test_a_damaged_table_is_store_damaged_not_retryable(damaged: Path) -> None:
    store = SQLiteStore(damaged)  # the migrations table is whole: it opens
    with pytest.raises(StoreDamaged) as raised:
        store.snapshot()
    assert raised.value.code == "store_damaged" and not raised.value.retryable
    assert "restore" in raised.value.message and "malformed" in raised.value.message
    with pytest.raises(StoreDamaged), store.transaction() as tx:
        tx.insert(ORDERS, order("o2"))
    # An OperationalError still: the engine re-raises it as a store failure (no strike).
    assert issubclass(StoreDamaged, OperationalError)
    store.close()


def test_paycore_flows_says_damaged_in_one_line(tmp_path: Path) -> None:
    """A command that opens the store and then meets the damage prints one line (`paycore
    check` reads the whole file first: ``tests/unit/test_check_damaged_file.py``)."""
    path = tmp_path / "shop.db"
    SQLiteStore(path, migrate=True).close()
    _damage(path, FLOWS.name)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["flows", "list", "--store", f"sqlite:{path}"])
    lines = err.getvalue().splitlines()
    assert code == 2, err.getvalue()
    assert len(lines) == 1 and lines[0].startswith("error: store_damaged: "), lines


def test_a_file_that_is_no_database_says_so(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    SQLiteStore(path, migrate=True, checkpoint_every=None).close()
    path.write_bytes(b"not a database at all" * 400)
    with pytest.raises(StoreDamaged) as raised:
        SQLiteStore(path)
    assert "not a database" in raised.value.message and "backup" in raised.value.message
