"""Real concurrency on one SQLite file: eight service instances in eight threads, each
with its own connection, 2,000 checkouts of three scarce SKUs, many on shared
sessions, with confirms, cancels, refunds, webhooks and jobs on every instance; one
instance dies mid-run with its flows in flight and a new one takes its place. After
it, no invariant is violated (convergence included) and nothing is left in flight.
The memory store runs the same load, for comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from paycore import schema as s
from paycore.invariants import Ledger, check
from paycore.ports import Store
from paycore.service import PaymentService
from paycore.status import OrderStatus
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.harness.load import open_shop, run_load, settle
from paycore_adapters.memory import ManualClock, RecordingAlerts, RecordingNotifier
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.sql.sqlite_store import SQLiteStore

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_eight_instances_at_once_keep_every_invariant(kind: str, tmp_path: Path) -> None:
    store: Store = (
        SQLiteStore(tmp_path / "shop.db", migrate=True) if kind == "sqlite" else MemoryStore()
    )
    clock = ManualClock()
    provider = FakeProvider(clock)
    admin = PaymentService(store, provider, clock, RecordingAlerts(), RecordingNotifier())
    open_shop(admin, provider, stock=40)

    report = run_load(store, provider, clock, workers=8, checkouts=2000, sessions=600)

    assert report.checkouts >= 2000
    assert report.died == "load-0"  # and its replacement ran
    for kind_of_call in ("checkout", "confirm", "cancel", "refund", "webhook", "jobs"):
        assert report.calls.get(kind_of_call, 0) > 0, report.calls
    assert report.errors.get("out_of_stock", 0) > 0  # the stock was scarce
    assert report.errors.get("checkout_session_reused", 0) > 0  # sessions were shared
    assert settle(admin, provider, clock) == 0
    ledger = Ledger(provider.intents(), provider.refunds(), clock.now())
    assert check(store.snapshot(), ledger, ("safety", "convergence")) == []
    orders = store.snapshot().rows(s.ORDERS)
    paid = [o for o in orders if o.status is OrderStatus.PAID]
    assert len({o.checkout_session_id for o in orders}) == len(orders)
    assert paid, "no order was paid"
