"""The service sends the notifications a call queued as soon as the call returns."""

from __future__ import annotations

from tests.support import SESSION, make_shop

from paycore.flows.checkout import CartItem


def test_a_paid_order_is_announced_when_confirm_returns_not_at_the_next_job() -> None:
    """The shop learns of a payment with the answer, not minutes later from the outbox job."""
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    assert w.notifier.delivered == {}  # nothing to tell yet
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    assert [m.kind for m in w.notifier.delivered.values()] == ["order_paid"]
    assert w.service.engine.outbox_pending is False


def test_a_call_that_queued_nothing_sends_nothing() -> None:
    """No notification is queued by a checkout, so the notifier is not called."""
    w = make_shop()
    w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    assert w.notifier.attempts == 0
