"""A damaged SQLite store file reaches the operator as one typed line, not a traceback:
``paycore check``, ``migrate`` and ``flows list`` on a file one of whose pages was
overwritten (here the root page of ``paycore_migrations``, which every opener reads)."""

from __future__ import annotations

import io
import sqlite3
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from paycore_adapters.cli import main
from paycore_adapters.sql.sqlite_store import SQLiteStore


def _damaged(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    SQLiteStore(path, migrate=True).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    (root,) = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'paycore_migrations'"
    ).fetchone()
    conn.close()
    with path.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * page_size)
    return path


@pytest.mark.parametrize("command", [["migrate"], ["flows", "list"]])
def test_a_damaged_store_file_is_one_typed_line(tmp_path: Path, command: list[str]) -> None:
    path = _damaged(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([*command, "--store", f"sqlite:{path}"])
    lines = err.getvalue().splitlines()
    assert code == 2, err.getvalue()
    assert len(lines) == 1 and lines[0].startswith("error: store_damaged: "), lines
    assert "malformed" in lines[0]


def test_check_reports_a_damaged_file_as_damaged(tmp_path: Path) -> None:
    """`paycore check` reads the file whole first (``PRAGMA quick_check``): damage is its
    finding, exit status 3, not a failure to run."""
    path = _damaged(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["check", "--store", f"sqlite:{path}"])
    assert code == 3, err.getvalue()
    assert out.getvalue().startswith(f"DAMAGED store_damaged: {path}: ")


def test_the_store_reports_it_as_the_ports_error(tmp_path: Path) -> None:
    """What the command line turns into that line: the port's OperationalError."""
    from paycore.errors import OperationalError

    path = _damaged(tmp_path)
    with pytest.raises(OperationalError, match="malformed"):
        SQLiteStore(path)
