"""Claims on PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets two claimers take disjoint rows
without waiting for each other (the shipped contract case, with its teeth: without
``SKIP LOCKED`` the second claimer waits, without the lock it takes the same rows), and
the jobs of two service instances over one database split a batch between them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from paycore import jobs, outbox
from paycore import schema as s
from paycore.config import Config
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import Snapshot, Store, Transaction
from paycore.records import Flow, OutboxMessage
from paycore.schema import Table
from paycore.service import PaymentService
from paycore_adapters.memory import RecordingNotifier, Wiring, in_memory
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.sql.statements import TableSql
from paycore_adapters.testing.store_concurrency import StoreConcurrencyCases

WAIT_S = 30.0  # how long one instance holds its claim waiting for the other to finish
BATCH = 3


@pytest.fixture
def pg_store(migrated_postgres_dsn: str) -> Iterator[PostgresStore]:
    store = PostgresStore(migrated_postgres_dsn, migrate=True, max_size=8)
    yield store
    store.close()


# --- the contract case's teeth -------------------------------------------------------


@pytest.mark.parametrize(
    ("dropped", "complaint"),
    [(" SKIP LOCKED", "waited for the rows"), (" FOR UPDATE SKIP LOCKED", "both claimers took")],
)
def test_the_claim_case_fails_without_skip_locked(
    pg_store: PostgresStore, monkeypatch: pytest.MonkeyPatch, dropped: str, complaint: str
) -> None:
    """A claim that waits for held rows, or one that locks nothing, fails the case."""
    original = TableSql.claim

    def weakened(self: TableSql, field: str, due: str | None, keyed: bool) -> str:
        return original(self, field, due, keyed).replace(dropped, "")

    monkeypatch.setattr(TableSql, "claim", weakened)
    # A claim that waits for the held rows is still waiting after a second.
    monkeypatch.setattr("paycore_adapters.testing.store_concurrency.CLAIM_S", 1.0)
    with pytest.raises(AssertionError, match=complaint):
        StoreConcurrencyCases().test_concurrent_claims_take_disjoint_rows_without_waiting(pg_store)


# --- two instances -----------------------------------------------------------------


class HoldingStore:
    """A store whose first claim on ``table`` is held open (its transaction stays
    open, its rows claimed) until ``release`` is set or ``WAIT_S`` passes."""

    def __init__(self, store: Store, table: Table[Any]) -> None:
        self.store, self.table = store, table
        self.claimed, self.release = threading.Event(), threading.Event()
        self.released_in_time: bool | None = None
        #: The keys of the rows that claim returned (what this instance held meanwhile).
        self.held: set[str] = set()

    def transaction(self) -> AbstractContextManager[Transaction]:
        return _Holding(self, self.store.transaction())

    def snapshot(self) -> Snapshot:
        return self.store.snapshot()

    def hold(self, table: Table[Any], rows: list[Any]) -> None:
        if table.name == self.table.name and not self.claimed.is_set():
            self.held = {table.key_of(row) for row in rows}
            self.claimed.set()
            self.released_in_time = self.release.wait(WAIT_S)


class _Holding:
    def __init__(self, owner: HoldingStore, scope: AbstractContextManager[Transaction]) -> None:
        self.owner, self.scope = owner, scope

    def __enter__(self) -> Transaction:
        tx = self.scope.__enter__()
        owner = self.owner

        class Held:
            def __getattr__(self, name: str) -> Any:
                return getattr(tx, name)

            def claim(self, table: Table[Any], *args: Any, **kwargs: Any) -> list[Any]:
                rows = tx.claim(table, *args, **kwargs)
                owner.hold(table, rows)
                return rows

        return Held()  # type: ignore[return-value]

    def __exit__(self, *exc: Any) -> bool | None:
        return self.scope.__exit__(*exc)


def _instances(w: Wiring, store: Store) -> tuple[PaymentService, PaymentService]:
    config = Config(job_batch=BATCH, store_conflict_retries=20)
    return (
        PaymentService(store, w.provider, w.clock, w.alerts, w.notifier, config, "i1"),
        PaymentService(w.store, w.provider, w.clock, w.alerts, w.notifier, config, "i2"),
    )


def _both(first: Callable[[], Any], second: Callable[[], Any], held: HoldingStore) -> list[Any]:
    """Run ``first`` in a thread; once it holds its claim, ``second`` here; then let the
    first go on. The results, first's then second's."""
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.update(first=first()))
    thread.start()
    assert held.claimed.wait(WAIT_S), "the first instance never claimed"
    try:
        out["second"] = second()
    finally:
        held.release.set()
        thread.join(WAIT_S)
    assert not thread.is_alive() and "first" in out, "the first instance did not finish"
    assert held.released_in_time, "the second instance waited for the first one's claim"
    return [out["first"], out["second"]]


@pytest.fixture
def shop(pg_store: PostgresStore) -> Wiring:
    w = in_memory(store=pg_store)
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.service.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    w.service.restock("s1", "SKU-MUG", 2 * BATCH)
    return w


def test_two_janitors_split_the_expired_orders(shop: Wiring) -> None:
    """Six checkouts expire; two instances' janitors (a batch of three each) run at once,
    the first holding its claim until the second is done: each ends three payments, and
    no payment is ended twice."""
    w = shop
    payments = [
        w.service.create_payment_intent(f"cs_claims_{n:08d}", [CartItem("p_mug", 1)]).payment_id
        for n in range(2 * BATCH)
    ]
    w.clock.advance(Config().reservation_ttl_ms + 1)
    held = HoldingStore(w.store, s.ORDERS)
    a, b = _instances(w, held)
    first, second = _both(lambda: jobs.janitor(a.engine), lambda: jobs.janitor(b.engine), held)
    assert len(first) == len(second) == BATCH, (first, second)
    assert set(first).isdisjoint(second)
    ended = {fid.split(":")[1] for fid in [*first, *second]}
    assert ended == set(payments)
    snap = w.store.snapshot()
    by_second = {p.order_id for p in snap.rows(s.PAYMENTS) if p.lock_owner in second}
    assert len(held.held) == BATCH and by_second.isdisjoint(held.held), "both took an order"
    owners = {p.id: p.lock_owner for p in snap.rows(s.PAYMENTS)}
    assert {owners[pid] for pid in payments} == {*first, *second}


def test_two_outbox_dispatchers_split_the_backlog(shop: Wiring) -> None:
    """Six queued messages; two instances' outbox jobs (a batch of three each) run at
    once, the first holding its claim until the second is done: each sends three, every
    message goes out once."""
    w = shop
    with w.store.transaction() as tx:
        for n in range(2 * BATCH):
            tx.insert(s.OUTBOX, OutboxMessage(f"o{n}:paid", f"o{n}", "paid", created_at=n))
    held = HoldingStore(w.store, s.OUTBOX)
    a, b = _instances(w, held)
    notifiers = RecordingNotifier(), RecordingNotifier()
    first, second = _both(
        lambda: outbox.dispatch_backlog(a.engine, notifiers[0]),
        lambda: outbox.dispatch_backlog(b.engine, notifiers[1]),
        held,
    )
    assert first == second == BATCH
    sent = [list(n.delivered) for n in notifiers]
    assert set(sent[0]).isdisjoint(sent[1]), sent
    assert len(held.held) == BATCH and held.held.isdisjoint(sent[1]), "both took a message"
    assert sorted(sent[0] + sent[1]) == sorted(f"o{n}:paid" for n in range(2 * BATCH))
    assert all(m.sent for m in w.store.snapshot().rows(s.OUTBOX))


def test_two_recovery_workers_split_the_due_flows(shop: Wiring) -> None:
    """Six flows are due; two instances' recovery workers (a batch of three each) look
    at once, the first holding its claim until the second is done: each gets three."""
    w = shop
    with w.store.transaction() as tx:
        for n in range(2 * BATCH):
            tx.insert(s.FLOWS, Flow(f"f{n}", "cancel", "call", created_at=0))
    held = HoldingStore(w.store, s.FLOWS)
    a, b = _instances(w, held)
    first, second = _both(lambda: jobs.due_flows(a.engine), lambda: jobs.due_flows(b.engine), held)
    assert len(held.held) == BATCH and held.held.isdisjoint(second), "both took a flow"
    assert len(first) == len(second) == BATCH, (first, second)
    assert sorted(first + second) == [f"f{n}" for n in range(2 * BATCH)]


@pytest.mark.parametrize("dropped", [" SKIP LOCKED", " FOR UPDATE SKIP LOCKED"])
@pytest.mark.parametrize(
    "case",
    [
        test_two_janitors_split_the_expired_orders,
        test_two_outbox_dispatchers_split_the_backlog,
        test_two_recovery_workers_split_the_due_flows,
    ],
)
def test_the_instance_cases_fail_without_skip_locked(
    shop: Wiring,
    monkeypatch: pytest.MonkeyPatch,
    dropped: str,
    case: Callable[[Wiring], None],
) -> None:
    """With claims that wait for held rows, or that lock nothing, the two instances no
    longer split the batch (the second waits, or takes what the first held)."""
    original = TableSql.claim

    def weakened(self: TableSql, field: str, due: str | None, keyed: bool) -> str:
        return original(self, field, due, keyed).replace(dropped, "")

    monkeypatch.setattr(TableSql, "claim", weakened)
    monkeypatch.setattr(__name__ + ".WAIT_S", 3.0)
    with pytest.raises(AssertionError, match=r"waited for the first|both took"):
        case(shop)
