"""The outbox job's sweep for times written ahead runs in its own transaction before
the sending. A sweep that fails (the store refuses it) used to stop the whole job: no
message was sent that round. Now the backlog is sent anyway, and the job's run is
reported failed (``job_health``, then ``job_failed``), as any job's failure is."""

from __future__ import annotations

import pytest
from tests.support import make_shop

from paycore import schema as s
from paycore import written_ahead
from paycore.config import Config
from paycore.errors import StoreError
from paycore.flows.checkout import CartItem
from paycore.unit import Unit


def test_a_failed_sweep_still_sends_the_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    w = make_shop(config=Config(notify_in_requests=False))
    res = w.service.create_payment_intent("cs_test_C000000001", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    for ev in w.provider.take_events():
        w.service.handle_webhook(ev)
    assert [m.sent for m in w.store.snapshot().rows(s.OUTBOX)] == [False]

    def refused(u: Unit, config: Config) -> list[str]:
        raise StoreError("the store refused the sweep")

    monkeypatch.setattr(written_ahead, "outbox", refused)
    report = w.service.run_jobs()
    assert all(m.sent for m in w.store.snapshot().rows(s.OUTBOX))
    assert [m.kind for m in w.notifier.delivered.values()] == ["order_paid"]
    assert report.failed == ("outbox",)
    health = w.store.snapshot().get(s.JOB_HEALTH, "outbox")
    assert health is not None and health.failures == 1
    assert health.last_error == "StoreError(store_error)"
