"""Times written ahead are judged without the reader's TTL and (within an hour) lease
settings, and looked for rarely (the slack is the reader's tolerance: the same everywhere).

A lease, a retry time or an order's expiry used to be taken as "written by a clock that
ran ahead" when it was further ahead than the *reader's* ``lease_ms``,
``backoff_cap_ms`` or ``reservation_ttl_ms`` (plus the slack). A shop that lowered one
of them, or ran two configs during a rolling deploy, had its live checkouts cancelled,
its live leases taken mid-call, and a false ``clock_skewed`` alert. And every recovery
and janitor round read a batch of active flows and pending orders even when idle.

- Two instances whose settings differ (within the floor,
  :data:`paycore.written_ahead.FLOOR_MS`) see neither an effect nor an alert.
- An order is judged by its own ``created_at`` (the same clock wrote both): one written
  ahead keeps its time to live, counted from when it is found.
- An idle round reads no flow and no pending order beyond its due claim while the
  sweep is not due (at most once per ``lease_ms``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
from tests.support import Skewed, faultable, mug_shop

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.flows.checkout import CartItem
from paycore.records import Flow
from paycore.service import PaymentService
from paycore.status import FlowStatus, OrderStatus, PaymentStatus
from paycore.tokens import RandomTokens
from paycore_adapters.memory import RecordingAlerts, RecordingNotifier, Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def shop(kind: str, tmp_path: Path, config: Config | None = None, stock: int = 10) -> Wiring:
    store = SQLiteStore(tmp_path / "shop.db", migrate=True) if kind == "sqlite" else None
    return mug_shop(faultable(in_memory(config, store=store)), stock)


def instance(
    w: Wiring, tmp_path: Path, worker: str, config: Config | None = None, store: Any = None
) -> PaymentService:
    """Another process on the same store (a new connection to the SQLite file)."""
    if store is None:
        store = w.store
        if isinstance(getattr(store, "inner", None), SQLiteStore):
            store = SQLiteStore(tmp_path / "shop.db")
    return PaymentService(
        store,
        w.provider,
        w.clock,
        RecordingAlerts(),
        RecordingNotifier(),
        config,
        worker,
        RandomTokens(),
    )


def skewed_alerts(w: Wiring) -> list[str]:
    return [a.subject for a in w.store.snapshot().rows(s.ALERTS) if a.kind == "clock_skewed"]


def paid(w: Wiring) -> str:
    res = w.service.create_payment_intent("cs_test_C000000001", [CartItem("p_mug", 2)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    for ev in w.provider.take_events():
        w.service.handle_webhook(ev)
    return res.payment_id


def flow(w: Wiring, fid: str) -> Flow:
    row = w.store.snapshot().get(s.FLOWS, fid)
    assert row is not None
    return row


# --- settings that differ between instances -------------------------------------------


def test_a_lowered_reservation_ttl_cancels_no_checkout_in_progress(
    kind: str, tmp_path: Path
) -> None:
    """The shop lowers ``reservation_ttl_ms`` from 60 to 20 minutes (a restart, or a
    rolling deploy); a customer started a checkout 2 minutes ago under the old one."""
    w = shop(kind, tmp_path, Config(reservation_ttl_ms=60 * MINUTE))
    res = w.service.create_payment_intent("cs_test_C000000001", [CartItem("p_mug", 1)])
    w.clock.advance(2 * MINUTE)
    svc = instance(w, tmp_path, "inst-2", Config(reservation_ttl_ms=20 * MINUTE))
    svc.run_jobs()
    snap = w.store.snapshot()
    payment = snap.get(s.PAYMENTS, res.payment_id)
    assert payment is not None and payment.status is not PaymentStatus.CANCELED
    order = snap.get(s.ORDERS, payment.order_id)
    assert order is not None and order.status is OrderStatus.PENDING
    assert order.expires_at == order.created_at + 60 * MINUTE  # untouched
    assert skewed_alerts(w) == []
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")


@pytest.mark.parametrize("lease_ms", [10 * MINUTE, HOUR])
def test_a_longer_lease_of_another_instance_is_left_to_it(
    kind: str, tmp_path: Path, lease_ms: int
) -> None:
    """Instance A (``lease_ms`` 10 minutes, or the floor itself) holds a refund's flow;
    instance B, default config, runs recovery 5 s later: the lease is A's, live."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    a = instance(w, tmp_path, "inst-A", Config(lease_ms=lease_ms))
    b = instance(w, tmp_path, "inst-B")
    fid = a.start_refund(pid, 500, idempotency_key="rma-1")
    a.engine.take(fid)
    w.clock.advance(5_000)
    assert fid not in jobs.due_flows(b.engine)
    assert flow(w, fid).lease_owner == "inst-A"
    assert skewed_alerts(w) == []


