"""`paycore demo` on a SQLite file: each run is the shop's next day, and a run killed
mid-day leaves nothing the next run does not finish."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.support import cli

from paycore import invariants
from paycore import schema as s
from paycore.config import MINUTE
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.records import Seller
from paycore.unit import evolve
from paycore_adapters.demo import shop_day
from paycore_adapters.demo_days import (
    DAY_MS,
    DemoBooksMissing,
    DemoShopMissing,
    books_path,
    tokens,
)
from paycore_adapters.memory import EPOCH_MS, in_memory
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.stores import open_store

N = len(invariants.INVARIANTS)

#: Runs the demo on a file and kills the process (SIGKILL, no clean-up of any kind) as
#: Ana's card payment is confirmed: the provider has taken the payment and saved its
#: books, the store has not recorded it yet.
KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from paycore.flows import policy
    from paycore_adapters.cli import main

    original, seen = policy.apply, []

    def apply(remote, u, flow, outcome):
        if remote.call_name == "confirm_intent":
            seen.append(flow.id)
            if len(seen) == 1:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return original(remote, u, flow, outcome)

    policy.apply = apply
    main(["demo", "--store", "sqlite:" + sys.argv[1]])
    """
)


def day(path: Path) -> str:
    out = io.StringIO()
    assert shop_day(out, f"sqlite:{path}") == 0, out.getvalue()
    return out.getvalue()


