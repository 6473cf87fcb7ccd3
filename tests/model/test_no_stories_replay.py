"""A run without stories prints a replay command that runs it again without stories."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from paycore_adapters.cli import main
from paycore_adapters.harness.runner import run_chaos

pytestmark = pytest.mark.slow


def test_the_replay_of_a_run_without_stories_is_that_run() -> None:
    report = run_chaos(seed=2, examples=3, with_stories=False)
    assert report.replay.endswith("--no-stories")
    assert "--no-stories" not in run_chaos(seed=2, examples=3).replay
    out = io.StringIO()
    with redirect_stdout(out):
        main([*report.replay.split()[1:], "--json"])
    replayed = json.loads(out.getvalue())
    assert (replayed["rules"], replayed["counts"]) == (report.rules, report.counts)
