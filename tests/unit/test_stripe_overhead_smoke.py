"""Smoke test of benchmarks/stripe_overhead.py: both runs complete their lifecycles and
send the same requests. Tiny counts, and never an assertion on timing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from tests.support import loaded_script

pytestmark = pytest.mark.slow

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "stripe_overhead.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    with loaded_script(BENCHMARK, "stripe_overhead_under_test") as module:
        yield module


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_both_runs_send_the_same_three_requests_a_lifecycle(bench: ModuleType, store: str) -> None:
    r = bench.run(lifecycles=4, rounds=2, store=store)
    assert r["requests_per_lifecycle"] == {
        "retrieve_account": 1.0,
        "create_intent": 1.0,
        "confirm_intent": 1.0,
    }
    assert r["paycore"]["lifecycles"] == r["bare"]["lifecycles"] == 4
    assert r["ratio"] > 0 and r["goal"] == 0.7
    assert "paycore / bare" in bench.report(r)


def test_runs_that_send_different_requests_are_refused(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bench.measure_bare

    def one_request_short(n: int) -> object:
        m = real(n)
        return bench.Measurement(
            m.kind, m.lifecycles, m.seconds, {**m.requests, "create_intent": 0}
        )

    monkeypatch.setattr(bench, "measure_bare", one_request_short)
    with pytest.raises(bench.BenchmarkError, match="different requests"):
        bench.run(lifecycles=2, rounds=1, store="memory")
