"""`paycore`'s exit codes when a command cannot run: a known error is one line on stderr
and exit 2, never a traceback; an unexpected one is exit 2 with its traceback, never 1
(1 means invariants violated)."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from tests.support import cli

from paycore.schema import ORDERS
from paycore_adapters import cli_check
from paycore_adapters.sql import migrate
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.testing.rows import order


def test_an_unreadable_demo_store_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A file that is not a database: the error's code and message, no traceback."""
    path = tmp_path / "notes.db"
    path.write_text("not a database, just words " * 100)
    code, out, err = cli("demo", "--store", f"sqlite:{path}")
    assert (code, out) == (2, "")
    assert err.startswith("error: store_file_unreadable: ") and err.count("\n") == 1


def test_a_busy_emulator_port_is_one_line_and_exit_2() -> None:
    """The port is taken: the OS's words, exit 2, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = cli("emulator", "--port", str(port))
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err


def test_an_unexpected_error_in_check_is_not_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 1 means violations: a bug in the checks is exit 2, with its traceback."""

    def broken(*_: object) -> None:
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr(cli_check, "run_checks", broken)
    url = f"sqlite:{tmp_path / 'shop.db'}"
    assert cli("migrate", "--store", url)[0] == 0
    code, out, err = cli("check", "--store", url)
    assert (code, out) == (2, "")
    assert "Traceback" in err and "RuntimeError: a bug in a check" in err


def test_a_damaged_demo_store_is_store_damaged_in_one_line(tmp_path: Path) -> None:
    """The file opens (its migrations table is whole) and a later read meets the
    damage: `error: store_damaged: ...` and exit 2, as every command but check says."""
    path = tmp_path / "shop.db"
    store = SQLiteStore(path, migrate=True)
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    sql = "SELECT rootpage FROM sqlite_master WHERE rootpage > 0 AND tbl_name != ?"
    roots = [r for (r,) in conn.execute(sql, (migrate.TABLE,))]
    conn.close()
    with path.open("r+b") as f:  # every table's and index's root page but the migrations'
        for root in roots:
            f.seek((root - 1) * page_size)
            f.write(b"\xff" * page_size)
    code, out, err = cli("demo", "--store", f"sqlite:{path}")
    assert (code, out) == (2, ""), err
    assert err.startswith("error: store_damaged: ") and err.count("\n") == 1, err
    assert "restore it from a backup" in err
