"""benchmarks/janitor_scaling.py on PostgreSQL, tiny, on the suite's server: the stores it
builds with COPY are ones paycore would have written, every pass ends its stale orders,
and `paycore check` runs streamed and loaded in a process of its own. What they did is
checked, never how fast."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pg_throughput
import pytest
from tests.support import bulk_copy_violations, loaded_script

from paycore import schema as s
from paycore.status import OrderStatus, ReservationStatus
from paycore_adapters.memory import in_memory

pytestmark = pytest.mark.slow

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "janitor_scaling.py"


@pytest.fixture
def bench(postgres_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv(pg_throughput.DSN_ENV, postgres_server)
    with loaded_script(BENCHMARK, "janitor_scaling_pg_under_test") as module:
        yield module


def test_copied_rows_are_what_real_lifecycles_write(bench: ModuleType) -> None:
    """COPY writes the template's copies with their own ids; the sequences and the stock
    row move on with them; every invariant holds; the service goes on from there."""
    with bench.fresh_postgres() as store:
        w = in_memory(store=store)
        bench.stock_shop(w.service, w.provider, 100)
        template = bench.take_template(w, store)
        bench.bulk_finished(store, template, 1, 5)
        bench.bulk_finished(store, template, 5, 30)
        snap = store.snapshot()
        orders = snap.rows(s.ORDERS)
        assert len(orders) == 30 and {o.status for o in orders} == {OrderStatus.PAID}
        assert {r.status for r in snap.rows(s.RESERVATIONS)} == {ReservationStatus.COMMITTED}
        assert len(snap.rows(s.AUDIT)) == 30 * len(template.rows["audit"])
        assert store.sequences()["order"] == 30
        (stock,) = snap.rows(s.STOCK)
        assert (stock.committed, stock.held) == (30, 0)
        assert bulk_copy_violations(snap, w) == []
        bench.paycore_lifecycles(w.service, w.provider, 1000, 1)
        assert w.service.order("ord_000031") is not None


def test_main_measures_postgresql(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--sizes", "20,60", "--stale", "4", "--repeats", "1", "--engines", "postgresql"]
    assert bench.main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["not_measured"] == {}
    (out,) = doc["engines"]
    assert out["engine"] == "postgresql" and "fsync=" in out["settings"]
    assert [z["orders"] for z in out["sizes"]] == [20, 60]
    for z in out["sizes"]:
        assert z["flows_started_per_pass"] == 4 and z["statements_per_pass"] > 0
        assert z["file_mb"] > 0
    inv = out["check"]
    assert (inv["orders"], inv["violations"]) == (60, 0)
    assert inv["check_seconds_per_100k_orders"] > 0 and inv["loaded_seconds"] > 0
    assert inv["peak_rss_mb"] >= inv["baseline_rss_mb"] > 0
