"""Smoke test of benchmarks/bug_detection.py: it reports a caught bug, never a timing."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from tests.support import loaded_script

#: Tests of the harness itself: slow; `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow


BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bug_detection.py"


def test_a_seeded_bug_is_reported_caught_with_its_invariant() -> None:
    """S2 (a second order for one session) is caught by an invariant the catalog expects."""
    out = io.StringIO()
    with loaded_script(BENCHMARK, "bug_detection_under_test") as bench, redirect_stdout(out):
        code = bench.main(["--bug", "S2", "--seeds", "1", "--json"])
    doc = json.loads(out.getvalue())
    assert code == 0
    assert doc["summary"]["detected"] == doc["summary"]["bugs"] == 1
    (s2,) = doc["bugs"]
    assert s2["bug"] == "S2" and s2["detected"] and s2["seed"] == 0 and s2["runs"] == 1
    assert "one-order-per-session" in s2["invariants"] and s2["seconds"] >= 0
