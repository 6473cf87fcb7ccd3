"""Smoke test of benchmarks/core_throughput.py: every measurement completes its lifecycles.

Tiny counts only, and never an assertion on timing: this checks that the three
measurements do the work they claim to time (orders created and paid, payments
succeeded, webhooks handled), not how fast they do it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.conftest import loaded_script

N = 20
BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "core_throughput.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    with loaded_script(BENCHMARK, "core_throughput_under_test") as module:
        yield module


def _completed(m: Any, kind: str) -> None:
    assert m.kind == kind
    assert m.lifecycles == N
    assert m.orders_created == N
    assert m.orders_paid == N
    assert m.payments_succeeded == N
    assert m.webhooks_handled == 2 * N
    assert m.seconds > 0
    assert m.check() is m


def test_paycore_measurement_completes_every_lifecycle(bench: ModuleType) -> None:
    m = bench.measure_paycore(N, warmup=2)
    _completed(m, "paycore")
    assert m.violations == 0
    assert m.commits is not None and m.commits >= 4 * N  # at least one per operation
    assert m.commits_per_lifecycle == m.commits / N


def test_bare_measurement_completes_every_lifecycle(bench: ModuleType) -> None:
    _completed(bench.measure_bare(N, warmup=2), "bare")


def test_sqlite_measurement_completes_every_lifecycle(bench: ModuleType, tmp_path: Path) -> None:
    _completed(bench.measure_sqlite(N, warmup=2, directory=tmp_path), "sqlite")
    (db,) = tmp_path.glob("*.sqlite3")
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM orders WHERE status = 'paid'").fetchone()[0] == (
            N + 2
        )
        assert conn.execute("SELECT COUNT(*) FROM inbox").fetchone()[0] == 2 * (N + 2)
        assert conn.execute("SELECT COUNT(*) FROM outbox WHERE sent = 1").fetchone()[0] == N + 2
        on_hand, held, committed = conn.execute(
            "SELECT on_hand, held, committed FROM stock"
        ).fetchone()
        assert (on_hand, held, committed) == (N + 2, 0, N + 2)
    finally:
        conn.close()


def test_census_counts_store_work_per_lifecycle(bench: ModuleType, tmp_path: Path) -> None:
    paycore = bench.census_paycore(lifecycles=3, warmup=1)
    sql = bench.census_sqlite(lifecycles=3, warmup=1, directory=tmp_path)
    measured = bench.measure_paycore(N, warmup=1)
    assert paycore.transactions == measured.commits_per_lifecycle
    for census in (paycore, sql):
        assert census.transactions >= census.write_transactions >= 4  # 4 operations write
        assert census.inserts > 0 and census.updates > 0 and census.reads > 0


def test_check_rejects_a_run_that_did_not_complete(bench: ModuleType) -> None:
    short = bench.Measurement("bare", N, 0.1, N - 1, N - 1, N - 1, 2 * N - 2)
    with pytest.raises(bench.BenchmarkError):
        short.check()


def test_main_prints_json_with_every_figure(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--lifecycles", "5", "--repeats", "1", "--warmup", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lifecycles"] == 5
    for kind in ("paycore", "bare", "sqlite"):
        assert out[kind]["lifecycles"] == 5
        assert len(out[kind]["all_seconds"]) == 1
        assert out[kind]["lifecycles_per_second"] > 0
        assert out[kind]["mean_us_per_lifecycle"] > 0
    assert out["commits_per_lifecycle"] == out["paycore"]["commits_per_lifecycle"]
    assert out["sqlite"]["transactions_per_lifecycle"] > 0
    assert out["sqlite_version"] == sqlite3.sqlite_version
    assert {"ratio_paycore_sqlite", "ratio_paycore_bare", "goal_met"} <= out.keys()


def test_main_prints_a_table(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--lifecycles", "5", "--repeats", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "ratio paycore/sqlite" in out and "ratio paycore/bare" in out
    assert "commits per lifecycle" in out


def test_profile_reports_both_orderings(bench: ModuleType) -> None:
    text = bench.profile(3, top=5)
    assert "sorted by cumulative" in text and "sorted by tottime" in text
