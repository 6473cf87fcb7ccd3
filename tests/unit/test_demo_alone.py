"""`paycore demo` runs alone on its files: a second run while one is running is refused
(`demo_busy`) and changes nothing, a run killed mid-day holds nothing back, and a day
whose steps fail (a shop in a bad state) still ends with its report."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import cli

from paycore import invariants
from paycore.errors import OperationalError
from paycore.service import PaymentService
from paycore_adapters.demo import shop_day
from paycore_adapters.demo_days import books_path
from paycore_adapters.fake_provider import FakeProvider

N = len(invariants.INVARIANTS)

#: Runs the demo on the store ``argv[1]`` and pauses between two steps of the day (no
#: transaction open, the books saved) until a line comes on stdin.
PAUSED_RUN = textwrap.dedent(
    """
    import sys
    from paycore_adapters import demo
    from paycore_adapters.cli import main

    ben = demo._ben_three_d_secure

    def paused(w, tl):
        print("PAUSED", flush=True)
        sys.stdin.readline()
        ben(w, tl)

    demo._ben_three_d_secure = paused
    raise SystemExit(main(["demo", "--store", sys.argv[1]]))
    """
)


@contextlib.contextmanager
def paused_run(store: str) -> Iterator[subprocess.Popen[str]]:
    """A demo run on ``store`` in another process, paused mid-day; killed if left so."""
    run = subprocess.Popen(
        [sys.executable, "-c", PAUSED_RUN, store],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert run.stdout is not None
        for line in run.stdout:
            if line == "PAUSED\n":
                break
        else:
            pytest.fail(f"the run ended before its pause: {run.communicate()}")
        yield run
    finally:
        if run.poll() is None:
            run.kill()
        run.communicate()


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def resumed(run: subprocess.Popen[str]) -> str:
    """Let the paused run finish its day; its output from the pause on."""
    out, err = run.communicate("\n", timeout=120)
    assert run.returncode == 0, err
    return out


def refused(store: str) -> None:
    code, out, err = cli("demo", "--store", store)
    assert (code, out) == (2, ""), (code, out, err)
    assert err.startswith("error: demo_busy: ") and err.count("\n") == 1, err
    assert "another `paycore demo`" in err


def test_a_second_run_on_a_shop_being_run_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shop.db"
    with paused_run(f"sqlite:{path}") as run:
        before = files(tmp_path)
        assert books_path(path).name in before
        refused(f"sqlite:{path}")
        assert files(tmp_path) == before  # neither the store nor the books
        assert f"{N} of {N} invariants hold." in resumed(run)
    out = io.StringIO()
    assert shop_day(out, f"sqlite:{path}") == 0, out.getvalue()
    assert "== Before day 2 opens: 0 flows left in flight" in out.getvalue()
    code, text, err = cli(
        "check", "--store", f"sqlite:{path}", "--all", "--fake-books", str(books_path(path))
    )
    assert (code, err) == (0, "") and " 0 violations" in text, text


def test_a_run_killed_while_it_runs_the_shop_does_not_block_the_next(tmp_path: Path) -> None:
    """SIGKILL: no clean-up runs, and the next run still gets the shop."""
    path = tmp_path / "shop.db"
    with paused_run(f"sqlite:{path}") as run:
        run.kill()
        run.wait()
    out = io.StringIO()
    assert shop_day(out, f"sqlite:{path}") == 0, out.getvalue()
    assert "== Before day 2 opens" in out.getvalue()
    assert f"{N} of {N} invariants hold." in out.getvalue()


def test_a_json_shop_being_made_is_not_made_twice_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    with paused_run(f"json:{path}") as run:
        before = files(tmp_path)
        refused(f"json:{path}")
        assert files(tmp_path) == before  # no shop saved over the running one's
        assert f"store saved to {path}" in resumed(run)
    assert json.loads(path.read_text())["tables"]


def test_a_shop_in_a_bad_state_still_gets_its_day_s_report(tmp_path: Path) -> None:
    """Books that no longer match the store (the provider hands out ids the store has
    already recorded): each failing step is on the timeline, the day ends with the
    invariant table, exit 1, and nothing fails unexpectedly."""
    path = tmp_path / "shop.db"
    shop_day(io.StringIO(), f"sqlite:{path}")
    books = json.loads(books_path(path).read_text())
    books["seq"] = {}
    books_path(path).write_text(json.dumps(books))
    code, out, err = cli("demo", "--store", f"sqlite:{path}")
    assert (code, err) == (1, ""), err
    assert "[flow_pending]" in out and "FAIL" in out
    assert f"of {N} invariants hold." in out


FAILING = {
    "checkouts": ["create_payment_intent"],
    "everything after the checkouts": [
        "confirm_payment",
        "cancel_payment",
        "create_refund",
        "handle_webhook",
        "payment",
        "order",
        "run_janitor",
        "run_jobs",
        "restock",
        "list_intents",
        "complete_action",
    ],
    "webhooks": ["handle_webhook"],
}


@pytest.mark.parametrize("what", FAILING)
def test_a_day_whose_steps_fail_ends_with_its_report(
    what: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("the store is down (planted by the test)")

    for name in FAILING[what]:
        owner = FakeProvider if hasattr(FakeProvider, name) else PaymentService
        monkeypatch.setattr(owner, name, down)
    out = io.StringIO()
    shop_day(out, "memory")
    text = out.getvalue()
    assert "OperationalError [store_unavailable]: the store is down" in text
    assert f"of {N} invariants hold." in text
