"""`paycore demo` on a SQLite file: each run is the shop's next day, and a run killed
mid-day leaves nothing the next run does not finish."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from paycore import invariants
from paycore_adapters.demo import shop_day
from paycore_adapters.demo_days import DemoBooksMissing, books_path

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