def orders(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT checkout_session_id, status FROM orders").fetchall()
    finally:
        conn.close()


def test_each_run_on_one_file_is_the_next_day_of_the_same_shop(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    first = day(path)
    assert "Before day" not in first and f"{N} of {N} invariants hold." in first
    assert books_path(path).exists()
    after_one = orders(path)
    second = day(path)
    assert "== Before day 2 opens: 0 flows left in flight by the last run" in second
    assert f"{N} of {N} invariants hold." in second
    after_two = orders(path)
    assert len(after_two) == 2 * len(after_one)
    assert {s for s, _ in after_two} >= {s for s, _ in after_one}  # day 1 is still there
    assert "cs_ana_00000000002" in {s for s, _ in after_two}


def test_a_run_killed_mid_day_is_finished_by_the_next(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "Ana double-clicks" in killed.stdout and "Ben pays" not in killed.stdout
    text = day(path)
    head = text.split("\n== Opening")[0]
    assert "flows left in flight by the last run" in head
    in_flight = int(head.split("opens: ")[1].split(" flows")[0])
    assert in_flight >= 1, head
    assert "finished; 0 flows still active" in head
    assert f"{N} of {N} invariants hold." in text
    ana = [status for session, status in orders(path) if session == "cs_ana_00000000001"]
    assert ana == ["paid"]  # the payment the provider took was not lost


def test_a_shop_whose_provider_books_are_gone_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    day(path)
    books_path(path).unlink()
    with pytest.raises(DemoBooksMissing):
        shop_day(io.StringIO(), f"sqlite:{path}")


def test_the_demo_never_runs_in_the_store_paycore_store_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PAYCORE_STORE names the shop's real store: the demo keeps to its own file."""
    monkeypatch.chdir(tmp_path)
    real = tmp_path / "real.db"
    monkeypatch.setenv("PAYCORE_STORE", f"sqlite:{real}")
    code, out, _ = cli("demo")
    assert code == 0, out
    assert not real.exists() and (tmp_path / "paycore-demo.db").exists()


def test_the_demo_refuses_a_postgresql_store() -> None:
    """A database is never where a made-up shop goes, nor silently replaced by memory."""
    code, out, err = cli("demo", "--store", "postgresql://app@127.0.0.1:1/shop")
    assert (code, out) == (2, "")
    assert err.startswith("error: demo_store_refused: ") and "PostgreSQL" in err


def test_the_demo_refuses_a_store_it_did_not_make(tmp_path: Path) -> None:
    """A SQLite file holding another shop's data, with no books beside it: refused, and
    neither the file nor its directory changed."""
    path = tmp_path / "real.db"
    opened = open_store(f"sqlite:{path}", create=True)
    with opened.store.transaction() as tx:
        tx.insert(s.SELLERS, Seller("s1", "Real Shop", "acct_real"))
    opened.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = cli("demo", "--store", f"sqlite:{path}")
    assert (code, out) == (2, "")
    assert err.startswith("error: demo_books_missing: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    again = open_store(f"sqlite:{path}")
    assert [r.id for r in again.store.snapshot().tables[s.SELLERS.name].values()] == ["s1"]
    again.close()


def test_books_without_their_shop_are_refused_clearly(tmp_path: Path) -> None:
    """Only the store file deleted: refused with what to do, not a crash on day 2."""
    path = tmp_path / "shop.db"
    day(path)
    for leftover in tmp_path.glob("shop.db*"):
        if leftover != books_path(path):
            leftover.unlink()
    code, out, err = cli("demo", "--store", f"sqlite:{path}")
    assert (code, out) == (2, "")
    assert err.startswith("error: demo_shop_missing: ") and "delete the books" in err
    with pytest.raises(DemoShopMissing):
        shop_day(io.StringIO(), f"sqlite:{path}")


def test_books_saved_after_the_next_day_s_catch_up_began_still_open_that_day(
    tmp_path: Path,
) -> None:
    """A run killed while finishing the last one's flights saved a time later than an
    hour before the day opens: the next run opens that day without going back in time."""
    path = tmp_path / "shop.db"
    day(path)
    books = json.loads(books_path(path).read_text())
    books["now"] = EPOCH_MS + DAY_MS - 30 * MINUTE  # day 2's catch-up, 30 minutes in
    books_path(path).write_text(json.dumps(books))
    text = day(path)
    assert "== Before day 2 opens" in text and f"{N} of {N} invariants hold." in text


def references(path: Path) -> tuple[list[str], list[str]]:
    """Every payment's and every refund's reference in the file."""
    conn = sqlite3.connect(path)
    try:
        pays = [r for (r,) in conn.execute("SELECT reference FROM payments")]
        refunds = [r for (r,) in conn.execute("SELECT reference FROM refunds")]
        return pays, refunds
    finally:
        conn.close()


def test_every_day_after_the_second_still_holds_every_invariant(tmp_path: Path) -> None:
    """Each day draws references of its own: day 3 once drew day 2's again, and two
    refunds of different days read as one refund made twice."""
    path = tmp_path / "shop.db"
    for n in (1, 2, 3):
        text = day(path)  # asserts no invariant is violated
        assert f"{N} of {N} invariants hold." in text, n
    pays, refunds = references(path)
    assert len(set(pays)) == len(pays) and len(set(refunds)) == len(refunds)


def test_days_after_a_killed_day_draw_references_of_their_own(tmp_path: Path) -> None:
    """Day 1, day 2 killed as Ana's payment is confirmed, then two more days: each ends
    with every invariant, and no reference is drawn twice."""
    path = tmp_path / "shop.db"
    day(path)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "== Before day 3 opens: " in day(path)
    assert "== Before day 4 opens: " in day(path)
    pays, refunds = references(path)
    assert len(set(pays)) == len(pays) and len(set(refunds)) == len(refunds)


def test_a_reference_drawn_again_on_a_kept_payment_gives_the_next_day_another_seed() -> None:
    """A checkout that draws its payment's reference again keeps no new row: the next
    day's tokens must still differ, or that day could draw the same reference again."""
    store = MemoryStore()
    w = in_memory(store=store)
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Shop", "acct_1")
    w.service.add_product("p1", "s1", "SKU-1", "Mug", Money(1250, "EUR"))
    w.service.restock("s1", "SKU-1", 5)
    w.service.create_payment_intent("cs_test_seed000001", [CartItem("p1", 1)])
    before = tokens(store).token()
    assert tokens(store).token() == before  # the same file replays the same run
    with store.transaction() as tx:
        (payment,) = list(tx.scan(s.PAYMENTS))
        again = {"reference": "pref_drawn_again", "version": payment.version + 1}
        tx.update(s.PAYMENTS, evolve(payment, again))
    assert tokens(store).token() != before
