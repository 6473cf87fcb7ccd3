"""`paycore check` on a damaged SQLite file: reported as damaged (exit 3), never exit 0.

The service does not notice a damaged page it never reads; the check reads every page
first (``PRAGMA quick_check``). The two ways to get one here: bytes of a page
overwritten, and the restore docs/operations.md warns against, a backup copied over a
file whose ``-wal`` and ``-shm`` of a dead instance were left beside it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from tests.support import cli, deliver_webhooks

from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore

PAGE = 4096


def shop(path: Path) -> tuple[Wiring, SQLiteStore]:
    store = SQLiteStore(path, migrate=True, checkpoint_every=None)
    w = in_memory(store=store)
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.service.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    w.service.restock("s1", "SKU-MUG", 1000)
    return w, store


def lifecycles(w: Wiring, first: int, n: int) -> None:
    for i in range(first, first + n):
        res = w.service.create_payment_intent(f"cs_test_{i:016d}", [CartItem("p_mug", 1)])
        w.service.confirm_payment(res.payment_id, "pm_card_visa")
        deliver_webhooks(w)


def test_a_sound_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    w, store = shop(path)
    lifecycles(w, 0, 3)
    store.close()
    rc, out, err = cli("check", "--store", f"sqlite:{path}")
    assert (rc, err) == (0, "")
    assert "0 violations" in out


def test_bytes_overwritten_in_a_page_are_reported_as_damage(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    w, store = shop(path)
    lifecycles(w, 0, 20)
    store.close()
    damaged = tmp_path / "copy.db"
    shutil.copy(path, damaged)
    pages = damaged.stat().st_size // PAGE
    with damaged.open("r+b") as f:
        for page in range(2, pages, 3):  # a b-tree page's header and cell pointers
            f.seek(page * PAGE + 1)
            f.write(b"\xff" * 16)
    rc, out, _ = cli("check", "--store", f"sqlite:{damaged}")
    assert rc == 3
    assert out.startswith(f"DAMAGED store_damaged: {damaged}: PRAGMA quick_check found:")
    assert "restore it from a backup" in out and "no invariant was checked" in out
    rc, out, _ = cli("check", "--json", "--store", f"sqlite:{damaged}")
    doc = json.loads(out)
    assert (rc, doc["violations"], doc["store_damaged"]["path"]) == (3, [], str(damaged))
    assert doc["store_damaged"]["quick_check"]
    assert cli("check", "--store", f"sqlite:{path}")[0] == 0  # the original is sound


def test_a_backup_copied_beside_a_dead_instances_log_is_damage(tmp_path: Path) -> None:
    """The crash image of a running store (its file, -wal and -shm), a backup copied over
    its file: SQLite applies the old log to the backup's pages. Moving the -wal and -shm
    away first, as the restore procedure says, gives the backup as it was."""
    path = tmp_path / "live" / "shop.db"
    path.parent.mkdir()
    w, store = shop(path)
    lifecycles(w, 0, 30)
    backup = tmp_path / "backup.db"
    target = sqlite3.connect(backup)
    with sqlite3.connect(path) as source:
        source.backup(target)
    target.close()
    lifecycles(w, 30, 30)
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("-wal", "-shm", ""):  # what a killed instance leaves on the disk
        shutil.copy(f"{path}{suffix}", crashed / f"shop.db{suffix}")
    store.close()
    assert (crashed / "shop.db-wal").stat().st_size > 0
    restored = crashed / "shop.db"
    shutil.copy(backup, restored)  # the wrong restore: the old -wal and -shm stay
    rc, out, _ = cli("check", "--store", f"sqlite:{restored}")
    assert rc == 3 and "DAMAGED" in out, out
    shutil.copy(backup, restored)  # the right one: the log moved away first
    for suffix in ("-wal", "-shm"):
        (crashed / f"shop.db{suffix}").rename(tmp_path / f"old{suffix}")
    rc, out, _ = cli("check", "--store", f"sqlite:{restored}")
    assert rc == 0, out
    with sqlite3.connect(restored) as conn:
        assert conn.execute("SELECT count(*) FROM payments").fetchone() == (30,)
