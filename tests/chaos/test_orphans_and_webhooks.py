"""Orphan recovery (flows/orphans.py) and webhook handling (flows/webhooks.py), step by step.

An orphan is a provider intent that no local payment records (the reconciler finds it).
It must be canceled while it can be, and refunded exactly what is left if it took money;
while it is processing its case waits and the reconciler reopens it once it settled. Every
decision is recorded on its OrphanCase. Webhooks are
taken once per event id and matched to the local record by the provider's current state.
"""

from __future__ import annotations

import pytest
from tests.support import (
    begin_checkout,
    deliver_webhooks,
    flow_of,
    installation_of,
    made_here,
    make_shop,
    record_refund_calls,
    run,
    step,
)

from paycore import jobs
from paycore import schema as s
from paycore.errors import FlowPending, InvalidInput
from paycore.flows.checkout import CartItem
from paycore.flows.jobflow import is_job
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView, ProviderEvent
from paycore.records import Flow, OrphanCase
from paycore.status import FlowStatus
from paycore_adapters.harness.faults import FaultKind, FaultPlan
from paycore_adapters.memory import Wiring

MINUTE = 60_000


# --- helpers -------------------------------------------------------------------------


def orphan_intent(w: Wiring, method: str | None = None, amount: int = 1250) -> IntentView:
    """An intent this installation made that no payment records (a lost create)."""
    view = w.provider.create_intent(
        CreateIntent(Money(amount, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_x")),
        idempotency_key=f"elsewhere-{len(w.provider.intents())}",
    )
    if method is not None:
        view = w.provider.customer_confirm(view.id, method)
    return view


def start_orphan_flows(w: Wiring) -> list[str]:
    """Run the reconciler's scan only: the orphan flows it starts are not stepped yet."""
    return jobs.reconcile(w.service.engine)


def case_of(w: Wiring, intent_id: str) -> OrphanCase:
    case = w.store.snapshot().get(s.ORPHANS, intent_id)
    assert case is not None
    return case


def arm(w: Wiring, kind: FaultKind, call: str) -> FaultPlan:
    plan = FaultPlan(w.clock.now)
    plan.arm(kind, call)
    w.provider.fault = plan.provider_hook
    return plan


def assert_backed_off(w: Wiring, flow: Flow, attempts: int, error: str) -> None:
    """The flow recorded the error and waits at least the base backoff before retrying."""
    cfg = w.service.config
    assert flow.status is FlowStatus.ACTIVE
    assert flow.attempts == attempts
    assert flow.last_error == error
    delay = flow.next_run_at - w.clock.now()
    base = cfg.backoff_base_ms * 2 ** (attempts - 1)
    assert base <= delay <= base + base // 4


# --- orphans -------------------------------------------------------------------------


class TestOrphanThatTookMoney:
    def test_succeeded_orphan_is_refunded_once_and_its_case_says_so(self) -> None:
        """Money taken by an intent nobody records goes back in full, exactly once."""
        w = make_shop()
        calls = record_refund_calls(w)
        pi = orphan_intent(w, "pm_card_visa")
        started, _ = w.service.run_reconciler()
        assert started == 1
        assert [(r.intent_id, r.amount, r.status) for r in w.provider.refunds()] == [
            (pi.id, 1250, "succeeded")
        ]
        salt = flow_of(w, f"orphan:{pi.id}").data["key_salt"]  # the flow's own random part
        assert calls == [
            {
                "intent_id": pi.id,
                "amount": 1250,
                "reason": "duplicate",
                "metadata": made_here(w, orphan=pi.id),
                "idempotency_key": f"{installation_of(w)}:orphan:{pi.id}:{salt}:refund-1250-0:0",
            }
        ]
        case = case_of(w, pi.id)
        assert (case.action, case.provider_status, case.amount) == ("refunded", "succeeded", 1250)
        flow = flow_of(w, f"orphan:{pi.id}")
        assert flow.status is FlowStatus.SUCCEEDED
        assert flow.result == {"intent_id": pi.id, "status": "succeeded"}
        assert [a.kind for a in w.alerts.raised] == ["orphan_intent"]
        # A second pass finds the case and starts nothing: still one refund.
        w.clock.advance(MINUTE)
        assert w.service.run_reconciler()[0] == 0
        assert len(w.provider.refunds()) == 1
        assert not w.violations(), w.violations()

    def test_lost_refund_answer_is_not_refunded_twice(self) -> None:
        """A refund whose answer was lost is seen by the next look: no second refund call."""
        w = make_shop()
        pi = orphan_intent(w, "pm_card_visa")
        plan = arm(w, FaultKind.RESPONSE_LOST, "create_refund")
        w.service.run_reconciler()
        assert plan.fired[FaultKind.RESPONSE_LOST] == 1
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [(1250, "succeeded")]
        # look, refund (answer lost), look again: the refund is there, nothing is left.
        looks = (w.provider.calls["retrieve_intent"], w.provider.calls["list_refunds"])
        assert (looks, w.provider.calls["create_refund"]) == ((2, 2), 1)
        case = case_of(w, pi.id)
        assert (case.action, case.provider_status) == ("refunded", "succeeded")
        flow = flow_of(w, f"orphan:{pi.id}")
        assert (flow.status, flow.attempts) == (FlowStatus.SUCCEEDED, 0)
        assert flow.result == {"intent_id": pi.id, "status": "succeeded"}
        assert not w.violations(), w.violations()

    def test_refund_that_never_reached_the_provider_is_made_after_looking_again(self) -> None:
        """An ambiguous error is not taken for a refund: the flow looks again and refunds."""
        w = make_shop()
        pi = orphan_intent(w, "pm_card_visa")
        (fid,) = start_orphan_flows(w)
        step(w, fid, 2)  # look -> refund
        plan = arm(w, FaultKind.PROVIDER_DOWN, "create_refund")
        step(w, fid, 2)  # the call fails before the provider -> look again (no backoff)
        assert plan.fired[FaultKind.PROVIDER_DOWN] == 1
        flow = flow_of(w, fid)
        assert (flow.step, flow.attempts, flow.next_run_at) == ("look", 0, w.clock.now())
        assert flow.data["amount"] == 1250
        assert w.provider.refunds() == []
        assert run(w, fid).status is FlowStatus.SUCCEEDED
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [(1250, "succeeded")]
        assert w.provider.calls["create_refund"] == 2
        assert case_of(w, pi.id).action == "refunded"
        assert not w.violations(), w.violations()

    def test_rate_limited_refund_backs_off_at_the_refund_step(self) -> None:
        """A definite, retryable refusal (429) is retried later, with backoff, same step."""
        w = make_shop()
        pi = orphan_intent(w, "pm_card_visa")
        (fid,) = start_orphan_flows(w)
        step(w, fid, 2)  # look -> refund
        arm(w, FaultKind.RATE_LIMITED, "create_refund")
        step(w, fid, 2)
        flow = flow_of(w, fid)
        assert (flow.step, flow.data["amount"]) == ("refund", 1250)
        assert_backed_off(w, flow, 1, "provider_rate_limited")
        assert w.provider.refunds() == []
        assert case_of(w, pi.id).action == "pending"
        w.clock.advance(w.service.config.backoff_cap_ms)
        assert w.service.run_recovery() == (1, 0)
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [(1250, "succeeded")]
        assert w.provider.calls["create_refund"] == 2
        assert case_of(w, pi.id).action == "refunded"
        assert not w.violations(), w.violations()

    def test_refund_refused_because_someone_refunded_it_meanwhile_ends_refunded(self) -> None:
        """A definite refusal of the orphan refund (an operator refunded it in between)
        ends the case as refunded, with no second refund and no retry loop."""
        w = make_shop()
        pi = orphan_intent(w, "pm_card_visa")
        (fid,) = start_orphan_flows(w)
        step(w, fid, 2)  # look -> refund (amount 1250)
        w.provider.create_refund(
            pi.id, amount=1250, reason=None, metadata={}, idempotency_key="dashboard"
        )
        step(w, fid, 2)  # refused: nothing left to refund -> look
        flow = flow_of(w, fid)
        assert (flow.step, flow.attempts, flow.last_error) == ("look", 0, None)
        done = run(w, fid)
        assert done.status is FlowStatus.SUCCEEDED
        assert done.result == {"intent_id": pi.id, "status": "succeeded"}
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [(1250, "succeeded")]
        assert w.provider.calls["create_refund"] == 2  # the operator's, and the refused one
        case = case_of(w, pi.id)
        assert (case.action, case.provider_status) == ("refunded", "succeeded")
        assert not w.violations(), w.violations()

    def test_orphan_with_one_cent_left_gets_that_cent_refunded(self) -> None:
        """The smallest rest is still money captured: exactly 1 minor unit is refunded."""
        w = make_shop()
        pi = orphan_intent(w, "pm_card_visa")
        w.provider.create_refund(
            pi.id, amount=1249, reason=None, metadata={}, idempotency_key="elsewhere-refund"
        )
        w.service.run_reconciler()
        assert [r.amount for r in w.provider.refunds()] == [1249, 1]
        assert case_of(w, pi.id).action == "refunded"
        assert not w.violations("safety"), w.violations("safety")

    def test_partly_refunded_orphan_gets_the_rest_refunded(self) -> None:
        """An orphan someone already refunded in part ends with nothing captured."""
        w = make_shop()
        calls = record_refund_calls(w)
        pi = orphan_intent(w, "pm_card_visa")
        w.provider.create_refund(
            pi.id, amount=500, reason=None, metadata={}, idempotency_key="elsewhere-refund"
        )
        w.service.run_reconciler()
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [
            (500, "succeeded"),
            (750, "succeeded"),
        ]
        assert [c["amount"] for c in calls] == [500, 750]
        case = case_of(w, pi.id)
        assert (case.action, case.provider_status) == ("refunded", "succeeded")
        flow = flow_of(w, f"orphan:{pi.id}")
        assert (flow.status, flow.attempts, flow.data["amount"]) == (FlowStatus.SUCCEEDED, 0, 750)
        assert not w.violations("safety"), w.violations("safety")

    def test_partial_refund_still_pending_counts_as_refunded(self) -> None:
        """A pending refund holds its amount: only the rest is refunded, not the pending part."""
        w = make_shop()
        calls = record_refund_calls(w)
        w.provider.refunds_settle_immediately = False
        pi = orphan_intent(w, "pm_card_visa")
        w.provider.create_refund(
            pi.id, amount=500, reason=None, metadata={}, idempotency_key="elsewhere-refund"
        )
        w.service.run_reconciler()
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [
            (500, "pending"),
            (750, "pending"),
        ]
        assert [c["amount"] for c in calls] == [500, 750]
        case = case_of(w, pi.id)
        assert (case.action, case.provider_status) == ("waiting", "succeeded")
        flow = flow_of(w, f"orphan:{pi.id}")
        assert (flow.status, flow.attempts) == (FlowStatus.SUCCEEDED, 0)
        for r in w.provider.refunds():
            w.provider.settle_refund(r.id)
        w.clock.advance(MINUTE)
        assert w.service.run_reconciler()[0] == 1  # the case is looked at again, once
        assert flow_of(w, f"orphan:{pi.id}:2").status is FlowStatus.SUCCEEDED
        assert case_of(w, pi.id).action == "refunded"
        assert [c["amount"] for c in calls] == [500, 750]
        assert sum(r.amount for r in w.provider.refunds() if r.status == "succeeded") == 1250
        assert len(calls) == 2
        assert not w.violations("safety"), w.violations("safety")

    def test_refunds_that_failed_do_not_count(self) -> None:
        """A failed refund gave the money back to the shop: the orphan is refunded in full."""
        w = make_shop()
        w.provider.refunds_settle_immediately = False
        pi = orphan_intent(w, "pm_card_visa")
        failed = w.provider.create_refund(
            pi.id, amount=500, reason=None, metadata={}, idempotency_key="elsewhere-refund"
        )
        w.provider.settle_refund(failed.id, success=False)
        w.provider.refunds_settle_immediately = True
        w.service.run_reconciler()
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [
            (500, "failed"),
            (1250, "succeeded"),
        ]
        assert case_of(w, pi.id).action == "refunded"
        assert not w.violations("safety"), w.violations("safety")

    def test_own_refund_failing_before_the_next_look_is_refunded_anew(self) -> None:
        """The flow's refund fails before it looks again: a new refund is made, no spinning."""
        w = make_shop()
        w.provider.refunds_settle_immediately = False
        pi = orphan_intent(w, "pm_card_visa")
        (fid,) = start_orphan_flows(w)
        step(w, fid, 4)  # look -> refund; refund (pending) -> look
        (first,) = w.provider.refunds()
        w.provider.settle_refund(first.id, success=False)
        w.provider.refunds_settle_immediately = True
        for _ in range(3):
            w.clock.advance(w.service.config.backoff_cap_ms)
            w.service.run_recovery()
        assert w.provider.calls["create_refund"] <= 3
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [
            (1250, "failed"),
            (1250, "succeeded"),
        ]
        assert case_of(w, pi.id).action == "refunded"

    def test_orphan_refund_that_fails_after_the_case_closed_is_made_again(self) -> None:
        """A pending orphan refund that fails after the flow ended still ends refunded."""
        w = make_shop()
        w.provider.refunds_settle_immediately = False
        pi = orphan_intent(w, "pm_card_visa")
        w.service.run_reconciler()
        (first,) = w.provider.refunds()
        assert case_of(w, pi.id).action == "waiting"  # until the bank settles the refund
        w.provider.settle_refund(first.id, success=False)
        w.provider.refunds_settle_immediately = True
        for _ in range(8):
            w.clock.advance(15 * MINUTE)
            w.service.run_jobs()
        assert sum(r.amount for r in w.provider.refunds() if r.status == "succeeded") == 1250
        assert case_of(w, pi.id).action == "refunded"
        assert not w.violations("safety"), w.violations("safety")


class TestOrphanThatCanStillBeCanceled:
    @pytest.mark.parametrize(
        "method", [None, "pm_card_chargeDeclined", "pm_card_threeDSecure2Required"]
    )
    def test_cancelable_orphan_is_canceled_and_never_refunded(self, method: str | None) -> None:
        """An orphan nobody paid yet is canceled, so no customer can pay it any more."""
        w = make_shop()
        pi = orphan_intent(w, method)
        w.service.run_reconciler()
        assert w.provider.retrieve_intent(pi.id).status == "canceled"
        calls = w.provider.calls
        assert (calls["cancel_intent"], calls["create_refund"], calls["list_refunds"]) == (1, 0, 0)
        case = case_of(w, pi.id)
        assert (case.action, case.provider_status) == ("canceled", "canceled")
        flow = flow_of(w, f"orphan:{pi.id}")
        assert (flow.status, flow.attempts) == (FlowStatus.SUCCEEDED, 0)
        assert flow.result == {"intent_id": pi.id, "status": "canceled"}
        assert "amount" not in flow.data
        assert not w.violations(), w.violations()

    def test_orphan_paid_while_being_canceled_is_refunded(self) -> None:
        """The customer pays between the look and the cancel: the cancel is refused, the
        flow looks again and refunds what was taken."""
        w = make_shop()
        pi = orphan_intent(w)
        (fid,) = start_orphan_flows(w)
        step(w, fid, 2)  # look: cancelable -> cancel
        assert flow_of(w, fid).step == "cancel"
        w.provider.customer_confirm(pi.id, "pm_card_visa")
        step(w, fid, 2)  # the cancel is refused (definite) -> look, nothing refunded yet
        flow = flow_of(w, fid)
        assert (flow.step, flow.attempts, flow.last_error) == ("look", 0, None)
        assert "amount" not in flow.data
        assert w.provider.refunds() == []
        done = run(w, fid)
        assert done.status is FlowStatus.SUCCEEDED
        assert done.result == {"intent_id": pi.id, "status": "succeeded"}
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [(1250, "succeeded")]
        assert (w.provider.calls["cancel_intent"], w.provider.calls["create_refund"]) == (1, 1)
        case = case_of(w, pi.id)
        assert (case.action, case.provider_status) == ("refunded", "succeeded")
        assert not w.violations(), w.violations()

    def test_look_failure_backs_off_and_recovery_finishes_the_case(self) -> None:
        """The provider is down when the flow looks: it retries later, it does not spin."""
        w = make_shop()
        pi = orphan_intent(w)
        (fid,) = start_orphan_flows(w)
        arm(w, FaultKind.PROVIDER_DOWN, "retrieve_intent")
        step(w, fid, 2)
        flow = flow_of(w, fid)
        assert flow.step == "look"
        assert_backed_off(w, flow, 1, "provider_unavailable")
        assert case_of(w, pi.id).action == "pending"
        w.clock.advance(w.service.config.backoff_cap_ms)
        assert w.service.run_recovery() == (1, 0)
        assert case_of(w, pi.id).action == "canceled"


def processing_orphan_waiting(w: Wiring) -> IntentView:
    """An orphan debit the provider is processing, whose first flow ended 'waiting'."""
    pi = orphan_intent(w, "pm_successDelayed_de")
    assert w.service.run_reconciler()[0] == 1
    case = case_of(w, pi.id)
    assert (case.action, case.provider_status, case.version) == ("waiting", "processing", 1)
    return pi


class TestProcessingOrphan:
    def test_processing_orphan_ends_waiting_and_the_reconciler_reopens_it_once_settled(
        self,
    ) -> None:
        """A processing orphan ends its flow with the case 'waiting' (no retries, no dead
        letter); the reconciler starts a new flow once the debit succeeded, which refunds."""
        w = make_shop()
        pi = processing_orphan_waiting(w)
        fid = f"orphan:{pi.id}"
        flow = flow_of(w, fid)
        assert (flow.status, flow.step, flow.attempts, flow.last_error) == (
            FlowStatus.SUCCEEDED,
            "look",
            0,
            None,
        )
        assert flow.result == {"intent_id": pi.id, "status": "processing"}
        assert [a.kind for a in w.alerts.raised] == ["orphan_intent"]
        # While it processes, each reconciler run asks once and starts nothing.
        for n in (1, 2, 3):
            w.clock.advance(15 * MINUTE)
            asked = w.provider.calls["retrieve_intent"]
            assert w.service.run_reconciler() == (0, 0)
            assert w.provider.calls["retrieve_intent"] == asked + 1, n
            assert case_of(w, pi.id).version == 1
            assert w.service.run_recovery() == (0, 0)
        assert w.provider.calls["create_refund"] == w.provider.calls["cancel_intent"] == 0
        # no flow but the first (and the job runs' own)
        assert [f.id for f in w.store.snapshot().rows(s.FLOWS) if not is_job(f.id)] == [fid]
        w.provider.settle(pi.id, success=True)
        w.clock.advance(15 * MINUTE)
        assert jobs.reconcile(w.service.engine) == [f"{fid}:2"]
        assert case_of(w, pi.id).action == "pending"
        reopened = run(w, f"{fid}:2")
        assert (reopened.status, reopened.attempts) == (FlowStatus.SUCCEEDED, 0)
        assert reopened.result == {"intent_id": pi.id, "status": "succeeded"}
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [(1250, "succeeded")]
        assert w.provider.calls["create_refund"] == 1
        case = case_of(w, pi.id)
        assert (case.action, case.provider_status, case.version) == ("refunded", "succeeded", 3)
        # The case is settled: later runs neither reopen it nor refund again.
        w.clock.advance(15 * MINUTE)
        assert w.service.run_reconciler() == (0, 0)
        assert len(w.provider.refunds()) == 1
        assert [a.kind for a in w.alerts.raised] == ["orphan_intent"]
        assert not w.violations(), w.violations()

    def test_orphan_processing_for_a_day_is_still_refunded_when_it_succeeds(self) -> None:
        """Bank debits settle after days: an orphan debit must be refunded whenever it does."""
        w = make_shop()
        pi = orphan_intent(w, "pm_successDelayed_de")
        w.service.run_reconciler()
        for _ in range(24 * 4):  # the jobs run every 15 minutes for a day
            w.clock.advance(15 * MINUTE)
            w.service.run_jobs()
        assert case_of(w, pi.id).action == "waiting"
        w.provider.settle(pi.id, success=True)
        for _ in range(4):
            w.clock.advance(15 * MINUTE)
            w.service.run_jobs()
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [(1250, "succeeded")]
        case = case_of(w, pi.id)
        assert (case.action, case.provider_status) == ("refunded", "succeeded")
        assert flow_of(w, f"orphan:{pi.id}:2").status is FlowStatus.SUCCEEDED
        assert "flow_dead_lettered" not in [a.kind for a in w.alerts.raised]
        assert not w.violations(), w.violations()

    def test_processing_orphan_that_fails_is_canceled_by_the_reopened_flow(self) -> None:
        """A debit that fails leaves the intent cancelable: the reopened flow cancels it."""
        w = make_shop()
        pi = processing_orphan_waiting(w)
        w.provider.settle(pi.id, success=False)
        w.clock.advance(15 * MINUTE)
        assert w.service.run_reconciler() == (1, 0)
        assert w.provider.retrieve_intent(pi.id).status == "canceled"
        assert w.provider.refunds() == []
        assert (w.provider.calls["cancel_intent"], w.provider.calls["create_refund"]) == (1, 0)
        flow = flow_of(w, f"orphan:{pi.id}:2")
        assert (flow.status, flow.attempts) == (FlowStatus.SUCCEEDED, 0)
        assert flow.result == {"intent_id": pi.id, "status": "canceled"}
        case = case_of(w, pi.id)
        assert (case.action, case.provider_status, case.version) == ("canceled", "canceled", 3)
        assert not w.violations(), w.violations()


# --- webhooks ------------------------------------------------------------------------


def paid_shop() -> tuple[Wiring, str]:
    """A shop with one succeeded payment (webhooks of the checkout delivered)."""
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_webhooks001", [CartItem("p_mug", 2)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    deliver_webhooks(w)
    return w, r.payment_id


def webhook_flow(w: Wiring, event_id: str) -> Flow:
    return flow_of(w, f"webhook:{event_id}")


class TestWebhookInbox:
    def test_intent_event_applies_the_providers_current_status(self) -> None:
        """A payment confirmed in the browser is recorded from its webhook."""
        w = make_shop()
        r = w.service.create_payment_intent("cs_test_webhooks002", [CartItem("p_mug", 1)])
        deliver_webhooks(w)
        pi = w.service.payment(r.payment_id).provider_intent_id
        assert pi is not None
        w.provider.customer_confirm(pi, "pm_card_visa")
        event, *also = w.provider.take_events()
        assert [e.type for e in also] == ["charge.succeeded"]  # sent with it
        assert event.type == "payment_intent.succeeded"
        assert w.service.handle_webhook(event) == "processed"
        assert w.service.payment(r.payment_id).status.value == "succeeded"
        assert w.service.order(r.order_id).status == "paid"  # type: ignore[union-attr]
        assert webhook_flow(w, event.id).result == {"matched": True, "status": "succeeded"}
        entry = w.store.snapshot().get(s.INBOX, event.id)
        assert entry is not None
        assert (entry.type, entry.object_id, entry.received_at, entry.flow_id) == (
            "payment_intent.succeeded",
            pi,
            w.clock.now(),
            f"webhook:{event.id}",
        )

    def test_duplicate_delivery_is_a_no_op(self) -> None:
        """The same event id twice is taken once: one inbox entry, one flow."""
        w, pid = paid_shop()
        event = w.provider.all_events[-1]
        before = w.store.snapshot()
        assert w.service.handle_webhook(event) == "duplicate"
        after = w.store.snapshot()
        assert after.rows(s.INBOX) == before.rows(s.INBOX)
        assert after.rows(s.FLOWS) == before.rows(s.FLOWS)
        assert w.service.payment(pid).status.value == "succeeded"

    @pytest.mark.parametrize("kind", ["charge", "customer", ""])
    def test_unknown_object_kind_is_acknowledged_as_ignored(self, kind: str) -> None:
        """Only intent and refund events are used; others are acknowledged as ignored
        (recorded in the inbox without a flow, so a redelivery is a duplicate)."""
        w, _ = paid_shop()
        event = ProviderEvent("evt_other_1", f"{kind}.updated", 0, kind, "ch_1", "succeeded")
        assert w.service.handle_webhook(event) == "ignored:unsupported_object_kind"
        entry = w.store.snapshot().get(s.INBOX, "evt_other_1")
        assert entry is not None and entry.flow_id == ""
        assert w.store.snapshot().get(s.FLOWS, "webhook:evt_other_1") is None

    @pytest.mark.parametrize(
        "event",
        [
            ProviderEvent("", "payment_intent.succeeded", 0, "payment_intent", "pi_1"),
            {"id": "evt_1", "type": "payment_intent.succeeded"},
        ],
    )
    def test_unverified_or_idless_event_is_refused(self, event: object) -> None:
        """A raw payload or an event without an id cannot be deduplicated: refused."""
        w, _ = paid_shop()
        inbox = w.store.snapshot().rows(s.INBOX)
        with pytest.raises(InvalidInput) as exc:
            w.service.handle_webhook(event)  # type: ignore[arg-type]
        assert "verified ProviderEvent with an id" in exc.value.message
        assert type(event).__name__ in exc.value.message
        assert w.store.snapshot().rows(s.INBOX) == inbox

    def test_event_for_an_intent_nobody_records_is_unmatched(self) -> None:
        """An orphan's webhook changes nothing locally; the reconciler deals with it."""
        w, _ = paid_shop()
        orphan_intent(w, "pm_card_visa")
        events = w.provider.take_events()
        before = w.store.snapshot().rows(s.PAYMENTS)
        charges = [ev for ev in events if ev.object_kind == "charge"]
        assert [ev.type for ev in charges] == ["charge.succeeded"]
        for ev in charges:  # the charge's own events: acknowledged, no flow
            assert w.service.handle_webhook(ev) == "ignored:unsupported_object_kind"
        for ev in events[:-1]:
            assert ev.object_kind == "payment_intent"
            assert w.service.handle_webhook(ev) == "ignored:not_ours"
            assert webhook_flow(w, ev.id).result == {
                "matched": False,
                "outcome": "ignored:not_ours",
            }
        assert w.store.snapshot().rows(s.PAYMENTS) == before

    def test_fetch_failure_backs_off_and_recovery_applies_it(self) -> None:
        """The provider is down when the webhook fetches the refund: the caller is told it
        is pending, the flow backs off, and recovery records the refund later."""
        w, pid = paid_shop()
        w.provider.refunds_settle_immediately = False
        w.service.create_refund(pid, 1250, idempotency_key="rk-1")
        (refund,) = w.service.refunds_of(pid)
        assert refund.status.value == "pending"
        rid = refund.provider_refund_id
        assert rid is not None
        w.provider.take_events()
        w.provider.settle_refund(rid)
        event, *also = w.provider.take_events()
        assert [e.type for e in also] == ["charge.refund.updated"]  # sent with it
        arm(w, FaultKind.PROVIDER_DOWN, "retrieve_refund")
        with pytest.raises(FlowPending):
            w.service.handle_webhook(event)
        assert_backed_off(w, webhook_flow(w, event.id), 1, "provider_unavailable")
        assert w.service.refunds_of(pid)[0].status.value == "pending"
        # The provider redelivers: a duplicate now, recovery finishes the first delivery.
        assert w.service.handle_webhook(event) == "duplicate"
        w.clock.advance(w.service.config.backoff_cap_ms)
        w.service.run_recovery()
        assert w.service.refunds_of(pid)[0].status.value == "succeeded"
        assert w.service.payment(pid).amount_refunded == 1250
        assert webhook_flow(w, event.id).result == {"matched": True, "status": "succeeded"}

    def test_intent_fetch_failure_backs_off_and_recovery_applies_it(self) -> None:
        """The provider is down when the webhook asks for the intent: the flow backs off and
        recovery records the payment once the provider answers."""
        w = make_shop()
        r = w.service.create_payment_intent("cs_test_webhooks005", [CartItem("p_mug", 1)])
        deliver_webhooks(w)
        pi = w.service.payment(r.payment_id).provider_intent_id
        assert pi is not None
        w.provider.customer_confirm(pi, "pm_card_visa")
        event, *also = w.provider.take_events()
        assert [e.type for e in also] == ["charge.succeeded"]  # sent with it
        arm(w, FaultKind.RATE_LIMITED, "retrieve_intent")
        with pytest.raises(FlowPending):
            w.service.handle_webhook(event)
        assert_backed_off(w, webhook_flow(w, event.id), 1, "provider_rate_limited")
        assert w.service.payment(r.payment_id).status.value == "open"
        w.clock.advance(w.service.config.backoff_cap_ms)
        assert w.service.run_recovery() == (1, 0)
        assert w.service.payment(r.payment_id).status.value == "succeeded"


class TestRefundWebhooks:
    def test_refund_webhook_before_the_refund_flow_recorded_it_is_matched_by_metadata(
        self,
    ) -> None:
        """refund.created can arrive before the refund flow records the provider's id:
        the webhook finds the refund by its metadata and the amount counts once."""
        w, pid = paid_shop()
        fid = w.service.start_refund(pid, 1000, None, "rk-early")
        step(w, fid)  # the provider call: the refund exists, the answer is held in memory
        event, *also = w.provider.take_events()
        assert [e.type for e in also] == ["charge.refunded"]  # sent with it
        assert event.type == "refund.created"
        assert w.service.refunds_of(pid)[0].provider_refund_id is None
        assert w.service.handle_webhook(event) == "processed"
        assert webhook_flow(w, event.id).result == {"matched": True, "status": "succeeded"}
        (local,) = w.service.refunds_of(pid)
        assert (local.provider_refund_id, local.status.value) == (event.object_id, "succeeded")
        assert w.service.payment(pid).amount_refunded == 1000
        step(w, fid)  # the refund flow applies its own (same) answer: no double count
        assert flow_of(w, fid).status is FlowStatus.SUCCEEDED
        assert w.service.payment(pid).amount_refunded == 1000
        assert not w.violations(), w.violations()

    def test_refund_webhook_of_a_refund_made_outside_paycore_is_recorded(self) -> None:
        """A refund made in the provider's dashboard is recorded as an external refund."""
        w, pid = paid_shop()
        pi = w.service.payment(pid).provider_intent_id
        assert pi is not None
        w.provider.create_refund(pi, amount=500, reason=None, metadata={}, idempotency_key="dash")
        event, *also = w.provider.take_events()
        assert [e.type for e in also] == ["charge.refunded"]  # sent with it
        assert w.service.handle_webhook(event) == "processed"
        assert webhook_flow(w, event.id).result == {
            "matched": True,
            "status": "succeeded",
            "external": True,
        }
        (refund,) = w.service.refunds_of(pid)
        assert (refund.external, refund.amount.amount) == (True, 500)
        assert w.service.payment(pid).amount_refunded == 500

    def test_settled_refund_webhook_is_matched_by_provider_id(self) -> None:
        """A pending refund settles later: its refund.updated webhook records the success."""
        w, pid = paid_shop()
        w.provider.refunds_settle_immediately = False
        w.service.create_refund(pid, 700, idempotency_key="rk-2")
        rid = w.service.refunds_of(pid)[0].provider_refund_id
        assert rid is not None
        w.provider.take_events()
        w.provider.settle_refund(rid)
        event, *also = w.provider.take_events()
        assert [e.type for e in also] == ["charge.refund.updated"]  # sent with it
        assert event.type == "refund.updated"
        assert w.service.handle_webhook(event) == "processed"
        assert webhook_flow(w, event.id).result == {"matched": True, "status": "succeeded"}
        assert w.service.payment(pid).amount_refunded == 700

    def test_failed_refund_webhook_gives_the_amount_back_to_refundable(self) -> None:
        """refund.failed: the refund is recorded failed and the payment counts nothing refunded."""
        w, pid = paid_shop()
        w.provider.refunds_settle_immediately = False
        w.service.create_refund(pid, 700, idempotency_key="rk-3")
        rid = w.service.refunds_of(pid)[0].provider_refund_id
        assert rid is not None
        w.provider.take_events()
        w.provider.settle_refund(rid, success=False)
        event, *also = w.provider.take_events()
        assert [e.type for e in also] == ["charge.refund.updated"]  # sent with it
        assert event.type == "refund.failed"
        assert w.service.handle_webhook(event) == "processed"
        assert webhook_flow(w, event.id).result == {"matched": True, "status": "failed"}
        assert w.service.refunds_of(pid)[0].status.value == "failed"
        assert w.service.payment(pid).amount_refunded == 0


def begin_webhook_flow(w: Wiring, event: ProviderEvent) -> str:
    """Take the event into the inbox without running its flow; return the flow id."""
    fid = w.service.start_webhook(event)
    assert fid == f"webhook:{event.id}"
    return fid


def another_worker_writes(w: Wiring, payment_id: str) -> None:
    """Another worker records a change to the payment (its version moves on)."""
    w.service.engine.transact(
        lambda u: u.save(s.PAYMENTS, u.get(s.PAYMENTS, payment_id), lock_owner=None)
    )


class TestIntentWebhookMatching:
    def test_view_fetched_while_the_payment_moved_on_is_fetched_again(self) -> None:
        """A 'processing' view fetched while a newer webhook recorded the success is not
        applied: the flow fetches again at once and ends on the current status."""
        w = make_shop()
        r = w.service.create_payment_intent("cs_test_webhooks003", [CartItem("p_mug", 1)])
        w.service.confirm_payment(r.payment_id, "pm_successDelayed_de")
        processing = [e for e in w.provider.take_events() if e.type.endswith(".processing")]
        pi = w.service.payment(r.payment_id).provider_intent_id
        assert pi is not None
        fid = begin_webhook_flow(w, processing[0])
        flow = flow_of(w, fid)  # leased to the worker that took the event: others keep off
        lease_until = w.clock.now() + w.service.config.lease_ms
        assert (flow.lease_owner, flow.lease_until) == (w.service.engine.worker_id, lease_until)
        step(w, fid)  # fetch: the provider still says processing (held in memory)
        w.provider.settle(pi, success=True)
        deliver_webhooks(w)  # the success webhook is recorded first
        assert w.service.payment(r.payment_id).status.value == "succeeded"
        step(w, fid)  # the payment changed since the flow began: fetch again
        flow = flow_of(w, fid)
        assert flow.step == "fetch"
        assert flow.data["refetches"] == 1
        assert flow.data["seen_version"] == w.service.payment(r.payment_id).version
        assert (flow.attempts, flow.next_run_at) == (0, w.clock.now())
        done = run(w, fid)
        assert done.result == {"matched": True, "status": "succeeded"}
        assert w.service.order(r.order_id).status == "paid"  # type: ignore[union-attr]

    def test_payment_that_keeps_changing_makes_the_webhook_back_off_after_three_refetches(
        self,
    ) -> None:
        """Three immediate refetches, then the flow backs off instead of spinning."""
        w = make_shop()
        r = w.service.create_payment_intent("cs_test_webhooks004", [CartItem("p_mug", 1)])
        w.service.confirm_payment(r.payment_id, "pm_successDelayed_de")
        pid = r.payment_id
        pi = w.service.payment(pid).provider_intent_id
        assert pi is not None
        event = ProviderEvent("evt_resent_1", "payment_intent.processing", 0, "payment_intent", pi)
        fid = begin_webhook_flow(w, event)
        for n in (1, 2, 3):
            step(w, fid)
            another_worker_writes(w, pid)
            step(w, fid)
            flow = flow_of(w, fid)
            assert (flow.step, flow.data["refetches"], flow.attempts) == ("fetch", n, 0)
        step(w, fid)
        another_worker_writes(w, pid)
        step(w, fid)
        flow = flow_of(w, fid)
        assert flow.data["refetches"] == 4
        assert_backed_off(w, flow, 1, "payment changed")
        w.clock.advance(w.service.config.backoff_cap_ms)
        assert run(w, fid).result == {"matched": True, "status": "processing"}

    def test_intent_created_while_its_checkout_decides_is_left_to_the_checkout(self) -> None:
        """The created-webhook does not adopt an intent its checkout flow still decides about."""
        w = make_shop()
        fid = begin_checkout(w)
        step(w, fid)  # the seller check's yes, and at once the create call (answer held)
        (created,) = w.provider.take_events()
        assert w.service.handle_webhook(created) == "processed"
        assert webhook_flow(w, created.id).result == {"matched": False}
        assert w.service.payment("pay_000001").provider_intent_id is None
        assert run(w, fid).status is FlowStatus.SUCCEEDED
        assert w.service.payment("pay_000001").provider_intent_id == created.object_id

    def test_second_intent_for_a_payment_that_records_another_is_not_adopted(self) -> None:
        """A duplicate intent naming a payment that already has one is the reconciler's."""
        w, pid = paid_shop()
        first = w.service.payment(pid).provider_intent_id
        dup = w.provider.create_intent(
            CreateIntent(Money(2500, "EUR"), "acct_1", {"payment_id": pid}),
            idempotency_key="duplicate-create",
        )
        (event,) = w.provider.take_events()
        assert event.object_id == dup.id
        assert w.service.handle_webhook(event) == "processed"
        assert webhook_flow(w, event.id).result == {"matched": False}
        assert w.service.payment(pid).provider_intent_id == first


class TestIntentWebhookStatuses:
    def test_payment_failed_webhook_keeps_the_payment_open_for_another_try(self) -> None:
        """A card declined in the browser: the webhook records it and the payment stays open."""
        w = make_shop()
        r = w.service.create_payment_intent("cs_test_webhooks004", [CartItem("p_mug", 1)])
        deliver_webhooks(w)
        pi = w.service.payment(r.payment_id).provider_intent_id
        assert pi is not None
        w.provider.customer_confirm(pi, "pm_card_chargeDeclined")
        event, *also = w.provider.take_events()
        assert [e.type for e in also] == ["charge.failed"]  # sent with it
        assert event.type == "payment_intent.payment_failed"
        assert w.service.handle_webhook(event) == "processed"
        assert webhook_flow(w, event.id).result == {"matched": True, "status": "open"}
        assert w.service.order(r.order_id).status == "pending"  # type: ignore[union-attr]
