"""The stateful model, run as a test: no invariant violated, every fault kind fires."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest
from hypothesis import HealthCheck, settings

from paycore_adapters.cli import main
from paycore_adapters.harness.faults import FaultKind
from paycore_adapters.harness.model import PaycoreMachine
from paycore_adapters.harness.runner import profile_named, run_chaos

PROFILE = profile_named(None)  # PAYCORE_PROFILE=nightly for the long run


class PaycoreModel(PaycoreMachine):
    """The project's own wiring: the in-memory store and the fake provider."""


TestPaycoreModel = PaycoreModel.TestCase
TestPaycoreModel.settings = settings(
    max_examples=PROFILE.examples // 2,
    stateful_step_count=PROFILE.steps,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_default_run_is_clean_and_every_fault_fires() -> None:
    """A seeded run of the profile finds nothing, each kind of fault fired at least once, and
    every step and transition was reached or is listed with a reason."""
    report = run_chaos(seed=0)
    report.check()  # raises the violation, its timeline and replay command as notes
    assert report.ok
    assert not report.missing_faults, report.missing_faults
    assert not report.coverage_gaps, report.coverage_gaps
    assert report.checks > report.examples_run > 0
    assert set(report.faults) == {k.value for k in FaultKind}


def test_chaos_command_json_has_the_promised_fields() -> None:
    """`paycore chaos --json` prints seed, examples, steps, rate, faults and violations."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["chaos", "--seed", "3", "--examples", "10", "--steps", "20", "--json"])
    doc = json.loads(out.getvalue())
    assert code == 0
    assert {"seed", "examples", "steps", "steps_per_second", "faults", "violations"} <= set(doc)
    assert doc["seed"] == 3 and doc["examples"] == 10 and doc["steps"] == 20
    assert doc["violations"] == [] and doc["steps_per_second"] > 0


def test_chaos_command_exits_1_and_prints_a_replayable_timeline() -> None:
    """A seeded bug makes `paycore chaos` exit 1 naming the invariant, timeline and replay.
    (S2, one of the bugs whose shrinking is quick: the command's output is what is tested
    here; every bug's detection is in tests/chaos/test_seeded_bugs.py.)"""
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["chaos", "--seed", "0", "--bug", "S2"])
    text = out.getvalue()
    assert code == 1
    assert "VIOLATED (safety): [hold-tied-to-payment]" in text
    assert "timeline of the shrunk counterexample" in text
    assert "replay: paycore chaos --seed 0" in text and "--bug S2" in text


def test_same_seed_same_run() -> None:
    """A run is reproducible: the same seed gives the same rules and faults."""
    a, b = (run_chaos(seed=5, examples=15, steps=25) for _ in range(2))
    assert (a.rules, a.faults, a.counts) == (b.rules, b.faults, b.counts)


@pytest.mark.parametrize(("profile", "code"), [("quick", 0), ("default", 1)])
def test_only_full_profiles_fail_on_coverage(
    profile: str, code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick profile reports what it did not reach and passes; a full profile that
    leaves fault kinds unfired fails (both shrunk to three examples here)."""
    from paycore_adapters.harness import runner

    monkeypatch.setitem(runner.PROFILES, profile, runner.Profile(examples=3, steps=5))
    out = io.StringIO()
    with redirect_stdout(out):
        got = main(["chaos", "--seed", "0", "--profile", profile])
    assert got == code
    if code == 1:
        assert "fault kinds that never fired" in out.getvalue()
