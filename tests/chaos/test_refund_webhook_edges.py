"""Refund webhooks that record nothing, and still end: a refund of a payment paycore has
not yet seen succeed, and a refund made outside paycore that was already reversed when
its webhook came."""

from __future__ import annotations

from tests.support import deliver_webhooks, make_shop

from paycore import WebhookOutcome
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.status import FlowStatus, PaymentStatus
from paycore_adapters.memory import Wiring


def webhook_flows(w: Wiring) -> list[FlowStatus]:
    return [f.status for f in w.store.snapshot().rows(s.FLOWS) if f.kind == "webhook"]


def refund_on(w: Wiring, payment_id: str, amount: int) -> str:
    intent = w.service.payment(payment_id).provider_intent_id
    assert intent is not None
    view = w.provider.create_refund(
        intent, amount=amount, reason=None, metadata={}, idempotency_key="dash-1"
    )
    return view.id


def test_a_refund_of_a_payment_not_yet_seen_succeeding_is_left_to_the_reconciler() -> None:
    """The payment's success webhook was lost and the dashboard refunded it: the refund's
    webhook ends without recording anything (the payment is still processing here); the
    reconciler then syncs the payment and its scan records the refund."""
    w = make_shop()
    res = w.service.create_payment_intent("cs_test_refundedge1", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_successDelayed_de")
    intent = w.service.payment(res.payment_id).provider_intent_id
    assert intent is not None
    w.provider.settle(intent)
    w.provider.take_events()  # the success is lost
    refund_on(w, res.payment_id, 500)
    # refund.created, then charge.refunded: the charge's own event is acknowledged as ignored
    assert deliver_webhooks(w) == [
        WebhookOutcome.PROCESSED,
        WebhookOutcome.UNSUPPORTED_OBJECT_KIND,
    ]
    assert webhook_flows(w) == [FlowStatus.SUCCEEDED]
    assert w.service.refunds_of(res.payment_id) == []
    assert w.service.payment(res.payment_id).status is PaymentStatus.PROCESSING
    w.service.run_reconciler()
    assert w.service.payment(res.payment_id).status is PaymentStatus.SUCCEEDED
    assert [(r.amount.amount, r.external) for r in w.service.refunds_of(res.payment_id)] == [
        (500, True)
    ]


def test_an_outside_refund_already_reversed_when_first_seen_is_not_recorded() -> None:
    """A dashboard refund the bank reversed before paycore heard of it moved no money:
    each of its webhooks ends, nothing is recorded and no alert is raised."""
    w = make_shop()
    res = w.service.create_payment_intent("cs_test_refundedge2", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    deliver_webhooks(w)
    flows_before = len(webhook_flows(w))
    w.provider.fail_refund(refund_on(w, res.payment_id, 500))
    outcomes = deliver_webhooks(w)
    # charge.refunded is about the charge: acknowledged as ignored, with no flow
    assert outcomes.count(WebhookOutcome.UNSUPPORTED_OBJECT_KIND) == 1
    processed = [o for o in outcomes if o is not WebhookOutcome.UNSUPPORTED_OBJECT_KIND]
    assert processed and set(processed) == {WebhookOutcome.PROCESSED}
    assert webhook_flows(w)[flows_before:] == [FlowStatus.SUCCEEDED] * len(processed)
    assert w.service.refunds_of(res.payment_id) == []
    assert "external_refund" not in [a.kind for a in w.alerts.raised]
    assert w.service.payment(res.payment_id).amount_refunded == 0
