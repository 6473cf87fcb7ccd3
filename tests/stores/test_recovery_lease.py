"""Recovery leases what it selects: two instances (two worker ids) on one store.

An instance's recovery selection (:func:`paycore.jobs.due_flows`) writes its lease on
every flow it returns, in the selection's own transaction: another instance's selection
made after it commits passes those flows over until the lease lapses, and then takes
them (the first instance died). The claim's row locks alone end with the selection's
transaction, so without the lease both instances stepped every due flow: duplicate
provider calls, and the loser's ``idempotency_key_in_use`` sent the flow to its ask path.
The janitor's cancel flows start leased to the janitor's worker, which runs them at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import flow_of, make_shop

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import IntentView, Store
from paycore.records import Flow
from paycore.service import PaymentService
from paycore.status import FlowStatus
from paycore_adapters.memory import MemoryStore, RecordingNotifier, Wiring, in_memory
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.sql.sqlite_store import SQLiteStore

FLOWS = [f"f{n}" for n in range(4)]
LEASE_MS = Config().lease_ms
WAIT_S = 30.0  # a bound on a thread's wait, never reached when the test passes


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        yield SQLiteStore(tmp_path / "lease.db", migrate=True)
    else:
        pg = PostgresStore(
            request.getfixturevalue("migrated_postgres_dsn"), migrate=True, max_size=4
        )
        yield pg
        pg.close()


def two_instances(store: Store) -> tuple[Wiring, PaymentService, PaymentService]:
    """Instances A and B (worker ids "inst-A", "inst-B") on ``store``, with due flows that
    no worker holds (their starter died long ago)."""
    w = in_memory(store=store, worker_id="inst-A")  # type: ignore[arg-type]
    with store.transaction() as tx:
        for fid in FLOWS:
            tx.insert(s.FLOWS, Flow(fid, "cancel", "call", created_at=0))
    a = w.service
    b = PaymentService(store, w.provider, w.clock, w.alerts, w.notifier, a.config, "inst-B")
    return w, a, b


def leases(store: Store) -> dict[str, tuple[str | None, int]]:
    rows = store.snapshot().rows(s.FLOWS)
    return {f.id: (f.lease_owner, f.lease_until) for f in rows if f.id in FLOWS}


def test_a_selection_leases_its_flows_and_another_instance_passes_them_over(
    store: Store,
) -> None:
    w, a, b = two_instances(store)
    now = w.clock.now()
    assert sorted(jobs.due_flows(a.engine)) == FLOWS
    assert leases(store) == {fid: ("inst-A", now + LEASE_MS) for fid in FLOWS}
    assert jobs.due_flows(b.engine) == [], "B took flows A's recovery had just selected"
    # A's own next round takes them again (a restart under the same worker id, a flow
    # whose run waited for a retry), and renews the lease.
    w.clock.advance(1_000)
    assert sorted(jobs.due_flows(a.engine)) == FLOWS
    assert leases(store) == {fid: ("inst-A", now + 1_000 + LEASE_MS) for fid in FLOWS}
    w.clock.advance(LEASE_MS - 1)
    assert jobs.due_flows(b.engine) == [], "B took flows whose lease had not lapsed"


def test_a_flow_whose_lease_lapsed_is_taken_by_the_other_instance(store: Store) -> None:
    """A selected the flows and died: once its lease lapses, B's recovery takes them (and
    leases them to B, so A, back under its old id, passes them over)."""
    w, a, b = two_instances(store)
    assert sorted(jobs.due_flows(a.engine)) == FLOWS
    w.clock.advance(LEASE_MS)
    assert sorted(jobs.due_flows(b.engine)) == FLOWS
    assert leases(store) == {fid: ("inst-B", w.clock.now() + LEASE_MS) for fid in FLOWS}
    assert jobs.due_flows(a.engine) == []


def test_a_flow_one_instance_is_stepping_gets_no_second_provider_call() -> None:
    """The reviewer's case, with the call: A's recovery selects a checkout whose starter
    died and makes its create call (the answer held in memory); B's recovery round, a
    moment later, must not make the same call again."""
    w = in_memory(worker_id="inst-A")
    svc = w.service
    w.provider.set_account("acct_42")
    svc.add_seller("s1", "Co", provider_account="acct_42")
    svc.add_product("mug", "s1", sku="MUG", name="Mug", price=Money(1800, "EUR"))
    svc.restock("s1", "MUG", 10)
    fid = svc.start_checkout("cs_7f3a9c2e4b1d8a6f", [CartItem("mug", 1)])
    w.clock.advance(LEASE_MS + 1_000)  # the starting worker died; its lease lapsed
    calls: list[str] = []
    create = w.provider.create_intent

    def counted(req: Any, *, idempotency_key: str) -> IntentView:
        calls.append(idempotency_key)
        return create(req, idempotency_key=idempotency_key)

    w.provider.create_intent = counted  # type: ignore[method-assign]
    b = PaymentService(
        w.store, w.provider, w.clock, w.alerts, RecordingNotifier(), svc.config, "inst-B"
    )
    assert jobs.due_flows(svc.engine) == [fid]
    for _ in range(10):  # A steps the flow up to its create call (a resumed seller check
        svc.engine.step(fid)  # records its answer first, then the create goes out)
        if calls:
            break
    assert svc.engine.has_inflight(fid) and len(calls) == 1
    by_b = b.run_recovery()
    assert len(calls) == 1, f"B repeated the call A had made: {calls}"
    assert by_b == (0, 0)
    assert svc.engine.run(fid).status is FlowStatus.SUCCEEDED
    assert len(calls) == 1


def test_the_janitors_cancel_flows_start_leased_to_the_janitor() -> None:
    """The janitor's instance runs the cancel flows it starts at once: another instance's
    recovery passes them over until that lease lapses."""
    w = make_shop()
    pid = w.service.create_payment_intent("cs_test_lease_000001", [CartItem("p_mug", 1)])
    w.clock.advance(w.service.config.reservation_ttl_ms + 1)
    a = w.service.engine
    started = jobs.janitor(a)
    assert len(started) == 1 and started[0].startswith(f"cancel:{pid.payment_id}:")
    flow = flow_of(w, started[0])
    assert (flow.lease_owner, flow.lease_until) == (a.worker_id, w.clock.now() + LEASE_MS)
    b = PaymentService(w.store, w.provider, w.clock, w.alerts, w.notifier, w.service.config, "w-B")
    assert jobs.due_flows(b.engine) == []
    w.clock.advance(LEASE_MS)
    assert jobs.due_flows(b.engine) == started


def test_a_flow_a_thread_of_this_worker_is_running_is_not_selected() -> None:
    """A request thread of instance A runs a checkout (its create call under way) when
    A's own recovery selects: the flow is passed over, not leased again under the thread
    (a new version would refuse the thread's step, and its run would repeat the call)."""
    w = make_shop()
    svc = w.service
    fid = svc.start_checkout("cs_test_lease_000002", [CartItem("p_mug", 1)])
    calling, answer = threading.Event(), threading.Event()
    calls: list[str] = []
    create = w.provider.create_intent

    def held(req: Any, *, idempotency_key: str) -> IntentView:
        calls.append(idempotency_key)
        calling.set()
        assert answer.wait(WAIT_S), "the test never let the call answer"
        return create(req, idempotency_key=idempotency_key)

    w.provider.create_intent = held  # type: ignore[method-assign]
    ran: list[Flow] = []
    thread = threading.Thread(target=lambda: ran.append(svc.engine.run(fid)))
    thread.start()
    try:
        assert calling.wait(WAIT_S), "the request thread never called the provider"
        selected = jobs.due_flows(svc.engine)
    finally:
        answer.set()
        thread.join(WAIT_S)
    assert not thread.is_alive()
    assert len(calls) == 1, f"the request thread repeated its call: {calls}"
    assert [f.status for f in ran] == [FlowStatus.SUCCEEDED]
    assert selected == []
