"""What a caller is told when an operation cannot run or a job's run failed: the error
names the flow (``flow_id``, to poll or to look up) and says what happened, in words an
operator can act on."""

from __future__ import annotations

import pytest
from tests.chaos.test_job_failures_reported import Refusing, paid
from tests.chaos.test_lease_during_runs import beside
from tests.support import SESSION, make_shop

from paycore import jobs
from paycore import schema as s
from paycore.errors import FlowPending, ProviderUnavailable
from paycore.flows.checkout import CartItem


class TestHeldByAnotherInstance:
    def test_running_a_flow_another_instance_holds_names_it_and_says_what_to_do(self) -> None:
        """A checkout started by one instance, leased to it: the other instance's run of
        it changes nothing and raises FlowPending naming the flow and the way out."""
        w = make_shop()
        fid = w.service.start_checkout(SESSION, [CartItem("p_mug", 1)])
        before = w.store.snapshot().get(s.FLOWS, fid)
        other = beside(w)
        with pytest.raises(FlowPending) as raised:
            other.run_flow(fid)
        assert raised.value.fields == {"flow_id": fid}
        assert raised.value.message == (
            f"operation {fid} is being run by another instance, which holds its lease: "
            "poll its status, or retry the call later"
        )
        assert w.store.snapshot().get(s.FLOWS, fid) == before


class TestFailedJobRun:
    def test_a_scan_whose_reads_all_failed_says_how_many_and_names_its_run(self) -> None:
        """The external-refund scan of one payment whose refunds cannot be listed: the
        run found nothing, so it fails with the last read's error, counting the reads."""
        w = make_shop()
        paid(w)
        w.service.engine.provider = Refusing(w.provider)
        with pytest.raises(ProviderUnavailable) as raised:
            jobs.find_external_refunds(w.service.engine)
        (run,) = [f for f in w.store.snapshot().rows(s.FLOWS) if f.kind == "external_refunds"]
        assert raised.value.fields == {"flow_id": run.id}
        assert raised.value.message == (
            f"job {run.id}: 1 of its 1 provider reads failed (last: provider_unavailable) "
            "and it found nothing; the next run asks again"
        )
