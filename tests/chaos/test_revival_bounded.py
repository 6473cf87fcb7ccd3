"""The reconciler revives a flow the provider's absence killed, but not forever: a
refund whose calls keep failing for another reason than an outage (an adapter's bug
raising a raw error, which the engine takes as "the provider unavailable", since the
call may have landed) would otherwise die, be revived and die again every horizon, its
dead-letter alert closed by each revival. After
:data:`paycore.flows.reconcile.REVIVE_MAX` automatic revivals it stays dead for a
person, its ``flow_dead_lettered`` alert open and saying so; a person's revival gives
the reconciler its revivals back. Revived flows are reported as such by ``run_jobs``,
not as orphans started."""

from __future__ import annotations

import pytest
from tests.chaos.test_outages import HOUR, MINUTE, make_shop_with, paid_order
from tests.chaos.test_refunds_dead_of_outage import CONFIG, down_until, refund_flow, ride

from paycore import schema as s
from paycore.errors import FlowPending, ProviderError
from paycore.flows.reconcile import REVIVE_MAX
from paycore.status import FlowStatus
from paycore_adapters.memory import Wiring


def broken_refunds(w: Wiring) -> None:
    """The adapter's refund calls raise a raw error (a bug); its list of intents works."""

    def fault(name: str, phase: str, key: str | None) -> None:
        if name in ("create_refund", "list_refunds") and phase == "before":
            raise TypeError("adapter bug")

    w.provider.fault = fault


def revivals(w: Wiring, fid: str) -> int:
    audit = w.store.snapshot().rows(s.AUDIT)
    return len([a for a in audit if a.aggregate_id == fid and a.trigger == "revive"])


def run_for(w: Wiring, span_ms: int) -> None:
    end = w.clock.now() + span_ms
    while w.clock.now() < end:
        w.clock.advance(10 * MINUTE)
        w.service.run_jobs()
        w.provider.take_events()


def test_a_refund_stuck_on_an_adapter_bug_is_left_for_a_person() -> None:
    w = make_shop_with(CONFIG)  # a horizon of one hour
    pid = paid_order(w)
    broken_refunds(w)
    with pytest.raises((FlowPending, ProviderError)):
        w.service.create_refund(pid, idempotency_key="rma-1")
    fid = refund_flow(w, pid)
    run_for(w, 24 * HOUR)
    assert revivals(w, fid) == REVIVE_MAX
    assert w.service.flow(fid).status is FlowStatus.DEAD
    alert = w.store.snapshot().get(s.ALERTS, f"flow_dead_lettered:{fid}")
    assert alert is not None and alert.open
    assert f"revived automatically {REVIVE_MAX} times" in alert.message
    assert "left for a person" in alert.message
    said = alert.count
    run_for(w, 6 * HOUR)  # it stays so, and the alert is not raised again
    assert revivals(w, fid) == REVIVE_MAX
    after = w.store.snapshot().get(s.ALERTS, f"flow_dead_lettered:{fid}")
    assert after is not None and after.open and after.count == said
    # A person revives it: the reconciler may revive it again.
    w.service.revive_flow(fid)
    run_for(w, 3 * HOUR)
    assert revivals(w, fid) > REVIVE_MAX + 1  # the person's, then the reconciler's


def test_revived_flows_are_reported_as_revived_not_as_orphans_started() -> None:
    w = make_shop_with(CONFIG)
    pid = paid_order(w)
    until = w.clock.now() + 3 * HOUR
    down_until(w, until)
    with pytest.raises((FlowPending, ProviderError)):
        w.service.create_refund(pid, idempotency_key="rma-1")
    ride(w, until)
    assert w.service.flow(refund_flow(w, pid)).status is FlowStatus.DEAD
    w.provider.fault = None
    w.clock.advance(MINUTE)
    report = w.service.run_jobs()
    assert (report.orphans_started, report.revived) == (0, 1)
