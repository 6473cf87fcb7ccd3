"""A key without the Disputes: Read permission: the reconciler's ``disputes`` step
raises an alert that names the step and the permission, and the run itself (the
intents' walk and what it started) does not fail for it; the alert closes by itself once
the listing is answered again."""

from __future__ import annotations

from tests.chaos.test_dispute_reconciliation import alert, paid, w  # noqa: F401
from tests.support import faultable, made_here

from paycore import jobs
from paycore import schema as s
from paycore.errors import ProviderConfigurationError
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore_adapters.memory import Wiring


def refuse(call: str, phase: str, key: str | None) -> None:
    if call == "list_disputes" and phase == "before":
        raise ProviderConfigurationError("The provided key does not have the permission")


def test_a_key_without_disputes_read_names_the_step_and_the_permission(
    w: Wiring,  # noqa: F811
) -> None:
    faultable(w)
    payment_id, intent = paid(w)
    w.provider.open_dispute(intent)
    w.provider.take_events()
    lost = w.provider.create_intent(
        CreateIntent(Money(500, "EUR"), "acct_1", made_here(w, order_id="ord_lost")),
        idempotency_key="lost-create",
    )
    w.provider.fault = refuse  # type: ignore[attr-defined]
    limit = w.service.config.job_failures_before_alert
    for _ in range(limit + 1):
        report = w.service.run_jobs()
        assert "reconciler" not in report.failed
        w.clock.advance(60_000)
    snap = w.store.snapshot()
    assert snap.get(s.ALERTS, "job_failed:reconciler") is None
    row = snap.get(s.ALERTS, "provider_permission:disputes")
    assert row is not None and row.open
    assert "disputes" in row.message and "Disputes: Read" in row.message
    assert snap.get(s.FLOWS, f"orphan:{lost.id}") is not None
    assert alert(w, payment_id) is None
    w.provider.fault = None  # type: ignore[attr-defined]
    run = jobs.finish_job(w.service.engine, jobs.start_reconcile(w.service.engine))
    assert (run.result or {}).get("disputed") == [payment_id]
    fixed = w.store.snapshot().get(s.ALERTS, "provider_permission:disputes")
    assert fixed is not None and not fixed.open
