"""A refund that fails always reaches someone (issue 7, item 2).

Every refund that fails, while pending or after it succeeded, or that the provider refuses
outright, queues a ``refund_failed_<refund id>`` notification for the shop and raises a
``refund_failed`` alert. The automatic refund of an out-of-stock order is retried with a new
key up to ``AUTO_REFUND_ATTEMPTS`` times, then its alert stays open. An alert is resolved
once the payment's money is fully returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from tests.support import (
    SESSION,
    SESSION_2,
    converged,
    deliver_webhooks,
    make_shop,
    safe,
)

from paycore import errors as err
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.refund_failures import AUTO_REFUND_ATTEMPTS
from paycore.money import Money
from paycore.ports import RefundView
from paycore.records import Alert, Refund
from paycore.status import OrderStatus, RefundStatus
from paycore_adapters.memory import Wiring

MINUTE = 60_000


def out_of_stock_order(w: Wiring, product: str = "p_mug") -> tuple[str, str]:
    """A processing one-mug payment whose stock went back on sale and was sold to someone
    else; the bank then pays it: the order is out of stock and refunded automatically."""
    w.service.config = attrs.evolve(w.service.config, processing_hold_ms=60 * MINUTE)
    w.service.engine.config = w.service.config
    res = w.service.create_payment_intent(SESSION, [CartItem(product, 1)])
    assert w.service.confirm_payment(res.payment_id, "pm_successDelayed_de").status == "processing"
    deliver_webhooks(w)
    w.clock.advance(w.service.config.reservation_ttl_ms + 60 * MINUTE)
    w.service.run_janitor()
    other = w.service.create_payment_intent(SESSION_2, [CartItem(product, 1)])
    w.service.confirm_payment(other.payment_id, "pm_card_visa")
    intent = w.service.payment(res.payment_id).provider_intent_id
    assert intent is not None
    w.provider.settle(intent)
    deliver_webhooks(w)
    order = w.service.order(res.order_id)
    assert order is not None and order.status is OrderStatus.OUT_OF_STOCK
    return res.order_id, res.payment_id


def paid(w: Wiring, qty: int = 2) -> tuple[str, str]:
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", qty)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    return res.order_id, res.payment_id


def refunds(w: Wiring, payment_id: str) -> list[Refund]:
    return sorted(w.service.refunds_of(payment_id), key=lambda r: r.id)


def alerts(w: Wiring) -> dict[str, Alert]:
    """subject -> the recorded ``refund_failed`` alert."""
    return {a.subject: a for a in w.store.snapshot().rows(s.ALERTS) if a.kind == "refund_failed"}


def told(w: Wiring, refund: Refund) -> Mapping[str, Any] | None:
    msg = w.store.snapshot().get(s.OUTBOX, f"{refund.order_id}:refund_failed_{refund.id}")
    return None if msg is None else msg.payload


def bank_fails_pending_refunds(w: Wiring) -> None:
    w.provider.refunds_settle_immediately = False


def fail_pending(w: Wiring, refund: Refund) -> None:
    """The bank declines a pending refund; its webhook arrives."""
    assert refund.provider_refund_id is not None
    w.provider.settle_refund(refund.provider_refund_id, success=False)
    deliver_webhooks(w)


def provider_refuses_refunds(w: Wiring) -> list[str]:
    """Every refund request is refused outright (a definite error); returns the keys sent."""
    keys: list[str] = []

    def create_refund(intent_id: str, **kw: Any) -> RefundView:
        keys.append(kw["idempotency_key"])
        raise err.ProviderInvalidRequest("This charge cannot be refunded (card closed).")

    w.provider.create_refund = create_refund  # type: ignore[method-assign,assignment]
    return keys


class TestAutomaticRefundThatFails:
    def test_failing_while_pending_is_retried_with_a_new_key_and_alerted(self) -> None:
        """The out-of-stock refund is declined while pending: the shop is told, an alert is
        raised, and a second refund of the same amount starts under ``out-of-stock#2``."""
        w = make_shop(stock=1)
        bank_fails_pending_refunds(w)
        oid, pid = out_of_stock_order(w)
        w.service.run_recovery()
        (first,) = refunds(w, pid)
        assert first.status is RefundStatus.PENDING and first.automatic
        fail_pending(w, first)
        safe(w)
        first, second = refunds(w, pid)
        assert first.status is RefundStatus.FAILED
        assert (second.idempotency_key, second.status, second.automatic) == (
            "out-of-stock#2",
            RefundStatus.PENDING,
            True,
        )
        assert second.amount == first.amount
        assert (second.reason, second.requested_amount) == (first.reason, 1250)
        assert told(w, first) == {"amount": 1250}
        alert = alerts(w)[first.id]
        assert alert.open and dict(alert.fields) == {
            "order_id": oid,
            "payment_id": pid,
            "refund_id": first.id,
            "amount": 1250,
            "automatic": True,
        }
        assert alert.message == (
            f"automatic refund {first.id} of 1250 EUR for order {oid} (payment {pid}) failed; "
            f"retrying as {second.id} (attempt 2 of 3); the alert closes once the money is "
            "returned"
        )
        assert [a.kind for a in w.alerts.raised] == ["refund_failed"]
        # The retry goes through: the money is back and the alert is closed.
        w.service.run_recovery()
        second = refunds(w, pid)[1]
        assert second.provider_refund_id is not None
        w.provider.settle_refund(second.provider_refund_id)
        deliver_webhooks(w)
        assert refunds(w, pid)[1].status is RefundStatus.SUCCEEDED
        assert not alerts(w)[first.id].open
        assert alerts(w)[first.id].resolution is not None
        converged(w)

    def test_a_refund_of_the_smallest_charge_that_fails_is_retried_too(self) -> None:
        """The smallest amount a payment can take (EUR 0.50, the provider's minimum)
        still goes back: its failed automatic refund starts its retry like any other."""
        w = make_shop(stock=1)
        w.service.add_product("p_cent", "s1", "SKU-CENT", "Sticker", Money(50, "EUR"))
        w.service.restock("s1", "SKU-CENT", 1)
        bank_fails_pending_refunds(w)
        _, pid = out_of_stock_order(w, "p_cent")
        w.service.run_recovery()
        (first,) = refunds(w, pid)
        fail_pending(w, first)
        first, second = refunds(w, pid)
        assert first.status is RefundStatus.FAILED
        assert (second.idempotency_key, second.amount.amount) == ("out-of-stock#2", 50)

    def test_refused_every_time_is_escalated_after_the_last_attempt(self) -> None:
        """The provider refuses every refund: exactly AUTO_REFUND_ATTEMPTS are tried, each
        with its own key, then the alerts stay open and nothing else is tried."""
        w = make_shop(stock=1)
        keys = provider_refuses_refunds(w)
        _, pid = out_of_stock_order(w)
        for _ in range(AUTO_REFUND_ATTEMPTS + 2):
            w.service.run_recovery()
            safe(w)
        rows = refunds(w, pid)
        assert len(rows) == AUTO_REFUND_ATTEMPTS == 3
        assert [r.idempotency_key for r in rows] == [
            "out-of-stock",
            "out-of-stock#2",
            "out-of-stock#3",
        ]
        assert all(r.status is RefundStatus.FAILED and r.automatic for r in rows)
        assert len(keys) == 3 and len(set(keys)) == 3
        assert all(alerts(w)[r.id].open for r in rows)
        assert told(w, rows[-1]) == {"amount": 1250}
        assert alerts(w)[rows[-1].id].message == (
            f"automatic refund {rows[-1].id} of 1250 EUR for order {rows[-1].order_id} "
            f"(payment {pid}) failed after 3 attempts; the customer's money needs a human: "
            "contact the customer, or refund the payment with create_refund and a new key"
        )
        assert w.service.payment(pid).amount_refunded == 0
        assert not w.violations("safety")

    def test_failing_after_success_is_retried(self) -> None:
        """The bank reverses a succeeded automatic refund: it is retried with a new key."""
        w = make_shop(stock=1)
        _, pid = out_of_stock_order(w)
        w.service.run_recovery()
        (first,) = refunds(w, pid)
        assert first.status is RefundStatus.SUCCEEDED and first.provider_refund_id
        w.provider.fail_refund(first.provider_refund_id)
        deliver_webhooks(w)
        safe(w)
        first, second = refunds(w, pid)
        assert first.status is RefundStatus.FAILED
        assert alerts(w)[first.id].open and told(w, first) == {"amount": 1250}
        assert second.idempotency_key == "out-of-stock#2"
        w.service.run_recovery()
        assert refunds(w, pid)[1].status is RefundStatus.SUCCEEDED
        assert w.service.payment(pid).amount_refunded == 1250
        assert not alerts(w)[first.id].open
        converged(w)


