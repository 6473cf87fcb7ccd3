"""Regressions for defects a review found in races the seed did not name."""

from __future__ import annotations

import contextlib

import attrs
from tests.support import (
    begin_checkout,
    deliver_webhooks,
    flow_of,
    lagging_search,
    made_here,
    make_shop,
    quiesce,
    step,
    with_config,
)

from paycore import schema as s
from paycore.errors import CommitUnknown, ProviderRateLimited, ProviderUnavailable
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView, ProviderEvent
from paycore.status import FlowStatus

HOUR = 3_600_000


class TestAbortAgainstWebhookAdoption:
    def test_abort_never_leaves_a_chargeable_intent_behind_a_canceled_order(self) -> None:
        """A created-webhook cannot adopt an intent while its checkout flow decides; the
        abort, which lists (never searches: search lags up to an hour in an outage), finds
        the intent and cancels it before it closes the order."""
        w = with_config(make_shop(stock=1), retry_horizon_ms=0)
        lagging_search(w, HOUR)
        fid = begin_checkout(w)
        seen: list[str] = []

        def faults(call: str, phase: str, key: str | None) -> None:
            order = [("create_intent", "after"), ("create_intent", "before")]
            order.append(("list_intents", "before"))
            if len(seen) < len(order) and (call, phase) == order[len(seen)]:
                seen.append(call)
                raise ProviderUnavailable(f"{call}: no answer ({phase})")

        w.provider.fault = faults
        step(w, fid, 2)  # create: the intent exists, its answer is lost -> replay
        step(w, fid, 2)  # replay: no answer -> find
        step(w, fid, 2)  # find: the list fails, past the (zero) horizon -> abort
        assert flow_of(w, fid).step == "abort"
        step(w, fid, 1)  # abort's list call
        deliver_webhooks(w)  # payment_intent.created arrives while the flow holds the payment
        assert w.service.payment("pay_000001").provider_intent_id is None
        step(w, fid, 1)  # abort applies: the intent is listed -> cancel it first
        assert flow_of(w, fid).step == "cancel_found"
        assert w.service.order("ord_000001").status == "pending"  # type: ignore[union-attr]
        assert not w.violations("safety"), w.violations("safety")
        quiesce(w)
        assert w.service.order("ord_000001").status == "canceled"  # type: ignore[union-attr]
        assert [(v.status) for v in w.provider.intents()] == ["canceled"]
        assert not w.violations(), w.violations()


class TestLongProcessingPayments:
    def test_settlement_after_days_with_webhooks_lost_is_synced(self) -> None:
        """A bank debit that settles three days later, webhooks lost, still pays the order."""
        w = make_shop(stock=1)
        r = w.service.create_payment_intent("cs_test_processing01", [CartItem("p_mug", 1)])
        w.service.confirm_payment(r.payment_id, "pm_successDelayed_de")
        deliver_webhooks(w)
        w.clock.advance(72 * HOUR)
        intent = w.service.payment(r.payment_id).provider_intent_id
        assert intent is not None
        w.provider.settle(intent, success=True)
        w.provider.take_events()  # the provider gave up delivering
        w.service.run_jobs()
        assert w.service.order(r.order_id).status == "paid"  # type: ignore[union-attr]
        assert not w.violations(), w.violations()

    def test_reconciler_does_not_apply_a_view_older_than_the_payment(self) -> None:
        """A webhook recorded between the reconciler's list and its write wins."""
        w = make_shop(stock=1)
        r = w.service.create_payment_intent("cs_test_processing02", [CartItem("p_mug", 1)])
        w.service.confirm_payment(r.payment_id, "pm_successDelayed_de")
        deliver_webhooks(w)
        intent = w.service.payment(r.payment_id).provider_intent_id
        assert intent is not None
        real = w.provider.retrieve_intent
        stale = real(intent)

        def retrieve(intent_id: str) -> IntentView:
            w.provider.retrieve_intent = real  # type: ignore[method-assign]
            w.provider.settle(intent, success=False)  # meanwhile the debit fails ...
            deliver_webhooks(w)  # ... and the webhook records it
            return stale  # the answer is older than what is now recorded

        w.provider.retrieve_intent = retrieve  # type: ignore[method-assign]
        w.service.run_reconciler()
        assert w.service.payment(r.payment_id).status == "open"


