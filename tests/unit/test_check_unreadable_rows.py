"""`paycore check` on a store holding rows that cannot be read as their records (a hand
edit, a schema drift): each such row is a finding naming its table, its key, and the
column and value when known; the check goes on with the other rows and invariants, and
exits 1. And on SQLite the check never writes the store's file: a crashed writer's
``-wal`` stays beside it, untouched."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support import cli

from paycore_adapters.demo import shop_day


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("day") / "shop.db"
    assert shop_day(io.StringIO(), f"sqlite:{path}") == 0
    return path


def broken(day: Path, tmp_path: Path, sql: str) -> Path:
    path = tmp_path / "shop.db"
    path.write_bytes(day.read_bytes())
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript(sql)
    conn.close()
    return path


BAD = {
    "status": (
        "UPDATE orders SET status = 'shipped' WHERE id = 'ord_000002';",
        "orders/ord_000002",
        "status",
        "shipped",
    ),
    "json": (
        "UPDATE orders SET lines = '{not json' WHERE id = 'ord_000002';",
        "orders/ord_000002",
        "lines",
        "{not json",
    ),
    "amount": (
        "UPDATE payments SET amount = 'abc' WHERE id = 'pay_000002';",
        "payments/pay_000002",
        "amount",
        "abc",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_an_unreadable_row_is_a_finding_and_the_check_goes_on(
    day: Path, tmp_path: Path, case: str
) -> None:
    sql, subject, column, value = BAD[case]
    path = broken(day, tmp_path, sql + "UPDATE stock SET committed = on_hand + 5 "
                  "WHERE sku = 'MUG-BLUE';")  # fmt: skip
    code, out, err = cli("check", "--store", f"sqlite:{path}")
    assert code == 1, err
    assert "Traceback" not in err and err == ""
    line = next(x for x in out.splitlines() if "[record-readable]" in x)
    assert subject in line and column in line and value in line
    assert "VIOLATED [no-oversell]" in out  # the other invariants still ran
    code, out, _ = cli("check", "--store", f"sqlite:{path}", "--json")
    assert code == 1
    doc = json.loads(out)
    found = [v for v in doc["violations"] if v["invariant"] == "record-readable"]
    assert [v["subject"] for v in found] == [subject]
    assert column in found[0]["detail"] and value in found[0]["detail"]
    assert any(v["invariant"] == "no-oversell" for v in doc["violations"])


WRITER = """
import os, sys
from paycore_adapters.sql.sqlite_store import SQLiteStore
store = SQLiteStore(sys.argv[1], checkpoint_every=None)
conn = store.connection()
conn.execute("PRAGMA wal_autocheckpoint=0")
conn.execute("CREATE TABLE scratch (x INTEGER)")
os._exit(9)  # killed with its commit in the -wal only
"""


def test_the_check_leaves_a_crashed_writers_wal_and_the_file_as_they_are(
    day: Path, tmp_path: Path
) -> None:
    path = tmp_path / "shop.db"
    path.write_bytes(day.read_bytes())
    done = subprocess.run([sys.executable, "-c", WRITER, str(path)], check=False)
    assert done.returncode == 9
    wal = path.with_name("shop.db-wal")
    assert wal.exists() and wal.stat().st_size > 0
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, wal)}
    code, _, err = cli("check", "--store", f"sqlite:{path}")
    assert code == 0, err
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, wal)} == files
    assert os.path.exists(wal)


def test_the_check_leaves_no_wal_or_shm_behind_when_there_was_none(
    day: Path, tmp_path: Path
) -> None:
    """Left behind, a ``-wal``/``-shm`` made by an account other than the service's can
    keep the service from writing its store; the check's last connection removes them."""
    path = tmp_path / "shop.db"
    path.write_bytes(day.read_bytes())
    code, _, err = cli("check", "--store", f"sqlite:{path}")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.db"]
