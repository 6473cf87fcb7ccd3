"""A step reads its flow inside the transaction that applies it: no read transaction per step."""

from __future__ import annotations

from tests.support import SESSION, make_shop

from paycore import schema as s
from paycore.flows.checkout import CartItem


def commits(w: object) -> int:
    return int(w.store.stats["commits"])  # type: ignore[attr-defined]


class TestRoundTrips:
    def test_a_checkout_costs_its_first_transaction_and_its_apply(self) -> None:
        """begin, and apply create_intent (the seller check's yes is never recorded: the
        create is made at once): two store transactions, no flow read of its own, and
        no read for the answer (the apply hands the payment back as it wrote it)."""
        w = make_shop()
        before = commits(w)
        res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        assert commits(w) - before == 2
        payment = w.service.payment(res.payment_id)
        assert (res.status, res.client_secret) == ("open", payment.client_secret)
        assert res.client_secret is not None

    def test_a_confirm_costs_its_first_transaction_its_apply_and_the_sent_mark(self) -> None:
        """begin_confirm, apply confirm_intent, and the order_paid notification marked
        sent once the notifier took it (sent as the apply committed it, not read again);
        the answer is the payment as the apply wrote it, not read again either."""
        w = make_shop()
        res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        before = commits(w)
        paid = w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
        assert commits(w) - before == 3
        assert paid.status == w.service.payment(res.payment_id).status.value == "succeeded"

    def test_a_replayed_checkout_reads_its_payment_for_the_answer(self) -> None:
        """A checkout sent again finds its flow finished: nothing hands the payment back,
        so the answer reads it (one more transaction), and it is the same answer."""
        w = make_shop()
        first = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        before = commits(w)
        again = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        assert commits(w) - before == 2
        assert again.replayed and (again.payment_id, again.client_secret) == (
            first.payment_id,
            first.client_secret,
        )

    def test_a_webhook_costs_its_inbox_transaction_and_its_apply(self) -> None:
        """The inbox transaction starts the flow; the fetch's answer is applied in one more."""
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        event = w.provider.take_events()[0]
        before = commits(w)
        w.service.handle_webhook(event)
        assert commits(w) - before == 2

    def test_a_webhook_about_a_final_payment_costs_its_inbox_transaction_only(self) -> None:
        """After the customer's confirmation the payment is final: the provider's events
        about its intent are taken in with no flow and no provider call, and their
        redeliveries are duplicates."""
        w = make_shop()
        res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
        events, charge = w.provider.take_events()[:2], w.provider.all_events[2]
        assert [e.type for e in events] == ["payment_intent.created", "payment_intent.succeeded"]
        assert charge.type == "charge.succeeded"
        flows = len(w.store.snapshot().rows(s.FLOWS))
        calls = sum(w.provider.calls.values())
        for event in events:
            before = commits(w)
            assert w.service.handle_webhook(event) == "processed"
            assert commits(w) - before == 1
        assert len(w.store.snapshot().rows(s.FLOWS)) == flows
        assert sum(w.provider.calls.values()) == calls
        inbox = {e.event_id: e.flow_id for e in w.store.snapshot().rows(s.INBOX)}
        assert {inbox[e.id] for e in events} == {""}
        assert [w.service.handle_webhook(e) for e in events] == ["duplicate", "duplicate"]
        before = commits(w)
        assert w.service.handle_webhook(charge) == "ignored:unsupported_object_kind"
        assert commits(w) - before == 1  # its inbox row only
        assert len(w.store.snapshot().rows(s.FLOWS)) == flows
        assert sum(w.provider.calls.values()) == calls
        assert w.service.payment(res.payment_id).status.value == "succeeded"
