"""Two service instances on one store: a flow an instance starts and runs at once is
leased to it from the start, so the other's recovery does not step it meanwhile
(duplicate provider calls)."""

from __future__ import annotations

from tests.support import SESSION, made_here, make_shop

from paycore import jobs
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore.records import Flow
from paycore.service import PaymentService
from paycore.status import FlowStatus
from paycore_adapters.memory import RecordingAlerts, RecordingNotifier, Wiring


def beside(w: Wiring) -> PaymentService:
    """A second instance on ``w``'s store and provider, built with the default worker id."""
    return PaymentService(w.store, w.provider, w.clock, RecordingAlerts(), RecordingNotifier())


def flow(w: Wiring, flow_id: str) -> Flow:
    found = w.store.snapshot().get(s.FLOWS, flow_id)
    assert found is not None
    return found


def paid(w: Wiring) -> str:
    r = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 2)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    return r.payment_id


class TestStartedLeased:
    def test_a_fresh_refund_flow_is_not_recovered_by_another_instance(self) -> None:
        """A refund recorded by one instance, which runs it next: the other's recovery
        passes it over until the lease lapses."""
        w = make_shop()
        other = beside(w)
        pid = paid(w)
        fid = w.service.start_refund(pid, 500, None, "rma-1")
        started = flow(w, fid)
        assert started.lease_owner == w.service.engine.worker_id
        assert started.lease_until == w.clock.now() + w.service.config.lease_ms
        assert fid not in jobs.due_flows(other.engine)
        assert w.provider.calls["create_refund"] == 0
        assert w.service.run_flow(fid).status is FlowStatus.SUCCEEDED
        assert w.provider.calls["create_refund"] == 1

    def test_a_refund_left_by_a_dead_instance_is_recovered_once_its_lease_lapsed(
        self,
    ) -> None:
        """The lease only bridges the start and the run: once it lapses, any instance's
        recovery finishes the refund."""
        w = make_shop()
        other = beside(w)
        fid = w.service.start_refund(paid(w), 500, None, "rma-1")
        w.clock.advance(w.service.config.lease_ms)
        assert fid in jobs.due_flows(other.engine)

    def test_a_fresh_orphan_flow_is_not_recovered_by_another_instance(self) -> None:
        """The reconciler of one instance starts an orphan flow and runs it next: the
        other's recovery passes it over until the lease lapses."""
        w = make_shop()
        other = beside(w)
        req = CreateIntent(Money(700, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_o"))
        intent = w.provider.create_intent(req, idempotency_key="lost-create").id
        assert jobs.reconcile(w.service.engine) == [f"orphan:{intent}"]
        started = flow(w, f"orphan:{intent}")
        assert started.lease_owner == w.service.engine.worker_id
        assert started.lease_until > w.clock.now()
        assert f"orphan:{intent}" not in jobs.due_flows(other.engine)
        w.clock.advance(w.service.config.lease_ms)
        assert f"orphan:{intent}" in jobs.due_flows(other.engine)
