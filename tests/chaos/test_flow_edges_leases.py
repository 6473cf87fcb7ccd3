"""Orphan flows the reconciler revives, and dead checkouts the janitor ends, start leased
to the reviving worker, as the flows it starts do (tests/chaos/test_instance_leases.py):
another instance's recovery does not step such a flow while the reviver runs it next."""

from __future__ import annotations

import pytest
from tests.chaos.test_instance_leases import beside
from tests.chaos.test_orphans_and_webhooks import orphan_intent, start_orphan_flows
from tests.chaos.test_outages import DAY, HOUR, MINUTE, make_shop_with, outage, ride_out
from tests.support import SESSION, flow_of

from paycore import jobs
from paycore.config import Config
from paycore.errors import FlowPending, ProviderError
from paycore.flows.checkout import CartItem
from paycore.service import PaymentService
from paycore.status import FlowStatus
from paycore_adapters.memory import Wiring


def leased_here_until_it_lapses(w: Wiring, other: PaymentService, fid: str) -> None:
    """The flow runs again, leased to ``w``'s worker for a lease from now: ``other``'s
    recovery passes it over until the lease lapses, then may take it."""
    flow = flow_of(w, fid)
    assert flow.status is FlowStatus.ACTIVE
    assert flow.lease_owner == w.service.engine.worker_id
    assert flow.lease_until == w.clock.now() + w.service.config.lease_ms
    assert fid not in jobs.due_flows(other.engine)
    w.clock.advance(w.service.config.lease_ms)
    assert fid in jobs.due_flows(other.engine)


class TestRevivedOrphansLeased:
    def test_a_revived_orphan_flow_is_not_recovered_by_another_instance(self) -> None:
        """Dead of an outage, revived by one instance's reconciler: leased to it, so the
        other's recovery passes the flow over until the lease lapses."""
        w = make_shop_with(Config(retry_horizon_ms=HOUR))
        other = beside(w)
        orphan_intent(w, "pm_card_visa")
        (fid,) = start_orphan_flows(w)
        ride_out(w, outage(w, 3 * HOUR), tick_ms=MINUTE)
        assert flow_of(w, fid).status is FlowStatus.DEAD
        w.provider.fault = None
        assert jobs.reconcile(w.service.engine) == [fid]
        leased_here_until_it_lapses(w, other, fid)


class TestCompensatedCheckoutsLeased:
    def test_a_dead_checkout_the_janitor_ends_is_not_recovered_by_another_instance(
        self,
    ) -> None:
        """A checkout dead of an outage, its order expired: the janitor of one instance
        restarts its compensation, leased to that instance (which runs it next), so the
        other's recovery passes it over until the lease lapses."""
        w = make_shop_with(Config(retry_horizon_ms=HOUR))
        other = beside(w)
        until = outage(w, 2 * DAY)
        with pytest.raises((FlowPending, ProviderError)):
            w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        ride_out(w, until, tick_ms=10 * MINUTE)
        fid = f"checkout:{SESSION}"
        assert flow_of(w, fid).status is FlowStatus.DEAD
        w.provider.fault = None
        assert jobs.janitor(w.service.engine) == [fid]
        leased_here_until_it_lapses(w, other, fid)
