"""A step's transaction, and an operation's first one, end by writing their flow: the run
that goes on takes the flow as written (``flows.defs.current_flow``) instead of reading it
back. Four reads fewer per checkout lifecycle; the flows a run goes on from are the rows
the store holds, on the memory and SQLite stores alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.support import loaded_script, mug_shop

from paycore import schema as s
from paycore.flows import defs
from paycore.flows.checkout import CartItem
from paycore.flows.webhooks import ACTED_ON
from paycore.records import Flow
from paycore.status import FlowStatus
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "core_throughput.py"
SESSIONS = ["cs_reread_000000001", "cs_reread_000000002"]


def wiring(kind: str, tmp_path: Path) -> Wiring:
    if kind == "memory":
        return mug_shop(in_memory())
    store = SQLiteStore(tmp_path / "rereads.db", migrate=True, checkpoint_every=None)
    return mug_shop(in_memory(store=store))  # type: ignore[arg-type]


def lifecycle(w: Wiring, session: str) -> None:
    res = w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    for event in w.provider.take_events():
        if event.type in ACTED_ON:
            w.service.handle_webhook(event)


def test_a_lifecycle_reads_no_flow_it_just_wrote() -> None:
    with loaded_script(BENCHMARK, "core_throughput_rereads") as bench:
        census = bench.census_paycore(lifecycles=3, warmup=1)
    assert (census.transactions, census.reads, census.statements) == (7, 24, 65)  # 28, 69


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_flow_a_run_goes_on_from_is_the_stored_one(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = wiring(kind, tmp_path)
    taken: list[Flow] = []
    inner = defs.current_flow

    def keeping(u: Any, flow_id: str) -> Flow | None:
        flow = inner(u, flow_id)
        assert flow is not None
        assert flow == u.tx.get(s.FLOWS, flow_id)  # the row, as a read gives it
        taken.append(flow)
        return flow

    monkeypatch.setattr("paycore.flows.engine.current_flow", keeping)
    monkeypatch.setattr("paycore.service.current_flow", keeping)
    for session in SESSIONS:
        lifecycle(w, session)
    assert len(taken) == 8  # two operations' first transactions and two steps, twice
    stored = {f.id: f for f in w.store.snapshot().rows(s.FLOWS)}
    assert all(f.status is FlowStatus.SUCCEEDED for f in stored.values())
    finished = [f for f in taken if f.status is FlowStatus.SUCCEEDED]
    assert finished == [stored[f.id] for f in finished]
