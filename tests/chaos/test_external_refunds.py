"""Refunds made outside paycore (issue 7, item 4): the provider's dashboard or a support
tool refunds one of our payments. paycore records the refund, moves the order, alerts,
and the reconciler finds the refund when its webhook is lost."""

from __future__ import annotations

import pytest
from tests.support import deliver_webhooks, make_shop

from paycore import WebhookOutcome, jobs
from paycore import schema as s
from paycore.errors import FlowPending, ProviderUnavailable, RefundExceedsRefundable
from paycore.flows.checkout import CartItem
from paycore.flows.params import REFUND_LANDING_MS
from paycore.ports import RefundView
from paycore.status import OrderStatus, RefundStatus
from paycore_adapters.memory import Wiring

DAY = 24 * 3_600_000


def paid_shop(session: str = "cs_test_external001") -> tuple[Wiring, str]:
    w = make_shop()
    r = w.service.create_payment_intent(session, [CartItem("p_mug", 2)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    deliver_webhooks(w)
    return w, r.payment_id


def dashboard_refund(w: Wiring, payment_id: str, amount: int, key: str = "dash-1") -> RefundView:
    intent = w.service.payment(payment_id).provider_intent_id
    assert intent is not None
    return w.provider.create_refund(
        intent, amount=amount, reason=None, metadata={}, idempotency_key=key
    )


class TestExternalRefundWebhook:
    def test_full_dashboard_refund_is_recorded_and_the_order_refunded(self) -> None:
        """The scenario: the order stayed paid (it could ship) and the invariant stayed broken."""
        w, pid = paid_shop()
        view = dashboard_refund(w, pid, 2500)
        # refund.created, then charge.refunded about the charge (acknowledged as ignored)
        assert deliver_webhooks(w) == [
            WebhookOutcome.PROCESSED,
            WebhookOutcome.UNSUPPORTED_OBJECT_KIND,
        ]
        (refund,) = w.service.refunds_of(pid)
        assert refund.external
        assert refund.idempotency_key == f"external:{view.id}"
        assert (refund.provider_refund_id, refund.amount.amount) == (view.id, 2500)
        assert refund.status is RefundStatus.SUCCEEDED
        payment = w.service.payment(pid)
        assert payment.amount_refunded == 2500
        assert refund.order_id == payment.order_id
        order = w.service.order(payment.order_id)
        assert order is not None and order.status is OrderStatus.REFUNDED
        assert [a.kind for a in w.alerts.raised].count("external_refund") == 1
        alert = w.store.snapshot().get(s.ALERTS, f"external_refund:{view.id}")
        assert alert is not None and alert.open
        (raised,) = [a for a in w.alerts.raised if a.kind == "external_refund"]
        assert raised.message == (
            f"refund {view.id} of 2500 on payment {pid} (order {payment.order_id}) was made "
            f"outside paycore; it is recorded as {refund.id}: check that the order does not "
            "ship and whether the goods came back"
        )
        assert raised.fields == {
            "refund_id": refund.id,
            "provider_refund_id": view.id,
            "payment_id": pid,
            "order_id": payment.order_id,
            "amount": 2500,
        }
        assert not w.violations(), w.violations()

    def test_dashboard_refund_of_the_same_amount_is_not_taken_for_ours(self) -> None:
        """paycore's refund call went unanswered (it never reached the provider) while the
        dashboard refunded the same amount: asking what happened must not adopt the
        dashboard's refund, which carries none of paycore's identity; paycore refunds."""
        w, pid = paid_shop()
        view = dashboard_refund(w, pid, 700)
        lost: list[str] = []

        def unanswered(name: str, phase: str, key: str | None) -> None:
            if name == "create_refund" and phase == "before" and len(lost) < 2:
                lost.append(name)
                raise ProviderUnavailable("injected: no answer")

        w.provider.fault = unanswered
        with pytest.raises(FlowPending):  # the call and its replay unanswered: it lists
            w.service.create_refund(pid, 700, idempotency_key="rma-same")
        assert lost == ["create_refund", "create_refund"]
        w.clock.advance(REFUND_LANDING_MS)
        w.service.run_recovery()  # only the dashboard's refund listed: a new key, after a backoff
        w.clock.advance(w.service.config.backoff_cap_ms)
        w.service.run_recovery()
        ours = next(r for r in w.service.refunds_of(pid) if not r.external)
        assert ours.provider_refund_id is not None and ours.provider_refund_id != view.id
        intent = w.service.payment(pid).provider_intent_id
        assert intent is not None
        listed = w.provider.list_refunds(intent).data
        assert {r.id for r in listed} == {view.id, ours.provider_refund_id}

    def test_the_scan_counts_only_what_it_records(self) -> None:
        """The reconciler's scan reports one refund when the webhook was lost, and none
        for a refund its webhook already recorded."""
        w, pid = paid_shop()
        dashboard_refund(w, pid, 300, key="dash-lost")
        w.provider.take_events()  # the webhook is lost
        assert jobs.find_external_refunds(w.service.engine) == 1
        dashboard_refund(w, pid, 200, key="dash-seen")
        deliver_webhooks(w)
        assert jobs.find_external_refunds(w.service.engine) == 0
        assert sorted(r.amount.amount for r in w.service.refunds_of(pid)) == [200, 300]

    def test_partial_dashboard_refund_leaves_the_rest_refundable(self) -> None:
        """Only what remains can still be refunded through paycore."""
        w, pid = paid_shop()
        dashboard_refund(w, pid, 1000)
        deliver_webhooks(w)
        order = w.service.order(w.service.payment(pid).order_id)
        assert order is not None and order.status is OrderStatus.PARTIALLY_REFUNDED
        try:
            w.service.create_refund(pid, 2000, idempotency_key="rk-too-much")
        except RefundExceedsRefundable as exc:
            assert exc.fields["refundable"] == 1500
        else:
            raise AssertionError("a refund past what the dashboard left was accepted")
        w.service.create_refund(pid, 1500, idempotency_key="rk-rest")
        deliver_webhooks(w)
        assert w.service.payment(pid).amount_refunded == 2500
        assert not w.violations(), w.violations()

    def test_pending_dashboard_refund_is_recorded_then_settles(self) -> None:
        """A pending external refund counts against refundable, then follows the provider."""
        w, pid = paid_shop()
        w.provider.refunds_settle_immediately = False
        view = dashboard_refund(w, pid, 2500)
        deliver_webhooks(w)
        (refund,) = w.service.refunds_of(pid)
        assert refund.status is RefundStatus.PENDING
        w.provider.settle_refund(view.id)
        deliver_webhooks(w)
        (refund,) = w.service.refunds_of(pid)
        assert refund.status is RefundStatus.SUCCEEDED
        assert not w.violations(), w.violations()

    def test_redelivered_webhook_records_the_refund_once(self) -> None:
        w, pid = paid_shop()
        dashboard_refund(w, pid, 700)
        events = w.provider.take_events()
        for ev in events:
            w.service.handle_webhook(ev)
        # The provider may also send the same refund under a new event id.
        for ev in events:
            again = type(ev)(ev.id + "_again", ev.type, ev.created, ev.object_kind, ev.object_id)
            want = WebhookOutcome.PROCESSED
            if ev.object_kind == "charge":  # charge.refunded: about the charge, ignored
                want = WebhookOutcome.UNSUPPORTED_OBJECT_KIND
            assert w.service.handle_webhook(again) == want
        assert [r.amount.amount for r in w.service.refunds_of(pid)] == [700]
        assert w.service.payment(pid).amount_refunded == 700


class TestExternalRefundReconciler:
    def test_lost_webhook_is_made_up_by_the_reconciler(self) -> None:
        """Its webhook never arrives: the reconciler's scan records the refund."""
        w, pid = paid_shop()
        view = dashboard_refund(w, pid, 2500)
        w.provider.take_events()  # lost
        w.clock.advance(3_600_000)
        w.service.run_jobs()
        (refund,) = w.service.refunds_of(pid)
        assert (refund.external, refund.provider_refund_id) == (True, view.id)
        order = w.service.order(w.service.payment(pid).order_id)
        assert order is not None and order.status is OrderStatus.REFUNDED
        assert not w.violations(), w.violations()

    def test_scan_goes_past_one_batch_and_within_the_window(self) -> None:
        """Three batches' worth of payments: every refund is found within a few runs."""
        from paycore.config import Config

        w = make_shop(stock=20)
        small = Config(job_batch=2)
        w.service.engine.config = small
        pids = []
        for i in range(6):
            r = w.service.create_payment_intent(f"cs_test_extscan{i:04d}", [CartItem("p_mug", 1)])
            w.service.confirm_payment(r.payment_id, "pm_card_visa")
            pids.append(r.payment_id)
        deliver_webhooks(w)
        for i, pid in enumerate(pids):
            dashboard_refund(w, pid, 100, key=f"dash-{i}")
        w.provider.take_events()
        for _ in range(3):
            jobs.find_external_refunds(w.service.engine)
        assert all(len(w.service.refunds_of(pid)) == 1 for pid in pids)

    def test_payments_older_than_the_window_are_not_scanned(self) -> None:
        w, pid = paid_shop()
        w.clock.advance(w.service.config.external_refund_window_ms + DAY)
        dashboard_refund(w, pid, 100)
        w.provider.take_events()
        assert jobs.find_external_refunds(w.service.engine) == 0
        assert w.service.refunds_of(pid) == []


class TestInvariants:
    def test_unrecorded_external_refund_breaks_convergence_not_safety(self) -> None:
        """Before paycore has seen it, a dashboard refund is not a safety violation (paycore
        did nothing wrong), but once quiet it must be recorded: refunds-recorded says so."""
        w, pid = paid_shop()
        view = dashboard_refund(w, pid, 1000)
        w.provider.take_events()  # lost
        assert w.violations("safety") == []
        (missing,) = w.violations("convergence")
        assert (missing.invariant, missing.subject) == ("refunds-recorded", view.id)
        w.service.run_reconciler()
        assert w.violations() == []

    def test_paycore_refund_missing_locally_is_still_caught(self) -> None:
        """A refund paycore made (its metadata names it) that the books lost: still caught."""
        w, pid = paid_shop()
        intent = w.service.payment(pid).provider_intent_id
        assert intent is not None
        w.provider.create_refund(
            intent,
            amount=500,
            reason=None,
            metadata={"refund_id": "rf_999999"},
            idempotency_key="ghost",
        )
        bad = w.violations("safety")
        assert [v.invariant for v in bad] == ["provider-refunds-within-captured"]

    def test_scan_racing_the_webhook_records_once_and_does_not_raise(self) -> None:
        """The webhook recorded the refund between the scan's check and its insert: the
        store's unique constraint refuses the second row; the run waits for its retry (a
        failed run of the job, counted by job_health), and nothing is recorded twice."""
        from unittest import mock

        from paycore.flows import external

        w, pid = paid_shop()
        dashboard_refund(w, pid, 300)
        deliver_webhooks(w)
        with mock.patch.object(external, "known", lambda *_: None), pytest.raises(FlowPending):
            jobs.find_external_refunds(w.service.engine)
        assert [r.amount.amount for r in w.service.refunds_of(pid)] == [300]
