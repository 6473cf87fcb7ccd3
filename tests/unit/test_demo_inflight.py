"""`paycore demo` killed while a provider call is in flight, or between its first writes:
the next run on the same file finishes what was in flight, exits 0, and the store checks
clean with nothing left active."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.support import cli

from paycore import invariants
from paycore_adapters.demo import shop_day
from paycore_adapters.demo_days import books_path

N = len(invariants.INVARIANTS)

#: A demo run on ``argv[1]`` that dies (``os._exit``, as SIGKILL would: nothing is
#: cleaned up) at the provider call ``argv[2]`` whose request or flow names ``argv[4]``:
#: ``before`` the provider performs it (the request is lost on the way), or ``after``
#: the provider performed it and saved its books (the answer is lost on the way back).
KILLED_AT_CALL = textwrap.dedent(
    """
    import os, sys
    from paycore.flows import policy
    from paycore_adapters import fake_provider
    from paycore_adapters.cli import main

    path, call, when, match = sys.argv[1:5]
    if when == "before":
        original = getattr(fake_provider.FakeProvider, call)

        def dies(self, *args, **kwargs):
            if match in repr(args) + repr(kwargs):
                sys.stdout.flush()
                os._exit(9)
            return original(self, *args, **kwargs)

        setattr(fake_provider.FakeProvider, call, dies)
    else:
        apply = policy.apply

        def dies_after(remote, u, flow, outcome):
            if remote.call_name == call and match in flow.id:
                sys.stdout.flush()
                os._exit(9)
            return apply(remote, u, flow, outcome)

        policy.apply = dies_after
    main(["demo", "--store", "sqlite:" + path])
    """
)

#: The first demo run on a new file dies right after it first saved the provider's
#: books, before the shop's first row is in the store.
KILLED_AFTER_FIRST_BOOKS = textwrap.dedent(
    """
    import os, sys
    from paycore_adapters import fake_state
    from paycore_adapters.cli import main

    save = fake_state.SavedAfterEveryCall.save

    def dies(self):
        save(self)
        os._exit(9)

    fake_state.SavedAfterEveryCall.save = dies
    main(["demo", "--store", "sqlite:" + sys.argv[1]])
    """
)


def killed(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=120,
        check=False,
    )
    assert run.returncode == 9, run.stderr
    return run


def active_flows(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, step FROM flows WHERE status = 'active'").fetchall()
    finally:
        conn.close()


def next_run_finishes(path: Path) -> str:
    """The next run on ``path``: every invariant holds, the store and the provider's
    books check clean, nothing is left in flight and nothing needs attention."""
    out = io.StringIO()
    failed = shop_day(out, f"sqlite:{path}")
    text = out.getvalue()
    assert failed == 0, text
    assert f"{N} of {N} invariants hold." in text
    code, report, err = cli(
        "check", "--store", f"sqlite:{path}", "--all", "--fake-books", str(books_path(path))
    )
    assert code == 0, report + err
    assert active_flows(path) == []
    code, attention, err = cli("attention", "--store", f"sqlite:{path}")
    assert code == 0 and "nothing needs attention" in attention, attention + err
    return text


@pytest.mark.parametrize(
    ("call", "when", "match"),
    [
        ("create_intent", "before", "cs_eve"),
        ("create_intent", "after", "cs_eve"),
        ("create_refund", "before", ""),
        ("create_refund", "after", "refund:"),
    ],
)
def test_a_run_killed_during_a_provider_call_is_finished_by_the_next(
    tmp_path: Path, call: str, when: str, match: str
) -> None:
    """The next run starts a day later: the flow asks the provider first, then sends
    again under a new key after the landing wait; the catch-up before the day opens
    waits for that instead of leaving it to strike out over the following days."""
    path = tmp_path / "shop.db"
    killed(KILLED_AT_CALL, str(path), call, when, match)
    assert active_flows(path), "the kill left nothing in flight"
    text = next_run_finishes(path)
    head = text.split("\n== Opening")[0]
    assert "finished; 0 flows still active" in head, head
    assert "(was at " in head, head  # the catch-up names what it finished


def test_a_first_run_killed_after_it_first_saved_the_books_is_started_again(
    tmp_path: Path,
) -> None:
    """Books holding nothing but the account set-up, beside an empty store: no provider
    call was made for any shop, so the next run starts the shop afresh (day 1)."""
    path = tmp_path / "shop.db"
    killed(KILLED_AFTER_FIRST_BOOKS, str(path))
    assert books_path(path).exists()
    text = next_run_finishes(path)
    assert "Before day" not in text  # the shop's first day, again
    code, again, err = cli("demo", "--store", f"sqlite:{path}")
    assert code == 0 and "== Before day 2 opens" in again, again + err