def test_a_retry_time_under_a_longer_backoff_cap_is_not_brought_due(
    kind: str, tmp_path: Path
) -> None:
    """Instance A (``backoff_cap_ms`` 50 minutes) wrote a retry 45 minutes ahead and its
    lease lapsed; instance B (the default 10-minute cap) runs recovery."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    fid = w.service.start_refund(pid, 500, idempotency_key="rma-1")
    now = w.clock.now()
    with w.store.transaction() as tx:  # as A's retry wrote it
        row = tx.get(s.FLOWS, fid)
        assert row is not None
        tx.update(
            s.FLOWS,
            attrs.evolve(
                row,
                next_run_at=now + 45 * MINUTE,
                lease_owner="inst-A",
                lease_until=now - 1,
                version=row.version + 1,
            ),
        )
    b = instance(w, tmp_path, "inst-B")
    assert fid not in jobs.due_flows(b.engine)
    b.run_jobs()
    assert flow(w, fid).next_run_at == now + 45 * MINUTE
    assert skewed_alerts(w) == []


# --- an order written ahead keeps its own time to live ----------------------------------


def test_an_order_written_ahead_keeps_its_time_to_live(kind: str, tmp_path: Path) -> None:
    """A checkout made while the host's clock was 10 days ahead is found (an alert) and
    its expiry brought back by how far its creation was ahead: the customer still has
    the whole ``reservation_ttl_ms``, and the stock is released once it has passed."""
    w = shop(kind, tmp_path)
    ahead = PaymentService(
        w.store,
        w.provider,
        Skewed(w.clock, 10 * DAY),
        RecordingAlerts(),
        RecordingNotifier(),
        None,
        "inst-1",
        RandomTokens(),
    )
    res = ahead.create_payment_intent("cs_test_C000000003", [CartItem("p_mug", 1)])
    w.clock.advance(2 * MINUTE)  # the clock is put right
    svc = instance(w, tmp_path, "inst-2")
    ttl = svc.config.reservation_ttl_ms
    svc.run_jobs()
    snap = w.store.snapshot()
    payment = snap.get(s.PAYMENTS, res.payment_id)
    assert payment is not None and payment.status is not PaymentStatus.CANCELED
    order = snap.get(s.ORDERS, payment.order_id)
    assert order is not None and order.status is OrderStatus.PENDING
    assert order.expires_at == w.clock.now() + ttl
    assert [r.expires_at for r in snap.rows(s.RESERVATIONS)] == [order.expires_at]
    assert skewed_alerts(w) == ["times-written-ahead:orders"]
    svc.run_jobs()  # found once: its times are no longer ahead
    again = w.store.snapshot().get(s.ORDERS, order.id)
    assert again is not None and again.expires_at == order.expires_at
    w.clock.advance(ttl + 1)
    svc.run_jobs()
    stock = w.store.snapshot().get(s.STOCK, "s1/SKU-MUG")
    assert stock is not None and stock.held == 0


# --- what an idle round reads -------------------------------------------------------------


class CountingStore:
    """A store whose transactions note each read: (method, table, rows returned)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads: list[tuple[str, str, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.inner.transaction() as tx:
            yield CountingTx(tx, self.reads)


class CountingTx:
    def __init__(self, tx: Any, reads: list[tuple[str, str, int]]) -> None:
        self.tx, self.reads = tx, reads

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tx, name)

    def _noted(self, method: str, table: Any, rows: Any) -> Any:
        self.reads.append((method, table.name, 0 if rows is None else 1))
        return rows

    def get(self, table: Any, key: str) -> Any:
        return self._noted("get", table, self.tx.get(table, key))

    def _many(self, method: str, table: Any, rows: list[Any]) -> list[Any]:
        self.reads.append((method, table.name, len(rows)))
        return rows

    def find(self, table: Any, *args: Any, **kw: Any) -> list[Any]:
        return self._many("find", table, self.tx.find(table, *args, **kw))

    def find_since(self, table: Any, *args: Any, **kw: Any) -> list[Any]:
        return self._many("find_since", table, self.tx.find_since(table, *args, **kw))

    def claim(self, table: Any, *args: Any, **kw: Any) -> list[Any]:
        method = "claim_due" if kw.get("due") is not None else "claim"
        return self._many(method, table, self.tx.claim(table, *args, **kw))

    def scan(self, table: Any) -> Iterator[Any]:
        rows = list(self.tx.scan(table))
        self._many("scan", table, rows)
        return iter(rows)


def busy_shop(kind: str, tmp_path: Path, n: int) -> Wiring:
    """``n`` active flows in backoff (none due) and ``n`` pending orders (none expired)."""
    w = shop(kind, tmp_path, stock=n)
    now = w.clock.now()
    with w.store.transaction() as tx:
        for i in range(n):
            tx.insert(
                s.FLOWS,
                Flow(
                    id=f"refund:rf_{i:07d}",
                    kind="refund",
                    step="resolve",
                    created_at=now,
                    next_run_at=now + 5 * MINUTE,
                ),
            )
    for i in range(n):
        w.service.create_payment_intent(f"cs_test_C{i:09d}", [CartItem("p_mug", 1)])
    return w


def test_an_idle_round_reads_no_flow_and_no_order_until_the_sweep_is_due(
    kind: str, tmp_path: Path
) -> None:
    w = busy_shop(kind, tmp_path, 20)
    counting = CountingStore(w.store)
    svc = instance(w, tmp_path, "inst-2", store=counting)
    assert jobs.due_flows(svc.engine) == [] and jobs.janitor(svc.engine) == []
    first = list(counting.reads)  # the first round sweeps: it never did
    assert ("find", "flows", 20) in first and ("find", "orders", 20) in first
    for _ in range(3):
        w.clock.advance(svc.config.lease_ms // 4)
        counting.reads.clear()
        assert jobs.due_flows(svc.engine) == [] and jobs.janitor(svc.engine) == []
        flows_and_orders = [r for r in counting.reads if r[1] in ("flows", "orders")]
        assert flows_and_orders == [("claim_due", "flows", 0), ("claim_due", "orders", 0)]
        others = {(m, t) for m, t, _ in counting.reads if t not in ("flows", "orders")}
        assert others <= {("get", "cursors")}, counting.reads  # when each swept last
    w.clock.advance(svc.config.lease_ms // 4)  # a lease since the first sweep
    counting.reads.clear()
    jobs.due_flows(svc.engine)
    jobs.janitor(svc.engine)
    assert ("find", "flows", 20) in counting.reads and ("find", "orders", 20) in counting.reads
    # The sweep locks nothing: a plain find, never a claim (FOR UPDATE on PostgreSQL).
    claims = [r for r in counting.reads if r[0] == "claim" and r[1] in ("flows", "orders")]
    assert claims == []
    assert skewed_alerts(w) == []
    refunds = [f for f in w.store.snapshot().rows(s.FLOWS) if f.kind == "refund"]
    assert len(refunds) == 20 and all(f.status is FlowStatus.ACTIVE for f in refunds)


# --- an outbox message queued during a jump ---------------------------------------------


def test_an_outbox_message_queued_ahead_is_sent_once_the_clock_is_right(
    kind: str, tmp_path: Path
) -> None:
    """The host's clock is 10 days ahead while a customer pays (every send left to the
    outbox job); the clock is put right: the ``order_paid`` message is sent at the next
    round, not in 10 days, and the operator hears of it."""
    cfg = Config(notify_in_requests=False)
    w = shop(kind, tmp_path, cfg)
    ahead = PaymentService(
        w.store,
        w.provider,
        Skewed(w.clock, 10 * DAY),
        RecordingAlerts(),
        RecordingNotifier(),
        cfg,
        "inst-1",
        RandomTokens(),
    )
    res = ahead.create_payment_intent("cs_test_C000000001", [CartItem("p_mug", 1)])
    ahead.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    for ev in w.provider.take_events():
        ahead.handle_webhook(ev)
    w.clock.advance(2 * MINUTE)
    svc = instance(w, tmp_path, "inst-2", cfg)
    svc.run_jobs()
    delivered = svc.notifier.delivered  # type: ignore[attr-defined]
    assert [m.kind for m in delivered.values()] == ["order_paid"]
    assert all(m.sent for m in w.store.snapshot().rows(s.OUTBOX))
    assert skewed_alerts(w) == ["times-written-ahead:outbox"]
