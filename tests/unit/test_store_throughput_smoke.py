"""Smoke test of benchmarks/store_throughput.py: every measurement completes its lifecycles.

Tiny counts only, and never an assertion on timing: this checks that paycore on SQLite
(one worker and several threads) and the reference lifecycle do the work they claim to
time, that the store work per lifecycle is counted from the SQL actually run, and the
report's shape.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from tests.support import loaded_script
from tests.unit.test_benchmark_smoke import STANDIN

#: Tests of the harness itself: slow; `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow

N = 16
BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "store_throughput.py"
TINY = ["--lifecycles", "8", "--repeats", "1", "--warmup", "1", "--workers", "1,2"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    with (
        loaded_script(BENCHMARK, "store_throughput_under_test") as module,
        pytest.MonkeyPatch.context() as mp,
    ):
        if not (module.reference_dir() / module.REFERENCE_FILE).is_file():
            standin = tmp_path_factory.mktemp("reference")
            (standin / module.REFERENCE_FILE).write_text(STANDIN)
            mp.setenv("PAYCORE_REFERENCE_BENCH", str(standin))
        yield module


@pytest.mark.parametrize("workers", [1, 4])
def test_paycore_on_sqlite_completes_every_lifecycle(bench: ModuleType, workers: int) -> None:
    """Each worker thread's lifecycles pay their order, succeed their payment and take in
    both webhooks; no safety invariant is violated afterwards."""
    m = bench.sqlite_paycore(N, workers, "NORMAL", 1)
    assert (m.kind, m.lifecycles) == ("paycore", N)
    assert (m.orders_created, m.orders_paid, m.payments_succeeded) == (N, N, N)
    assert m.webhooks_handled == 2 * N
    assert m.violations == 0
    assert m.seconds > 0 and m.check() is m


def test_the_reference_runs_with_the_same_settings(bench: ModuleType) -> None:
    m = bench.sqlite_reference(N, 2, "FULL")
    assert (m.kind, m.lifecycles, m.orders_paid) == ("reference", N, N)


def test_a_worker_that_fails_fails_the_measurement(bench: ModuleType) -> None:
    """A lifecycle that cannot complete (no stock left) is a measurement error."""
    with bench.sqlite_store("NORMAL") as store:
        shop = bench.open_shop(store, 2, stock=1)
        with pytest.raises(bench.BenchmarkError, match="a worker failed"):
            bench.measure_shop(shop, 40, 0)  # 10 SKUs of 1 unit each


def test_census_counts_the_sql_run(bench: ModuleType) -> None:
    """Statements per lifecycle are the traced SQL (BEGIN and COMMIT apart), split by
    kind; transactions are the BEGINs."""
    c = bench.sqlite_census("NORMAL", lifecycles=3, warmup=1)
    assert c.transactions >= c.write_transactions >= 4  # create, confirm, 2 webhooks write
    assert c.reads > 0 and c.inserts > 0 and c.updates > 0 and c.sequences > 0
    assert c.statements >= c.reads + c.inserts + c.updates + c.sequences
    assert c.statements > c.transactions


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("BEGIN IMMEDIATE", "control"),
        ("COMMIT", "control"),
        ("SELECT a FROM orders WHERE id = 'x'", "reads"),
        ("INSERT INTO audit VALUES (1)", "inserts"),
        ("INSERT INTO paycore_sequences (name, value) VALUES ('order', 1)", "sequences"),
        ("  UPDATE orders SET status = 'paid'", "updates"),
        ("PRAGMA busy_timeout=1", "other"),
    ],
)
def test_classify(bench: ModuleType, sql: str, kind: str) -> None:
    assert bench.classify(sql) == kind


def test_postgresql_is_not_measured_without_a_server(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a server named, or without the PostgreSQL store, the report says so
    instead of a figure."""
    monkeypatch.delenv("PAYCORE_BENCH_POSTGRES_DSN", raising=False)
    why = bench.pg_throughput.missing()
    assert why is not None and "PAYCORE_BENCH_POSTGRES_DSN" in why
    report = bench.run(4, 1, (1,), ("NORMAL",), 0)
    assert report.unmeasured["postgresql"] == why
    assert {c.engine for c in report.cells} == {"sqlite"}
    assert f"postgresql  not measured: {why}" in bench.render(report)
    monkeypatch.setitem(sys.modules, "paycore_adapters.sql.postgres_store", None)
    assert "no PostgreSQL store" in str(bench.pg_throughput.missing())


def test_the_engines_are_listed_once(bench: ModuleType) -> None:
    names = [e.name for e in bench.ENGINES]
    assert names == ["sqlite", "postgresql"]
    sqlite = bench.ENGINES[0]
    assert sqlite.settings == ("NORMAL", "FULL") and sqlite.missing() is None


def test_main_prints_json_with_every_figure(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main([*TINY, "--synchronous", "NORMAL", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    cells = out["cells"]
    assert [(c["engine"], c["setting"], c["workers"]) for c in cells] == [
        ("sqlite", "NORMAL", 1),
        ("sqlite", "NORMAL", 2),
    ]
    for c in cells:
        for kind in ("paycore", "reference"):
            assert c[kind]["lifecycles"] == 8
            assert c[kind]["lifecycles_per_second"] > 0
            assert len(c[kind]["all_seconds"]) == 1
        assert c["paycore"]["safety_violations"] == 0
        assert c["ratio"] > 0 and c["goal_met"] == (c["ratio"] >= out["goal"])
    work = out["store_work_per_lifecycle"]["sqlite"]["NORMAL"]
    assert work["statements"] > work["transactions"] > 0
    assert out["reference_work_per_lifecycle"] == {
        "transactions": 7,
        "statements": 21,
        "round_trips_postgresql": 35,
    }
    assert "postgresql" in out["not_measured"] or any(c["engine"] == "postgresql" for c in cells)


def test_main_prints_a_table(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(TINY) == 0
    out = capsys.readouterr().out
    for setting in ("NORMAL", "FULL"):
        assert f"paycore sqlite {setting}" in out
    assert ("met" in out) or ("BELOW GOAL" in out)
    assert "set_trace_callback" in out and "safety violations 0" in out


def test_a_missing_reference_fails_with_a_clear_message(
    bench: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PAYCORE_REFERENCE_BENCH", str(tmp_path / "nowhere"))
    assert bench.main(TINY) == 1
    assert "reference lifecycle is not at" in capsys.readouterr().err
