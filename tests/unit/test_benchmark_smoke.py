"""Smoke test of benchmarks/core_throughput.py: every measurement completes its lifecycles.

Tiny counts only, and never an assertion on timing: this checks that the three
measurements (paycore, the reference lifecycle on SQLite, bare dicts) do the work they
claim to time (orders created and paid, payments succeeded, webhooks handled), not how
fast they do it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.support import loaded_script

#: Tests of the harness itself: slow; `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow


N = 20
BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "core_throughput.py"


#: A stand-in for the reference lifecycle, used only when the shared one is not beside
#: this checkout (a clean clone elsewhere): the smoke tests check the benchmark's
#: plumbing (import, run, counts, report), which any module with the reference's
#: ``run()`` exercises. It does a tiny two-transaction lifecycle and reports its own
#: figures, never the reference's.
STANDIN = """
import os, sqlite3, tempfile, time


def run(lifecycles=3000, workers=1, synchronous="NORMAL"):
    with tempfile.TemporaryDirectory() as d:
        c = sqlite3.connect(os.path.join(d, "standin.db"), isolation_level=None)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute(f"PRAGMA synchronous={synchronous}")
        c.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT NOT NULL)")
        t0 = time.perf_counter()
        for i in range(lifecycles):
            for sql in ("INSERT INTO orders VALUES (?, 'pending')",
                        "UPDATE orders SET status = 'paid' WHERE id = ?"):
                c.execute("BEGIN IMMEDIATE")
                c.execute(sql, (i,))
                c.execute("COMMIT")
        dt = time.perf_counter() - t0
        paid = c.execute("SELECT count(*) FROM orders WHERE status = 'paid'").fetchone()[0]
        c.close()
    assert paid == lifecycles
    return {"engine": "sqlite", "synchronous": synchronous, "workers": workers,
            "lifecycles": paid, "seconds": dt,
            "lifecycles_per_second": round(paid / max(dt, 1e-9), 1),
            "transactions_per_lifecycle": 2, "statements_per_lifecycle": 2}
"""


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    with (
        loaded_script(BENCHMARK, "core_throughput_under_test") as module,
        pytest.MonkeyPatch.context() as mp,
    ):
        if not (module.reference_dir() / module.REFERENCE_FILE).is_file():
            standin = tmp_path_factory.mktemp("reference")
            (standin / module.REFERENCE_FILE).write_text(STANDIN)
            mp.setenv(module.REFERENCE_ENV, str(standin))
        yield module


def _reference_figures(bench: ModuleType) -> tuple[float, float]:
    """What the loaded reference reports per lifecycle: the shared reference's 7
    transactions and 21 statements, or the stand-in's own 2 and 2."""
    source = (bench.reference_dir() / bench.REFERENCE_FILE).read_text()
    return (2, 2) if source == STANDIN else (7, 21)


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


def test_reference_measurement_completes_every_lifecycle(bench: ModuleType) -> None:
    """The reference lifecycle is imported from the shared bench directory and run; it
    counts its paid orders itself and reports them."""
    m = bench.measure_reference(N)
    assert (m.kind, m.lifecycles, m.orders_paid) == ("reference", N, N)
    assert m.seconds > 0 and m.check() is m
    assert (m.orders_created, m.payments_succeeded, m.webhooks_handled) == (None, None, None)


def test_census_counts_store_work_per_lifecycle(bench: ModuleType) -> None:
    """paycore's transactions per lifecycle are the store's own commit count, its
    statements the store calls; the reference reports 7 transactions, 21 statements."""
    paycore = bench.census_paycore(lifecycles=3, warmup=1)
    measured = bench.measure_paycore(N, warmup=1)
    assert paycore.transactions == measured.commits_per_lifecycle
    assert paycore.transactions >= paycore.write_transactions >= 4  # 4 operations write
    assert paycore.inserts > 0 and paycore.updates > 0 and paycore.reads > 0
    parts = paycore.reads + paycore.inserts + paycore.updates + paycore.sequences
    assert paycore.statements == parts
    reference = bench.census_reference()
    assert (reference.transactions, reference.statements) == _reference_figures(bench)


def test_the_reference_is_found_through_the_environment(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PAYCORE_REFERENCE_BENCH names the reference's directory instead of ../shared/bench."""
    source = bench.reference_dir() / bench.REFERENCE_FILE
    (tmp_path / bench.REFERENCE_FILE).write_text(source.read_text())
    monkeypatch.setenv(bench.REFERENCE_ENV, str(tmp_path))
    assert bench.reference_dir() == tmp_path
    assert bench.load_reference().__file__ == str(tmp_path / bench.REFERENCE_FILE)


def test_a_missing_reference_fails_with_a_clear_message(
    bench: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without the reference there is no baseline: exit 1, saying where to put it."""
    monkeypatch.setenv(bench.REFERENCE_ENV, str(tmp_path / "nowhere"))
    assert bench.main(["--lifecycles", "2", "--repeats", "1", "--warmup", "0"]) == 1
    err = capsys.readouterr().err
    assert "reference lifecycle is not at" in err and bench.REFERENCE_ENV in err


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
    for kind in ("paycore", "reference", "bare"):
        assert out[kind]["lifecycles"] == 5
        assert len(out[kind]["all_seconds"]) == 1
        assert out[kind]["lifecycles_per_second"] > 0
        assert out[kind]["mean_us_per_lifecycle"] > 0
    assert out["transactions_per_lifecycle"] == out["paycore"]["commits_per_lifecycle"]
    assert out["statements_per_lifecycle"] > out["transactions_per_lifecycle"]
    statements = out["reference"]["store_work_per_lifecycle"]["statements"]
    assert statements == _reference_figures(bench)[1]
    assert out["sqlite_version"] == sqlite3.sqlite_version
    assert {"ratio_paycore_reference", "ratio_paycore_bare", "goal_met"} <= out.keys()


def test_main_prints_a_table(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--lifecycles", "5", "--repeats", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "ratio paycore/reference" in out and "ratio paycore/bare" in out
    assert "store transactions" in out and "statements" in out


def test_profile_reports_both_orderings(bench: ModuleType) -> None:
    text = bench.profile(3, top=5)
    assert "sorted by cumulative" in text and "sorted by tottime" in text
