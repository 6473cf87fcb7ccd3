"""Each service instance takes its leases under a worker id of its own: two instances
built without one on one store never take each other's leases for their own."""

from __future__ import annotations

from tests.support import SESSION, make_shop

from paycore import jobs
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.service import PaymentService
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock, RecordingAlerts, RecordingNotifier
from paycore_adapters.memory_store import MemoryStore


class TestDefaultWorkerId:
    def test_two_default_built_services_do_not_share_a_lease(self) -> None:
        """Two services built without a worker id, on one store: a checkout the first
        started is not stepped by the second's recovery until its lease lapsed."""
        clock = ManualClock()
        store, provider = MemoryStore(), FakeProvider(clock)
        a, b = (
            PaymentService(store, provider, clock, RecordingAlerts(), RecordingNotifier())
            for _ in range(2)
        )
        assert a.engine.worker_id != b.engine.worker_id
        provider.set_account("acct_1")
        a.add_seller("s1", "Mug Shop", "acct_1")
        a.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
        a.restock("s1", "SKU-MUG", 1)
        fid = a.start_checkout(SESSION, [CartItem("p_mug", 1)])
        before = store.snapshot().get(s.FLOWS, fid)
        assert before is not None and before.lease_owner == a.engine.worker_id
        assert b.run_recovery() == (0, 0)
        assert store.snapshot().get(s.FLOWS, fid) == before
        assert provider.calls["create_intent"] == 0
        clock.advance(a.config.lease_ms)
        assert jobs.due_flows(b.engine) == [fid]

    def test_an_explicit_worker_id_is_kept(self) -> None:
        """A worker id given to the constructor is the one its leases are taken under."""
        w = make_shop()
        svc = PaymentService(w.store, w.provider, w.clock, w.alerts, w.notifier, worker_id="web-7")
        assert svc.engine.worker_id == "web-7"
        fid = svc.start_checkout(SESSION, [CartItem("p_mug", 1)])
        started = w.store.snapshot().get(s.FLOWS, fid)
        assert started is not None and started.lease_owner == "web-7"
