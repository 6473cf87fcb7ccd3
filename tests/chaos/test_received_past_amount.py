"""A provider view that received more than its amount is never applied.

Every refund check measures against a payment's ``amount_received``, which
``apply_intent`` takes from the provider. A view whose ``amount_received`` exceeds its
amount (Stripe's overcapture, a faulty provider or emulator) would raise what can be
refunded past what the order cost. It is refused as an intent that is not the
payment's is: an ``intent_mismatch`` alert, and the payment left as it was.
"""

from __future__ import annotations

import attrs
from tests.support import SESSION, deliver_webhooks, make_shop

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.sync import apply_intent
from paycore.ports import IntentView
from paycore.records import Payment
from paycore.status import OrderStatus, PaymentStatus
from paycore.unit import Unit
from paycore_adapters.memory import Wiring

PAY, ORD = "pay_000001", "ord_000001"
MUG = 1250


def processing() -> tuple[Wiring, str]:
    """One mug paid by a bank debit still processing; its intent's id."""
    w = make_shop()
    w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.confirm_payment(PAY, "pm_success_de")
    deliver_webhooks(w)
    payment = w.service.payment(PAY)
    assert payment.status is PaymentStatus.PROCESSING and payment.provider_intent_id
    return w, payment.provider_intent_id


def applied(w: Wiring, view: IntentView) -> Payment:
    def body(u: Unit) -> Payment:
        payment = u.get(s.PAYMENTS, PAY)
        assert payment is not None
        return apply_intent(u, payment, view)

    return w.service.engine.transact(body)  # type: ignore[no-any-return]


def test_a_view_received_past_its_amount_is_refused_and_reported() -> None:
    w, intent = processing()
    settled = w.provider.settle(intent)
    assert (settled.status, settled.amount_received) == ("succeeded", MUG)
    view = attrs.evolve(settled, amount_received=MUG + 1)
    payment = applied(w, view)
    assert (payment.status, payment.amount_received) == (PaymentStatus.PROCESSING, 0)
    order = w.service.order(ORD)
    assert order is not None and order.status is OrderStatus.PENDING
    alert = w.store.snapshot().get(s.ALERTS, f"intent_mismatch:{intent}")
    assert alert is not None and alert.open
    assert alert.fields["payment_id"] == PAY
    assert f"received {MUG + 1}" in alert.message and f"of an amount of {MUG}" in alert.message
    assert w.violations("safety") == []
    # applied again (the reconciler's next pass): the open alert is not written again
    applied(w, view)
    assert w.store.snapshot().get(s.ALERTS, f"intent_mismatch:{intent}") == alert
    # the provider's real view applies as ever
    assert applied(w, settled).status is PaymentStatus.SUCCEEDED


def test_a_view_received_past_the_payments_amount_is_refused() -> None:
    """An intent asking more than its payment (not the payment's intent) that received
    it: the payment's amount bounds what it may record too."""
    w, intent = processing()
    view = attrs.evolve(w.provider.settle(intent), amount=2 * MUG, amount_received=2 * MUG)
    payment = applied(w, view)
    assert (payment.status, payment.amount_received) == (PaymentStatus.PROCESSING, 0)
    assert w.store.snapshot().get(s.ALERTS, f"intent_mismatch:{intent}") is not None


def test_the_webhook_of_such_an_intent_changes_nothing() -> None:
    """The provider's own answer, through the webhook flow: the payment stays
    processing, the order pending, and the safety invariants hold."""
    w, intent = processing()
    w.provider.settle(intent)
    real = w.provider.retrieve_intent

    def inflated(intent_id: str) -> IntentView:
        view = real(intent_id)
        return attrs.evolve(view, amount_received=view.amount * 2)

    w.provider.retrieve_intent = inflated  # type: ignore[method-assign]
    deliver_webhooks(w)
    payment = w.service.payment(PAY)
    assert (payment.status, payment.amount_received) == (PaymentStatus.PROCESSING, 0)
    assert w.store.snapshot().get(s.ALERTS, f"intent_mismatch:{intent}") is not None
    assert w.violations("safety") == []