class TestManualRefundThatFails:
    def test_failing_while_pending_notifies_and_alerts(self) -> None:
        """A support refund declined while pending: the shop is told and an alert names it."""
        w = make_shop()
        bank_fails_pending_refunds(w)
        oid, pid = paid(w)
        res = w.service.create_refund(pid, 1000, idempotency_key="rma-1")
        assert res.status == "pending"
        (rf,) = refunds(w, pid)
        fail_pending(w, rf)
        safe(w)
        (rf,) = refunds(w, pid)
        assert rf.status is RefundStatus.FAILED
        assert told(w, rf) == {"amount": 1000}
        alert = alerts(w)[rf.id]
        assert alert.open and alert.fields["automatic"] is False
        assert alert.fields["order_id"] == oid and alert.fields["amount"] == 1000
        assert alert.message == (
            f"refund {rf.id} of 1000 EUR for order {oid} (payment {pid}) failed; the customer "
            "has not got this money back: check with the customer and refund again with "
            "create_refund and a new key"
        )
        assert len(refunds(w, pid)) == 1  # a support refund is not retried on its own

    def test_canceled_while_waiting_for_the_customer_notifies_and_alerts(self) -> None:
        """The bank needs the customer for a pending refund and the shop cancels it from
        its dashboard: paycore records it canceled, tells the shop, alerts, and the amount
        can be refunded again."""
        w = make_shop()
        bank_fails_pending_refunds(w)
        oid, pid = paid(w)
        w.service.create_refund(pid, 1000, idempotency_key="rma-1")
        (rf,) = refunds(w, pid)
        assert rf.provider_refund_id is not None
        w.provider.require_refund_action(rf.provider_refund_id)
        deliver_webhooks(w)
        assert refunds(w, pid)[0].status is RefundStatus.PENDING  # still on its way
        w.provider.cancel_refund(rf.provider_refund_id)
        deliver_webhooks(w)
        safe(w)
        (rf,) = refunds(w, pid)
        assert rf.status is RefundStatus.CANCELED
        assert told(w, rf) == {"amount": 1000}
        assert alerts(w)[rf.id].open and alerts(w)[rf.id].fields["order_id"] == oid
        assert w.service.payment(pid).amount_refunded == 0
        assert w.service.create_refund(pid, 1000, idempotency_key="rma-2").status == "pending"

    def test_refused_by_the_provider_notifies_and_alerts(self) -> None:
        """The provider refuses a support refund: the caller gets the error, and the shop
        still hears of it through its notification and an alert."""
        w = make_shop()
        _, pid = paid(w)
        provider_refuses_refunds(w)
        try:
            w.service.create_refund(pid, 500, idempotency_key="rma-2")
        except err.ProviderInvalidRequest:
            pass
        else:
            raise AssertionError("the refused refund was reported as a success")
        (rf,) = refunds(w, pid)
        assert rf.status is RefundStatus.FAILED
        assert told(w, rf) == {"amount": 500}
        assert alerts(w)[rf.id].open
        safe(w)

    def test_full_refund_failing_stays_alerted_until_the_money_is_returned(self) -> None:
        """A full refund reversed by the bank keeps its alert open (the order still says
        refunded) until a new refund returns the money in full."""
        w = make_shop()
        _, pid = paid(w)
        w.service.create_refund(pid, idempotency_key="all")
        (rf,) = refunds(w, pid)
        assert rf.provider_refund_id is not None
        w.provider.fail_refund(rf.provider_refund_id)
        deliver_webhooks(w)
        safe(w)
        assert alerts(w)[rf.id].open
        w.service.create_refund(pid, 1000, idempotency_key="part-again")
        assert alerts(w)[rf.id].open  # 1500 still not returned
        w.service.create_refund(pid, idempotency_key="rest-again")
        assert not alerts(w)[rf.id].open
        converged(w)
