"""A step reads its flow inside the transaction that applies it: no read transaction per step."""

from __future__ import annotations

from tests.support import SESSION, make_shop

from paycore.flows.checkout import CartItem


def commits(w: object) -> int:
    return int(w.store.stats["commits"])  # type: ignore[attr-defined]


class TestRoundTrips:
    def test_a_checkout_costs_its_first_transaction_its_applies_and_one_read(self) -> None:
        """begin, apply can_charge, apply create_intent, and the payment read for the
        result: four store transactions, none of them a flow read of its own."""
        w = make_shop()
        before = commits(w)
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        assert commits(w) - before == 4

    def test_a_confirm_costs_its_first_transaction_its_apply_and_one_read(self) -> None:
        """begin_confirm, apply confirm_intent, the order_paid notification (read, then
        marked sent once the notifier took it) and the payment read for the result."""
        w = make_shop()
        res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        before = commits(w)
        w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
        assert commits(w) - before == 5

    def test_a_webhook_costs_its_inbox_transaction_and_its_apply(self) -> None:
        """The inbox transaction starts the flow; the fetch's answer is applied in one more."""
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        event = w.provider.take_events()[0]
        before = commits(w)
        w.service.handle_webhook(event)
        assert commits(w) - before == 2
