"""What a refused refund tells its caller and the operator.

- A payment that cannot be refunded is refused with a message that fits its status: a
  canceled payment took no money, and a processing one (a bank debit not settled yet)
  can be neither refunded nor canceled now: wait until it settles.
- A refund the provider refuses because less is left than asked (a refund made in the
  dashboard whose webhook is not in yet) does not tell the operator to refund again:
  the refund flow lists the payment's refunds, records the ones made outside paycore,
  and the caller is told they took the money; a refusal the list does not explain fails
  with an alert that says to look at the provider's refunds first.
"""

from __future__ import annotations

import pytest
from tests.support import SESSION, converged, deliver_webhooks, make_shop

from paycore import errors as err
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.status import OrderStatus, RefundStatus
from paycore_adapters.memory import Wiring


def checkout(w: Wiring, qty: int = 2) -> str:
    return w.service.create_payment_intent(SESSION, [CartItem("p_mug", qty)]).payment_id


def test_a_canceled_payment_is_not_told_to_cancel() -> None:
    w = make_shop()
    pid = checkout(w)
    w.service.cancel_payment(pid)
    with pytest.raises(err.PaymentNotRefundable) as caught:
        w.service.create_refund(pid, None, None, "rma-1")
    assert caught.value.message == (
        f"payment {pid} is canceled: it took no money, so there is nothing to refund"
        " (only a succeeded payment can be)"
    )
    assert caught.value.fields == {"payment_id": pid, "status": "canceled"}


def test_a_processing_payment_is_told_to_wait() -> None:
    w = make_shop()
    pid = checkout(w)
    assert w.service.confirm_payment(pid, "pm_successDelayed_de").status == "processing"
    with pytest.raises(err.PaymentNotRefundable) as caught:
        w.service.create_refund(pid, None, None, "rma-1")
    assert caught.value.message == (
        f"payment {pid} is processing: the bank has not settled it yet, and it can be "
        "neither refunded nor canceled until it does; refund it once it succeeded"
    )
    with pytest.raises(err.PaymentNotCancelable):  # as the message says
        w.service.cancel_payment(pid)


def test_an_open_payment_is_still_told_to_cancel() -> None:
    w = make_shop()
    pid = checkout(w)
    with pytest.raises(err.PaymentNotRefundable) as caught:
        w.service.create_refund(pid, None, None, "rma-1")
    assert caught.value.message == (
        f"payment {pid} is open; only a succeeded payment can be refunded (cancel it instead)"
    )


def dashboard_refund(w: Wiring, pid: str, amount: int) -> str:
    intent = w.service.payment(pid).provider_intent_id
    assert intent is not None
    view = w.provider.create_refund(
        intent, amount=amount, reason=None, metadata={}, idempotency_key="dash-1"
    )
    return view.id


@pytest.mark.parametrize("amount", [2000, 2500])
def test_a_refund_refused_for_a_dashboard_refund_names_it_and_says_not_to_refund(
    amount: int,
) -> None:
    """The dashboard refunded ``amount`` of 2500, its webhook not in yet; paycore's refund
    of 1000 is refused for what is left (500, or nothing). The dashboard refund is recorded
    at once (the flow listed the payment's refunds), and the caller is told what happened
    (RefundExceedsRefundable naming it): no refund_failed alert says to refund again, and
    none is raised at all (tests/chaos/test_refund_refunded_elsewhere.py says more)."""
    w = make_shop()
    pid = checkout(w)
    assert w.service.confirm_payment(pid, "pm_card_visa").status == "succeeded"
    deliver_webhooks(w)
    outside = dashboard_refund(w, pid, amount)
    with pytest.raises(err.RefundExceedsRefundable) as caught:
        w.service.create_refund(pid, 1000, None, "rma-1")
    assert outside in caught.value.message and "outside paycore" in caught.value.message
    assert caught.value.fields["refundable"] == 2500 - amount
    refunds = {r.id: r for r in w.service.refunds_of(pid)}
    assert refunds["rf_000001"].status is RefundStatus.FAILED
    (external,) = [r for r in refunds.values() if r.external]
    assert (external.provider_refund_id, external.amount.amount) == (outside, amount)
    payment = w.service.payment(pid)
    assert payment.amount_refunded == amount
    assert w.store.snapshot().get(s.ALERTS, "refund_failed:rf_000001") is None
    deliver_webhooks(w)  # the dashboard refund's webhook: already recorded
    assert len(w.service.refunds_of(pid)) == 2
    order = w.service.order(payment.order_id)
    assert order is not None
    want = OrderStatus.REFUNDED if amount == 2500 else OrderStatus.PARTIALLY_REFUNDED
    assert order.status is want
    converged(w)


def test_a_refusal_for_what_is_left_that_the_list_does_not_explain_fails_with_its_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider refuses a refund for what is left but lists no refund paycore does not
    know (its books still leave enough): the refund fails as any refused refund does, and
    its alert says to look at the provider's refunds before refunding anything more."""
    w = make_shop()
    pid = checkout(w)
    assert w.service.confirm_payment(pid, "pm_card_visa").status == "succeeded"
    deliver_webhooks(w)

    def refuse(*_: object, **__: object) -> None:
        raise err.ProviderInvalidRequest("Refund amount is too large", param="amount")

    monkeypatch.setattr(w.provider, "create_refund", refuse)
    with pytest.raises(err.ProviderInvalidRequest):
        w.service.create_refund(pid, 1000, None, "rma-1")
    (refund,) = w.service.refunds_of(pid)
    assert refund.status is RefundStatus.FAILED
    alert = w.store.snapshot().get(s.ALERTS, "refund_failed:rf_000001")
    assert alert is not None and alert.open
    assert "check the payment's refunds at the provider" in alert.message
    assert w.store.snapshot().get(s.OUTBOX, f"{refund.order_id}:refund_failed_rf_000001")
