"""A seeded run is the same run wherever it starts: the command line or a test session."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Tests of the harness itself: slow; `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow


ROOT = Path(__file__).resolve().parents[2]
ARGS = {"seed": 5, "examples": 30, "steps": 30}


def report(imports: str) -> dict[str, object]:
    """Run the model in a fresh interpreter after importing ``imports`` first."""
    code = (
        f"{imports}\n"
        "import json\n"
        "from paycore_adapters.harness.runner import run_chaos\n"
        f"r = run_chaos(shrink=False, **{ARGS!r})\n"
        "print(json.dumps([r.rules, r.checks, r.counts, r.faults]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_loading_other_modules_does_not_change_a_seeded_run() -> None:
    """Hypothesis draws constants from the source of loaded modules; the runner loads all
    of the project's first, so importing the explorer and a test module first changes
    nothing."""
    alone = report("")
    crowded = report(
        "import paycore_adapters.harness.explore, tests.chaos.test_checkout_paths, "
        "tests.model.test_invariant_teeth"
    )
    assert alone == crowded
    rules, checks, counts, _ = alone
    assert isinstance(counts, dict) and counts["steps"] > 0 and checks > 0 and rules > 0


def test_a_run_starts_with_every_project_module_loaded() -> None:
    """Whatever was imported before, every module of paycore and paycore_adapters is
    loaded once a run has begun, so the pool of source constants is the same."""
    code = (
        "import pkgutil, sys\n"
        "import paycore, paycore_adapters\n"
        "from paycore_adapters.harness.runner import run_chaos\n"
        "run_chaos(seed=0, examples=1, steps=1, shrink=False)\n"
        "names = [i.name for p in (paycore, paycore_adapters)\n"
        "         for i in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]\n"
        "print(sorted(n for n in names if n not in sys.modules))\n"
        "print(len(names))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    missing, count = out.stdout.splitlines()
    assert missing == "[]" and int(count) > 50


def _negative_literals(source: str) -> set[int]:
    """The negative integer literals of ``source`` (``-n`` is ``USub`` applied to ``n``)."""
    return {
        -node.operand.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    }


def test_no_project_literal_falls_in_the_swarm_masks_range() -> None:
    """The swarm mask is drawn negated, from -255..0, so that no number of the project's
    source (which Hypothesis sometimes draws instead; it skips those between -100 and
    100, which it favours anyway) biases which kinds of action an example leaves out."""
    found = {
        (path.name, n)
        for path in (ROOT / "src").rglob("*.py")
        for n in _negative_literals(path.read_text())
        if -255 <= n <= -100
    }
    assert not found, found
