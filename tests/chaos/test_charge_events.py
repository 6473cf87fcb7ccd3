"""Stripe's charge.* events, as the fake sends them for paycore's flows: paycore
acknowledges the ones about a charge as ignored and changes nothing, acts on
``charge.refund.updated`` (its object is a refund), and every event goes through the
signed endpoint with its ``created`` in seconds."""

from __future__ import annotations

from tests.support import make_shop

from paycore import WebhookOutcome
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.webhooks import ACTED_ON
from paycore.ports import ProviderEvent
from paycore.status import RefundStatus
from paycore_adapters import signing
from paycore_adapters.memory import Wiring

TABLES = (s.ORDERS, s.PAYMENTS, s.REFUNDS, s.RESERVATIONS, s.STOCK, s.OUTBOX, s.FLOWS)


def business(w: Wiring) -> list[object]:
    snap = w.store.snapshot()
    return [snap.rows(t) for t in TABLES]


def through_the_endpoint(w: Wiring, event: ProviderEvent) -> WebhookOutcome:
    """Sign, verify and parse the event as an endpoint would, then hand it to paycore."""
    now_s = w.clock.now() // 1000
    payload = signing.to_payload(event)
    header = signing.sign(payload, "whsec_test", now_s)
    return w.service.handle_webhook(signing.receive(payload, header, "whsec_test", now_s))


def test_a_payment_and_its_refund_send_charge_events_that_paycore_acknowledges() -> None:
    """Pay, refund part (held pending), settle it: every event answers 2xx; the events about
    the charge change nothing and ask the provider nothing; the refund's two events about
    its settling move it to succeeded."""
    w = make_shop()
    w.provider.refunds_settle_immediately = False
    r = w.service.create_payment_intent("cs_test_charges0001", [CartItem("p_mug", 2)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    refund = w.service.create_refund(r.payment_id, 500, idempotency_key="rk-charges-1")
    (view,) = w.provider.refunds()
    w.provider.settle_refund(view.id)
    events = w.provider.take_events()
    types = [e.type for e in events]
    for sent in ("charge.succeeded", "charge.refunded", "charge.refund.updated"):
        assert sent in types
    assert all(abs(e.created - w.clock.now() // 1000) <= 1 for e in events)  # seconds
    for event in events:
        before, calls = business(w), sum(w.provider.calls.values())
        outcome = through_the_endpoint(w, event)
        if event.object_kind == "charge":
            assert event.type not in ACTED_ON
            assert outcome is WebhookOutcome.UNSUPPORTED_OBJECT_KIND and outcome.ignored
            assert business(w) == before
            assert sum(w.provider.calls.values()) == calls
            assert through_the_endpoint(w, event) is WebhookOutcome.DUPLICATE
        else:
            assert event.type in ACTED_ON
            assert not outcome.ignored
    assert w.service.refunds_of(r.payment_id)[0].status is RefundStatus.SUCCEEDED
    assert refund.refund_id == w.service.refunds_of(r.payment_id)[0].id
    assert not w.violations()
