"""run_job: one job's failure is caught, recorded and counted; a success clears it."""

from __future__ import annotations

from tests.support import faultable

from paycore import job_health
from paycore import schema as s
from paycore.errors import OperationalError, ProviderUnavailable
from paycore.records import JobHealth
from paycore_adapters.memory import in_memory


class StoreDown:
    def before_commit(self) -> None:
        raise OperationalError("database unreachable")

    def after_commit(self) -> None:
        pass


def boom() -> int:
    raise ProviderUnavailable("provider timed out", secret_hint="sk_live_should_not_leak")


class TestRunJob:
    def test_a_success_returns_the_value(self) -> None:
        """A job that ends well: its value, no error, nothing recorded."""
        w = in_memory()
        outcome = job_health.run_job(w.service.engine, "reconciler", lambda: 7)
        assert (outcome.ok, outcome.value, outcome.error) == (True, 7, None)
        assert w.store.snapshot().get(s.JOB_HEALTH, "reconciler") is None

    def test_a_failure_is_returned_and_counted(self) -> None:
        """The error's type and code, never its message, are kept."""
        w = in_memory()
        eng = w.service.engine
        for _ in range(2):
            outcome = job_health.run_job(eng, "reconciler", boom)
        assert (outcome.ok, outcome.value) == (False, None)
        assert outcome.error == "ProviderUnavailable(provider_unavailable)"
        row = w.store.snapshot().get(s.JOB_HEALTH, "reconciler")
        assert row == JobHealth("reconciler", 2, outcome.error, w.clock.now(), 1)
        assert w.alerts.raised == []

    def test_the_alert_comes_at_the_threshold_and_goes_with_a_success(self) -> None:
        """job_failed after the configured run of failures; resolved, and the count reset."""
        w = in_memory()
        eng = w.service.engine
        for _ in range(eng.config.job_failures_before_alert):
            job_health.run_job(eng, "outbox", boom)
        (alert,) = w.alerts.raised
        assert alert.kind == "job_failed" and alert.fields["job"] == "outbox"
        assert "sk_live" not in alert.message
        job_health.run_job(eng, "outbox", lambda: 0)
        snap = w.store.snapshot()
        stored = snap.get(s.ALERTS, "job_failed:outbox")
        assert stored is not None and not stored.open
        health = snap.get(s.JOB_HEALTH, "outbox")
        assert health is not None and health.failures == 0

    def test_a_store_that_is_down_too_does_not_turn_the_failure_into_a_raise(self) -> None:
        """Recording the failure fails as well: the outcome still reports it."""
        w = faultable(in_memory())
        w.store.faults = StoreDown()
        outcome = job_health.run_job(w.service.engine, "janitor", boom)
        assert not outcome.ok
        w.store.faults = None
        assert w.store.snapshot().get(s.JOB_HEALTH, "janitor") is None