class TestReconcilerReachesEveryIntent:
    def test_orphan_behind_more_intents_than_one_batch_is_found(self) -> None:
        """The reconciler goes on from where it stopped, so a late orphan is reached."""
        w = make_shop(stock=100)
        w.service.config = attrs.evolve(w.service.config, job_batch=5)
        w.service.engine.config = w.service.config
        for i in range(12):
            w.service.create_payment_intent(f"cs_load_{i:012d}", [CartItem("p_mug", 1)])
            w.clock.advance(60_000)
        orphan = w.provider.create_intent(
            CreateIntent(Money(1250, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_x")),
            idempotency_key="landed-late",
        )
        started = sum(w.service.run_reconciler()[0] for _ in range(4))
        assert started == 1
        assert w.provider.retrieve_intent(orphan.id).status == "canceled"
        assert [a.kind for a in w.alerts.raised] == ["orphan_intent"]


class TestAlertsAreNotLost:
    def test_dead_letter_alert_survives_an_ambiguous_commit(self) -> None:
        """The commit that dead-letters a flow answers ambiguously: the alert still goes out."""
        w = make_shop()
        r = w.service.create_payment_intent("cs_test_lostalert01", [CartItem("p_mug", 1)])
        w.service.confirm_payment(r.payment_id, "pm_card_visa")

        def rate_limited(call: str, phase: str, key: str | None) -> None:
            if call == "create_refund" and phase == "before":
                raise ProviderRateLimited("slow down")

        w.provider.fault = rate_limited
        with_config(w, retry_horizon_ms=0)

        class Ambiguous:
            armed = False

            def before_commit(self) -> None:
                pass

            def after_commit(self) -> None:
                if self.armed:
                    self.armed = False
                    raise CommitUnknown("connection dropped after COMMIT")

        with contextlib.suppress(Exception):
            w.service.create_refund(r.payment_id, 500, idempotency_key="support-1")
        fid = "refund:rf_000001"
        eng = w.service.engine
        faults = Ambiguous()
        w.store.faults = faults
        for _ in range(100):
            flow = flow_of(w, fid)
            if flow.status is not FlowStatus.ACTIVE:
                break
            last = flow.attempts == w.service.config.max_attempts - 1
            faults.armed = last and eng.has_inflight(fid)
            with contextlib.suppress(CommitUnknown):
                eng.step(fid)
        assert flow_of(w, fid).status is FlowStatus.DEAD
        assert "flow_dead_lettered" in [a.kind for a in w.alerts.raised]


class TestOneBrokenFlowDoesNotStopRecovery:
    def test_unexpected_exception_is_retried_then_dead_lettered(self) -> None:
        """A step that raises a bug is backed off and dead-lettered; other flows recover."""
        w = make_shop()
        svc = w.service
        r = svc.create_payment_intent("cs_test_poison00001", [CartItem("p_mug", 1)])
        intent = svc.payment(r.payment_id).provider_intent_id
        real = w.provider.retrieve_intent

        def weird(i: str) -> IntentView:
            view = real(i)
            return attrs.evolve(view, status="requires_source") if i == intent else view

        w.provider.retrieve_intent = weird  # type: ignore[method-assign]
        event = ProviderEvent("evt_x1", "payment_intent.updated", 0, "payment_intent", str(intent))
        with contextlib.suppress(Exception):
            svc.handle_webhook(event)
        fid = begin_checkout(w, "cs_test_crashed0001")  # a checkout whose worker died
        for _ in range(12):
            w.clock.advance(svc.config.backoff_cap_ms + svc.config.lease_ms)
            svc.run_jobs()
        assert flow_of(w, fid).status is FlowStatus.SUCCEEDED
        assert flow_of(w, "webhook:evt_x1").status is FlowStatus.DEAD
        assert "flow_dead_lettered" in [a.kind for a in w.alerts.raised]
        assert w.store.snapshot().get(s.FLOWS, fid) is not None
