"""Smoke test of benchmarks/janitor_scaling.py: the stores it builds are ones paycore
would have written, and a pass ends every stale order.

Small sizes only, and never an assertion on timing: this checks what the benchmark
builds and times (finished orders copied from a real lifecycle, stale ones made through
the service), not how fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from tests.support import bulk_copy_violations, loaded_script

from paycore import schema as s
from paycore.status import OrderStatus, PaymentStatus, ReservationStatus
from paycore_adapters.memory import in_memory

#: Tests of the harness itself: slow; `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "janitor_scaling.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    with loaded_script(BENCHMARK, "janitor_scaling_under_test") as module:
        yield module


def test_bulk_rows_are_what_real_lifecycles_write(bench: ModuleType) -> None:
    """Copies of the template lifecycle hold their own ids throughout, the sequences and
    the stock row moved on with them, and the safety and convergence invariants hold."""
    with bench.fresh_store("NORMAL") as store:
        w = in_memory(store=store)
        bench.stock_shop(w.service, w.provider, 100)
        template = bench.take_template(w, store)
        assert set(template.rows) >= {"orders", "payments", "reservations", "flows", "audit"}
        bench.bulk_finished(store, template, 1, 5)
        bench.bulk_finished(store, template, 5, 30)
        snap = store.snapshot()
        orders = snap.rows(s.ORDERS)
        assert len(orders) == 30 and {o.status for o in orders} == {OrderStatus.PAID}
        assert {p.status for p in snap.rows(s.PAYMENTS)} == {PaymentStatus.SUCCEEDED}
        assert {r.status for r in snap.rows(s.RESERVATIONS)} == {ReservationStatus.COMMITTED}
        assert len({o.checkout_session_id for o in orders}) == 30
        for o in orders:
            assert snap.tables[s.PAYMENTS.name][o.payment_id].order_id == o.id
        per = len(template.rows["audit"])
        assert len(snap.rows(s.AUDIT)) == 30 * per
        assert store.sequences()["order"] == 30
        assert store.sequences()["audit"] == 30 * per
        (stock,) = snap.rows(s.STOCK)
        assert (stock.committed, stock.held) == (30, 0)
        assert bulk_copy_violations(snap, w) == []
        # the service goes on from there: its next order is number 31
        bench.paycore_lifecycles(w.service, w.provider, 1000, 1)
        assert w.service.order("ord_000031") is not None


def test_every_pass_ends_every_stale_order(bench: ModuleType) -> None:
    """Each size gets a traced pass and one timed pass per round, each ending its stale
    orders; `paycore check` is timed in the biggest store on the way."""
    sizes, checked = bench.measure_sizes([10, 40], 5, 2, "NORMAL", check_at=20)
    assert [z.orders for z in sizes] == [10, 40]
    for size in sizes:
        assert [p.started for p in size.passes] == [5, 5]
        assert size.traced.started == 5 and size.traced.statements > 0
        assert size.best in size.passes
        assert size.scans == {}
    assert checked is not None and (checked.orders, checked.violations) == (20, 0)


def test_a_pass_that_leaves_stale_orders_fails(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A janitor that does nothing is caught, not timed."""
    with bench.fresh_store("NORMAL") as store:
        w = in_memory(store=store)
        bench.stock_shop(w.service, w.provider, 10)
        stale = bench.make_stale(w, 3, 0)
        monkeypatch.setattr(w.service, "run_janitor", lambda: 0)
        with pytest.raises(bench.BenchmarkError, match="started 0 flows for 3 stale orders"):
            bench.janitor_pass(w, store, stale, trace=False)


def test_scanning_statements_are_found(bench: ModuleType) -> None:
    """A lookup by an unindexed column is listed with its plan; an indexed one is not."""
    with bench.fresh_store("NORMAL") as store:
        conn = store.connection()
        scans = bench.scanning(
            conn,
            [
                "SELECT id FROM orders WHERE status = 'pending' ORDER BY rowid",
                "SELECT id FROM orders WHERE created_at = 17",
                "SELECT id FROM orders WHERE created_at = 18",
                "COMMIT",
            ],
        )
    assert list(scans) == ["SELECT id FROM orders WHERE created_at = ?"]
    assert any(p.startswith("SCAN") for p in scans["SELECT id FROM orders WHERE created_at = ?"])


SMALL = ["--sizes", "20,60", "--stale", "4", "--repeats", "1", "--synchronous", "NORMAL"]


def test_main_prints_json(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main([*SMALL, "--engines", "sqlite", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (out,) = doc["engines"]
    assert out["engine"] == "sqlite" and doc["not_measured"] == {}
    assert [z["orders"] for z in out["sizes"]] == [20, 60]
    for z in out["sizes"]:
        assert z["flows_started_per_pass"] == 4
        assert len(z["all_pass_seconds"]) == 1 and z["best_pass_seconds"] > 0
        assert z["statements_per_pass"] > 0
    assert out["ratio"] > 0 and out["goal_met"] == (out["ratio"] <= out["goal"])
    inv = out["check"]
    assert (inv["orders"], inv["violations"]) == (60, 0)
    assert inv["check_seconds_per_100k_orders"] > 0 and inv["loaded_seconds"] > 0
    # the peak of a process that checked is at least that of one that only opened
    assert inv["peak_rss_mb"] >= inv["baseline_rss_mb"] > 0


def test_main_prints_a_table(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main([*SMALL, "--engines", "sqlite", "--no-loaded"]) == 0
    out = capsys.readouterr().out
    assert "ratio 60 / 20:" in out and "goal: within 2x" in out
    assert "per 100,000 orders" in out and "loaded whole" not in out


def test_postgresql_without_a_server_is_not_measured(
    bench: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named but not reachable: said so, and the exit code stays 0."""
    monkeypatch.delenv("PAYCORE_BENCH_POSTGRES_DSN", raising=False)
    assert bench.main([*SMALL, "--engines", "postgresql", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["engines"] == []
    assert "PAYCORE_BENCH_POSTGRES_DSN" in doc["not_measured"]["postgresql"]


def test_a_child_check_reports_what_it_found(bench: ModuleType) -> None:
    """The check process reads the store it is given: a hand-broken row is found by the
    streamed check and by the loaded one alike."""
    with bench.fresh_store("NORMAL") as store:
        w = in_memory(store=store)
        bench.stock_shop(w.service, w.provider, 100)
        bench.bulk_finished(store, bench.take_template(w, store), 1, 10)
        store.connection().execute("UPDATE stock SET committed = on_hand + 1")
        checked = bench.time_check(store, 10)
    # no-oversell and stock-conserved, each on the one stock row
    assert (checked.orders, checked.violations) == (10, 2)


def test_bad_flags_are_refused(bench: ModuleType) -> None:
    for argv in (
        ["--sizes", "10"],
        ["--stale", "0"],
        ["--stale", "501"],
        ["--repeats", "0"],
        ["--engines", "mysql"],
    ):
        with pytest.raises(SystemExit):
            bench.main(argv)
