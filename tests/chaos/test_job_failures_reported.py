"""A background job whose work fails is a failed run: job_health counts it and, after
``job_failures_before_alert`` rounds, raises ``job_failed``; one payment the provider
always refuses to list does not stop the external-refund scan for the payments after it."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from tests.support import SESSION, make_shop

from paycore import jobs
from paycore import schema as s
from paycore.errors import ProviderConfigurationError, ProviderUnavailable
from paycore.flows import reconcile
from paycore.flows.checkout import CartItem
from paycore.ports import PaymentProvider
from paycore_adapters.memory import Wiring

MINUTE = 60_000


class Refusing:
    """A provider whose refund reads fail: a restricted key (no refund read permission)
    and a timeout on every refund list; ``only`` limits the lists that fail to one intent."""

    def __init__(self, real: PaymentProvider, only: str | None = None) -> None:
        self.real, self.only = real, only
        self.reads = {"retrieve_refund": 0, "list_refunds": 0}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def retrieve_refund(self, *args: Any, **kwargs: Any) -> Any:
        self.reads["retrieve_refund"] += 1
        raise ProviderConfigurationError("permission denied (restricted key)")

    def list_refunds(self, intent_id: str, *args: Any, **kwargs: Any) -> Any:
        if self.only is not None and intent_id != self.only:
            return self.real.list_refunds(intent_id, *args, **kwargs)
        self.reads["list_refunds"] += 1
        raise ProviderUnavailable("timed out")


def paid(w: Wiring, session: str = SESSION) -> str:
    r = w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    return r.payment_id


def open_alert(w: Wiring, subject: str) -> bool:
    alert = w.store.snapshot().get(s.ALERTS, f"job_failed:{subject}")
    return alert is not None and alert.open


class TestReadsThatAllFail:
    def test_refund_sync_and_external_scan_whose_reads_all_fail_are_counted_and_alerted(
        self,
    ) -> None:
        """Every round lists both jobs as failed; after the threshold each has its alert."""
        w = make_shop()
        pid = paid(w)
        w.service.create_refund(pid, 500, idempotency_key="rma-1")
        broken = Refusing(w.provider)
        w.service.engine.provider = broken
        rounds = w.service.config.job_failures_before_alert
        for _ in range(rounds):
            w.clock.advance(MINUTE)
            report = w.service.run_jobs()
            assert {"refund_sync", "external_refunds"} <= set(report.failed)
        snap = w.store.snapshot()
        for job in ("refund_sync", "external_refunds"):
            health = snap.get(s.JOB_HEALTH, job)
            assert health is not None and health.failures == rounds
            assert open_alert(w, job)
        assert health.last_error == "ProviderUnavailable(provider_unavailable)"
        assert broken.reads == {"retrieve_refund": rounds, "list_refunds": rounds}

    def test_a_run_that_found_something_is_not_a_failure(self) -> None:
        """Only a run whose reads failed and that found nothing fails: the same sync
        with working reads succeeds, and a success resolves the alert."""
        w = make_shop()
        pid = paid(w)
        w.service.create_refund(pid, 500, idempotency_key="rma-1")
        real = w.provider
        w.service.engine.provider = Refusing(real)
        for _ in range(w.service.config.job_failures_before_alert):
            w.clock.advance(MINUTE)
            w.service.run_jobs()
        w.service.engine.provider = real
        w.clock.advance(MINUTE)
        assert w.service.run_jobs().failed == ()
        assert not open_alert(w, "refund_sync")


class TestReconcileLeftWaiting:
    def test_a_reconcile_run_left_waiting_by_a_failing_apply_is_a_failed_run(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The run is struck and waits for its retry: each round counts a failure, and
        the threshold raises job_failed for the reconciler."""
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise KeyError("a record this code cannot read")

        monkeypatch.setattr(reconcile, "reconcile_one", broken)
        rounds = w.service.config.job_failures_before_alert
        for _ in range(rounds):
            w.clock.advance(10 * MINUTE)
            assert "reconciler" in w.service.run_jobs().failed
        health = w.store.snapshot().get(s.JOB_HEALTH, "reconciler")
        assert health is not None and health.failures == rounds
        assert health.last_error == "FlowPending(flow_pending)"
        assert open_alert(w, "reconciler")


class TestExternalScanGoesOn:
    def test_one_payment_that_cannot_be_listed_does_not_hide_the_ones_after_it(self) -> None:
        """The first payment's refunds can never be listed; a dashboard refund of the
        second, whose webhook was lost, is still found within two runs."""
        w = make_shop()
        first, second = paid(w), paid(w, "cs_test_second00001")
        intents = [w.service.payment(p).provider_intent_id for p in (first, second)]
        assert intents[0] is not None and intents[1] is not None
        w.provider.create_refund(
            intents[1], amount=500, reason=None, metadata={}, idempotency_key="dash-1"
        )  # its webhook is never delivered
        broken = Refusing(w.provider, only=intents[0])
        w.service.engine.provider = broken
        recorded = 0
        for _ in range(2):
            # a run that found nothing and failed a read is a failed run: it raises
            with contextlib.suppress(ProviderUnavailable):
                recorded += jobs.find_external_refunds(w.service.engine)
        assert recorded == 1
        assert [r.external for r in w.service.refunds_of(second)] == [True]
        assert broken.reads["list_refunds"] >= 1
