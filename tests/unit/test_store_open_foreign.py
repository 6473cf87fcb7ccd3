"""Opening a SQLite store on a file that is not paycore's: another program's database is
refused before anything is written into it (not even its journal mode), and the paths
and options that would open something other than the file meant are refused up front."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tests.support import cli

from paycore_adapters.sql.foreign import StoreNotPaycore
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.stores import StoreUrlInvalid, open_store, parse_url


def other_program(path: Path) -> str:
    """Another program's SQLite file (rollback journal, a table of its own); its hash."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
        conn.execute("INSERT INTO invoices VALUES (1, 100)")
    conn.close()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def journal_mode(path: Path) -> str:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("migrate", [True, False])
def test_another_programs_file_is_refused_before_anything_is_written(
    tmp_path: Path, migrate: bool
) -> None:
    path = tmp_path / "invoices.db"
    before = other_program(path)
    with pytest.raises(StoreNotPaycore) as raised:
        SQLiteStore(path, migrate=migrate)
    assert raised.value.code == "store_not_paycore"
    assert "invoices" in raised.value.message and str(path) in raised.value.message
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert journal_mode(path) == "delete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["invoices.db"]


def test_migrate_on_another_programs_file_exits_2_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "invoices.db"
    before = other_program(path)
    code, _, err = cli("migrate", "--store", f"sqlite:{path}")
    assert code == 2
    assert "store_not_paycore" in err and "invoices" in err
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_an_empty_file_and_a_new_path_still_become_stores(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    for path in (empty, tmp_path / "new.db"):
        opened = open_store(f"sqlite:{path}", create=True)
        opened.close()
        assert journal_mode(path) == "wal"


def test_a_paycore_store_holding_an_extra_table_is_still_opened(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    SQLiteStore(path, migrate=True).close()
    conn = sqlite3.connect(path)
    with conn:  # an operator's own notes table beside paycore's
        conn.execute("CREATE TABLE ops_notes (note TEXT)")
    conn.close()
    SQLiteStore(path, migrate=True).close()
    SQLiteStore(path).close()


@pytest.mark.parametrize(
    "url",
    ["sqlite:///shop.db", "sqlite://tmp/shop.db", "json:///shop.json", "sqlite://///shop.db"],
)
def test_slashes_after_the_scheme_are_refused_with_a_hint(url: str) -> None:
    with pytest.raises(StoreUrlInvalid) as raised:
        parse_url(url)
    assert "sqlite:" in raised.value.message or "json:" in raised.value.message
    assert "/shop" in raised.value.message


@pytest.mark.parametrize(
    "url",
    ["sqlite:////var/lib/paycore/shop.db?synchronous=FULL", "json:////var/lib/paycore/shop.db"],
)
def test_four_slashes_name_a_file_from_the_root(url: str) -> None:
    """``sqlite:////var/lib/shop.db`` is ``/var/lib/shop.db`` for SQLAlchemy and for a
    ``file:`` URI alike: taken, as before."""
    parsed = parse_url(url)
    assert parsed.kind == url.partition(":")[0]
    assert parsed.path == Path("/var/lib/paycore/shop.db")


def test_synchronous_off_and_repeated_options_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    for url in (f"sqlite:{path}?synchronous=OFF", f"sqlite:{path}?synchronous=off"):
        with pytest.raises(StoreUrlInvalid, match="OFF"):
            parse_url(url)
    with pytest.raises(StoreUrlInvalid, match="more than once"):
        parse_url(f"sqlite:{path}?synchronous=NORMAL&synchronous=FULL")
    assert parse_url(f"sqlite:{path}?synchronous=NORMAL").options == {"synchronous": "NORMAL"}
    assert not path.exists()


def test_a_device_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    left = set(os.listdir("/dev"))
    code, _, err = cli("migrate", "--store", "sqlite:/dev/null")
    assert code == 2 and "not a regular file" in err
    assert set(os.listdir("/dev")) == left  # no /dev/null-journal


@pytest.mark.parametrize("scheme", ["", "json:", "sqlite:"])
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, scheme: str) -> None:
    fifo = tmp_path / "pipe.db" if scheme == "sqlite:" else tmp_path / "pipe"
    os.mkfifo(fifo)
    done: list[tuple[int, str, str]] = []
    t = threading.Thread(
        target=lambda: done.append(cli("check", "--store", f"{scheme}{fifo}")), daemon=True
    )
    t.start()
    t.join(timeout=20)
    if not done:  # unblock the reader so the thread ends
        with open(fifo, "wb"):
            pass
        t.join(timeout=5)
        pytest.fail("the check waited on the FIFO")
    code, _, err = done[0]
    assert code == 2 and "not a regular file" in err


HOT = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA cache_size=1")  # the change spills into the file before COMMIT
conn.execute("BEGIN")
conn.execute("UPDATE invoices SET total = total + 1")
os._exit(9)  # killed mid-write: a hot journal is left beside the file
"""


def crashed_mid_write(path: Path) -> int:
    """Another program's rollback-journal file whose writer was killed mid-transaction
    (``PATH-journal`` is hot); the total its committed rows hold."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
        conn.executemany("INSERT INTO invoices VALUES (?, ?)", [(i, i) for i in range(2000)])
    conn.close()
    done = subprocess.run([sys.executable, "-c", HOT, str(path)], check=False)
    assert done.returncode == 9
    assert path.with_name(path.name + "-journal").stat().st_size > 0
    return sum(range(2000))


def tables_and_total(path: Path) -> tuple[list[str], int]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        names = [str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master")]
        return names, int(conn.execute("SELECT sum(total) FROM invoices").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("how", ["store", "cli"])
def test_another_programs_file_with_a_hot_journal_is_refused_not_switched_to_wal(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "invoices.db"
    total = crashed_mid_write(path)
    if how == "store":
        with pytest.raises(StoreNotPaycore):
            SQLiteStore(path, migrate=True)
    else:
        code, _, err = cli("migrate", "--store", f"sqlite:{path}")
        assert code == 2 and "store_not_paycore" in err, err
    # the journal was rolled back (any opener's recovery), and nothing of paycore's written
    assert tables_and_total(path) == (["invoices"], total)
    assert journal_mode(path) == "delete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["invoices.db"]


def test_the_connection_that_writes_refuses_a_foreign_file_before_wal_or_migrating(
    tmp_path: Path,
) -> None:
    """The first connection that may write reads the tables before it switches the file
    to WAL or migrates."""
    path = tmp_path / "invoices.db"
    before = other_program(path)
    for migrate in (True, False):
        with pytest.raises(StoreNotPaycore):
            SQLiteStore(path, migrate=migrate)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
        assert journal_mode(path) == "delete"
