"""Refund flows the provider's absence killed: the reconciler's run revives them, as it
does orphan flows, so a refund whose answers were lost, or that was asked for while the
provider was down, ends without a person once the provider is back.

A refund flow's ``resolve`` step lists the payment's refunds before it sends anything,
and its keys are its own: a revived refund is made once, or found made and recorded."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from tests.chaos.test_outages import DAY, HOUR, MINUTE, make_shop_with, paid_order
from tests.support import converged, deliver_webhooks, faultable, flow_of, mug_shop

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.errors import FlowPending, ProviderError, ProviderUnavailable
from paycore.flows import retry
from paycore.flows.checkout import CartItem
from paycore.status import FlowStatus, OrderStatus, PaymentStatus, RefundStatus
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore

#: A short horizon: the flows die of the outage within the test's first hours.
CONFIG = Config(retry_horizon_ms=HOUR)


def shop(kind: str, tmp_path: Path) -> Wiring:
    """The mug shop with :data:`CONFIG`, on the memory store or on a SQLite file."""
    if kind == "memory":
        return make_shop_with(CONFIG)
    store = SQLiteStore(tmp_path / "shop.db", migrate=True)
    return mug_shop(faultable(in_memory(CONFIG, store=store)), 5)


def answers_lost_until(w: Wiring, until: int) -> None:
    """The provider acts on every call but its answers are lost, until ``until``; its
    webhooks of that time are lost too (the endpoint was down)."""

    def fault(name: str, phase: str, key: str | None) -> None:
        if w.clock.now() < until and phase == "after":
            raise ProviderUnavailable(f"{name}: answer lost")

    w.provider.fault = fault


def down_until(w: Wiring, until: int) -> None:
    def fault(name: str, phase: str, key: str | None) -> None:
        if w.clock.now() < until:
            raise ProviderUnavailable(f"{name}: 503 (outage)")

    w.provider.fault = fault


def ride(w: Wiring, until: int, tick_ms: int = 10 * MINUTE) -> None:
    """Every job runs through the outage (they fail or do nothing), webhooks lost; the
    clock stops at its end, before any job meets the provider back."""
    while w.clock.now() + tick_ms < until:
        w.clock.advance(tick_ms)
        w.service.run_jobs()
        w.provider.take_events()
    w.clock.advance(until - w.clock.now())


def jobs_for(w: Wiring, span_ms: int, tick_ms: int = 10 * MINUTE) -> None:
    """The provider is back: the jobs run and the webhooks arrive, for ``span_ms``."""
    end = w.clock.now() + span_ms
    while w.clock.now() < end:
        w.clock.advance(tick_ms)
        w.service.run_jobs()
        deliver_webhooks(w)


def paid(w: Wiring, session: str) -> str:
    res = w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    return res.payment_id


def refund_flow(w: Wiring, payment_id: str) -> str:
    (refund,) = w.service.refunds_of(payment_id)
    return f"refund:{refund.id}"


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_full_refund_whose_answers_were_lost_past_the_horizon_ends_refunded(
    kind: str, tmp_path: Path
) -> None:
    """The refund reached the provider (the customer has the money) but every answer and
    webhook was lost until its flow died at ``resolve``. Once the provider answers again,
    the jobs alone record it: the order reads ``refunded`` and every invariant holds."""
    w = shop(kind, tmp_path)
    pid = paid_order(w)
    until = w.clock.now() + 5 * HOUR
    answers_lost_until(w, until)
    with pytest.raises((FlowPending, ProviderError)):
        w.service.create_refund(pid, idempotency_key="rma-1")
    ride(w, until)
    fid = refund_flow(w, pid)
    assert flow_of(w, fid).status is FlowStatus.DEAD
    assert [r.amount for r in w.provider.refunds()] == [1250]  # the money went back
    w.provider.fault = None
    jobs_for(w, HOUR)
    flow = flow_of(w, fid)
    assert flow.status is FlowStatus.SUCCEEDED
    assert (flow.last_error or "").startswith("revived by the reconciler (was: ")
    (refund,) = w.service.refunds_of(pid)
    assert refund.status is RefundStatus.SUCCEEDED
    payment = w.service.payment(pid)
    assert payment.status is PaymentStatus.SUCCEEDED and payment.amount_refunded == 1250
    order = w.service.order(payment.order_id)
    assert order is not None and order.status is OrderStatus.REFUNDED
    assert [r.amount for r in w.provider.refunds()] == [1250]  # made once
    assert w.service.attention() == []
    dead = w.store.snapshot().get(s.ALERTS, f"flow_dead_lettered:{fid}")
    assert dead is not None and dead.resolution == "revived by the reconciler"
    audit = w.store.snapshot().rows(s.AUDIT)
    revivals = [
        (a.from_status, a.to_status)
        for a in audit
        if a.aggregate_id == fid and a.trigger == "revive"
    ]
    assert revivals == [("dead", "active")]  # the revival is in the audit trail
    assert not w.violations()
    converged(w)


def test_a_refund_asked_for_while_the_provider_was_down_is_made_once_it_is_back() -> None:
    """Nothing reached the provider before the flow died: the revived flow lists, finds
    nothing, and makes the refund with its own key, once."""
    w = make_shop_with(CONFIG)
    pid = paid_order(w)
    until = w.clock.now() + 2 * DAY
    down_until(w, until)
    with pytest.raises((FlowPending, ProviderError)):
        w.service.create_refund(pid, 300, idempotency_key="rma-1")
    ride(w, until, tick_ms=HOUR)
    fid = refund_flow(w, pid)
    assert flow_of(w, fid).status is FlowStatus.DEAD
    assert w.provider.refunds() == []
    w.provider.fault = None
    jobs_for(w, 2 * HOUR)
    assert flow_of(w, fid).status is FlowStatus.SUCCEEDED
    assert [r.amount for r in w.provider.refunds()] == [300]
    (refund,) = w.service.refunds_of(pid)
    assert refund.status is RefundStatus.SUCCEEDED
    converged(w)


def test_a_refund_that_died_of_failures_waits_for_a_person() -> None:
    """Only the provider's absence is revived: a refund out of strikes would fail again
    (its dead-letter reason is the one thing told apart here)."""
    w = make_shop_with(CONFIG)
    pid = paid_order(w)
    until = w.clock.now() + 3 * HOUR
    down_until(w, until)
    with pytest.raises((FlowPending, ProviderError)):
        w.service.create_refund(pid, idempotency_key="rma-1")
    ride(w, until, tick_ms=MINUTE)
    fid = refund_flow(w, pid)
    dead = flow_of(w, fid)
    assert dead.status is FlowStatus.DEAD and dead.data.get(retry.DEAD_OF) == "outage"
    struck = {**dead.data, retry.DEAD_OF: "failures"}
    w.service.engine.transact(lambda u: u.save(s.FLOWS, dead, data=struck))
    w.provider.fault = None
    assert jobs.reconcile(w.service.engine) == []
    assert flow_of(w, fid).status is FlowStatus.DEAD
    assert w.provider.refunds() == []


def test_the_reconciler_returns_the_refunds_it_revived_at_most_a_batch_a_run() -> None:
    """Two dead refund flows and a batch of one: one is revived per run, each leased to
    the run's worker and returned for it to run."""
    w = make_shop_with(CONFIG)
    pids = [paid(w, f"cs_test_{n:010d}") for n in range(2)]
    until = w.clock.now() + 3 * HOUR
    down_until(w, until)
    for n, pid in enumerate(pids):
        with pytest.raises((FlowPending, ProviderError)):
            w.service.create_refund(pid, idempotency_key=f"rma-{n}")
    ride(w, until, tick_ms=MINUTE)
    fids = [refund_flow(w, pid) for pid in pids]
    assert [flow_of(w, f).status for f in fids] == [FlowStatus.DEAD] * 2
    w.provider.fault = None
    eng = w.service.engine
    eng.config = attrs.evolve(eng.config, job_batch=1)
    runs = [jobs.reconcile(eng) for _ in range(2)]
    assert sorted(f for run in runs for f in run) == sorted(fids)
    assert [len(run) for run in runs] == [1, 1]
    for fid in fids:
        flow = flow_of(w, fid)
        assert flow.status is FlowStatus.ACTIVE and flow.lease_owner == eng.worker_id
