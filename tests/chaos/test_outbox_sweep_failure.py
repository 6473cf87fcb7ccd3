"""The outbox job's sweep for times written ahead runs in its own transaction before
the sending. A sweep that fails (the store refuses it) used to stop the whole job: no
message was sent that round. Then the backlog was sent but the sweep's error raised
out of the job: the round reported ``notifications_sent=0`` and the outbox job
failed (``job_failed:outbox``) although the messages went out, inviting an operator
to send them again by hand. Now the sweep's failure is recorded under its own name
(``job_health`` and, after repeated failures, ``job_failed:outbox_sweep``) and the
outbox job reports what it sent and succeeds."""

from __future__ import annotations

import pytest
from tests.support import Wiring, make_shop

from paycore import schema as s
from paycore import written_ahead
from paycore.config import Config
from paycore.errors import StoreError
from paycore.flows.checkout import CartItem
from paycore.unit import Unit


def _queued(w: Wiring, session: str) -> None:
    """One paid order whose ``order_paid`` message waits in the outbox."""
    res = w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    for ev in w.provider.take_events():
        w.service.handle_webhook(ev)


def _refused(u: Unit, config: Config) -> list[str]:
    raise StoreError("the store refused the sweep")


def _alert_open(w: Wiring, subject: str) -> bool | None:
    """Whether ``job_failed:<subject>`` is open; None: it was never raised."""
    alert = w.store.snapshot().get(s.ALERTS, f"job_failed:{subject}")
    return None if alert is None else alert.open


def test_a_failed_sweep_still_sends_the_backlog_and_is_reported_as_the_sweeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = make_shop(config=Config(notify_in_requests=False))
    _queued(w, "cs_test_C000000001")
    assert [m.sent for m in w.store.snapshot().rows(s.OUTBOX)] == [False]

    monkeypatch.setattr(written_ahead, "outbox", _refused)
    report = w.service.run_jobs()
    assert all(m.sent for m in w.store.snapshot().rows(s.OUTBOX))
    assert [m.kind for m in w.notifier.delivered.values()] == ["order_paid"]
    assert report.notifications_sent == 1  # what went out is reported
    assert report.failed == ()  # the sending job did its work
    assert w.store.snapshot().get(s.JOB_HEALTH, "outbox") is None
    health = w.store.snapshot().get(s.JOB_HEALTH, "outbox_sweep")
    assert health is not None and health.failures == 1
    assert health.last_error == "StoreError(store_error)"


def test_a_sweep_that_keeps_failing_raises_its_own_alert_and_closes_it_when_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Repeated failures raise ``job_failed:outbox_sweep``, never ``job_failed:outbox``,
    while every round's messages go out and are counted; the sweep's next good run
    closes its alert."""
    w = make_shop(config=Config(notify_in_requests=False))
    monkeypatch.setattr(written_ahead, "outbox", _refused)
    rounds = w.service.config.job_failures_before_alert
    for i in range(rounds):
        _queued(w, f"cs_test_C00000000{i + 1}")
        report = w.service.run_jobs()
        assert (report.notifications_sent, report.failed) == (1, ())
    assert _alert_open(w, "outbox_sweep") is True
    assert _alert_open(w, "outbox") is None
    alert = w.store.snapshot().get(s.ALERTS, "job_failed:outbox_sweep")
    assert alert is not None and "outbox_sweep" in alert.message
    assert len(w.notifier.delivered) == rounds

    monkeypatch.undo()
    report = w.service.run_jobs()
    assert report.failed == ()
    assert _alert_open(w, "outbox_sweep") is False
    health = w.store.snapshot().get(s.JOB_HEALTH, "outbox_sweep")
    assert health is not None and health.failures == 0
