"""Config.notify_in_requests=False: no call sends a notification in its own thread (a
webhook delivery's included, where a notifier that hangs stalls the endpoint); the
outbox job sends what they queued, once."""

from __future__ import annotations

from tests.support import SESSION, make_shop, with_config

from paycore.flows.checkout import CartItem
from paycore.flows.webhooks import ACTED_ON


def test_requests_leave_every_send_to_the_outbox_job() -> None:
    w = with_config(make_shop(), notify_in_requests=False)
    r = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    for event in w.provider.take_events():
        if event.type in ACTED_ON:
            w.service.handle_webhook(event)
    assert (w.notifier.attempts, list(w.notifier.delivered)) == (0, [])  # no request sent
    w.service.run_jobs()
    assert list(w.notifier.delivered) == [f"{r.order_id}:order_paid"]
    w.service.run_jobs()
    assert w.notifier.attempts == 1  # once


def test_by_default_the_request_sends_what_it_queued() -> None:
    """The switch is what changes it: with the default, the confirm itself sends."""
    w = make_shop()
    r = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    assert list(w.notifier.delivered) == [f"{r.order_id}:order_paid"]
