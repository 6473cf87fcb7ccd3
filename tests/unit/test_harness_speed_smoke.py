"""Smoke test of benchmarks/harness_speed.py: both measurements execute rules.

Tiny counts only, and never an assertion on timing: this checks that the paycore
model and the trivial machine each ran examples and rules under the same
settings, not how fast they ran them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from tests.support import loaded_script

EXAMPLES, STEPS = 4, 8
#: Tests of the harness itself: slow; `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow


BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "harness_speed.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    with loaded_script(BENCHMARK, "harness_speed_under_test") as module:
        yield module


def test_paycore_measurement_runs_rules(bench: ModuleType) -> None:
    m = bench.measure_paycore(EXAMPLES, STEPS, seed=0)
    assert m.kind == "paycore"
    assert m.rules > 0 and m.examples_run > 0
    assert m.checks >= m.examples_run  # the safety invariant ran
    assert m.seconds > 0


def test_trivial_measurement_runs_rules(bench: ModuleType) -> None:
    m = bench.measure_trivial(EXAMPLES, STEPS, seed=0)
    assert m.kind == "trivial"
    assert m.rules > 0 and m.examples_run > 0
    assert m.checks >= m.examples_run
    assert m.seconds > 0


def test_shapes_machine_has_paycores_rules_and_runs_them(bench: ModuleType) -> None:
    from paycore_adapters.harness.model import PaycoreMachine

    assert bench._rule_names(bench.shapes_machine()) == bench._rule_names(PaycoreMachine)
    m = bench.measure_shapes(EXAMPLES, STEPS, seed=0)
    assert m.rules > 0 and m.examples_run > 0


def test_check_rejects_a_run_without_rules(bench: ModuleType) -> None:
    with pytest.raises(bench.BenchmarkError):
        bench.Measurement("trivial", EXAMPLES, STEPS, 0, 0, 0, 0.1).check()


def test_main_prints_json_with_both_measurements(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--examples", str(EXAMPLES), "--steps", str(STEPS), "--repeats", "1", "--json"]
    assert bench.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    for kind in ("paycore", "trivial"):
        assert out[kind]["rules"] > 0
        assert out[kind]["examples_run"] > 0
        assert len(out[kind]["all_steps_per_second"]) == 1
    assert {"ratio_paycore_trivial", "goal_paycore_trivial", "goal_met"} <= out.keys()


def test_main_prints_a_table_with_a_verdict(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--examples", "3", "--steps", "5", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "ratio paycore/trivial" in out
    assert "PASS" in out or "BELOW GOAL" in out


def test_profile_names_where_the_time_goes(bench: ModuleType) -> None:
    text = bench.profile(3, 5, top=5)
    for part in ("rule bodies", "safety invariant", "World.quiesce", "World.progress"):
        assert part in text
    assert "Hypothesis and the rest" in text
