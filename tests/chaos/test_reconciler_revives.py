"""Orphan flows the provider's absence killed: the reconciler's run revives them and
says so, at most a batch of them per run."""

from __future__ import annotations

import attrs
from tests.chaos.test_orphans_and_webhooks import orphan_intent, start_orphan_flows
from tests.chaos.test_outages import HOUR, MINUTE, make_shop_with, outage, ride_out
from tests.support import flow_of

from paycore import jobs
from paycore.config import Config
from paycore.status import FlowStatus


def test_the_reconciler_returns_the_orphan_flows_it_revived() -> None:
    w = make_shop_with(Config(retry_horizon_ms=HOUR))
    orphan_intent(w, "pm_card_visa")
    (fid,) = start_orphan_flows(w)
    ride_out(w, outage(w, 3 * HOUR), tick_ms=MINUTE)
    assert flow_of(w, fid).status is FlowStatus.DEAD
    w.provider.fault = None
    assert jobs.reconcile(w.service.engine) == [fid]
    revived = flow_of(w, fid)
    assert revived.status is FlowStatus.ACTIVE
    assert (revived.last_error or "").startswith("revived by the reconciler (was: ")


def test_a_run_revives_at_most_a_batch_of_dead_orphan_flows() -> None:
    """Two dead orphan flows and a batch of one: one is revived per run."""
    w = make_shop_with(Config(retry_horizon_ms=HOUR))
    orphan_intent(w, "pm_card_visa")
    orphan_intent(w, "pm_card_visa")
    fids = start_orphan_flows(w)
    assert len(fids) == 2
    ride_out(w, outage(w, 3 * HOUR), tick_ms=MINUTE)
    assert [flow_of(w, f).status for f in fids] == [FlowStatus.DEAD] * 2
    w.provider.fault = None
    w.service.engine.config = attrs.evolve(w.service.engine.config, job_batch=1)
    revived = [jobs.reconcile(w.service.engine) for _ in range(2)]
    assert sorted(f for run in revived for f in run) == sorted(fids)
    assert [len(run) for run in revived] == [1, 1]
