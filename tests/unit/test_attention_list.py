"""The attention list (issue 7, item 13): one call shows everything that needs a human."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support import SESSION, deliver_webhooks, made_here, make_shop

from paycore import errors as err
from paycore import job_health
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.reconcile import FOREIGN_SUBJECT
from paycore.flows.retry import DEAD_OF
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore.status import FlowStatus, RefundStatus
from paycore_adapters.memory import Wiring

MINUTE = 60_000


def paid(w: Wiring, session: str) -> str:
    res = w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    deliver_webhooks(w)
    return res.payment_id


def intent_of(w: Wiring, payment_id: str) -> str:
    intent = w.service.payment(payment_id).provider_intent_id
    assert intent is not None
    return intent


def a_dead_flow(w: Wiring) -> str:
    """A refund dead of failures: its list is refused every time (a refund dead of an
    outage is revived by the reconciler's next run, which the other items run)."""
    pid = paid(w, SESSION)

    def fault(name: str, phase: str, key: str | None) -> None:
        if name == "create_refund" and phase == "before":
            raise err.ProviderUnavailable("injected: create_refund 503")
        if name == "list_refunds" and phase == "before":
            raise err.ProviderInvalidRequest("injected: the list is refused")

    w.provider.fault = fault
    with pytest.raises(err.FlowPending):
        w.service.create_refund(pid, idempotency_key="rma-1")
    (refund,) = w.service.refunds_of(pid)
    fid = f"refund:{refund.id}"
    for _ in range(w.service.config.max_attempts):
        w.clock.advance(w.service.config.backoff_cap_ms + w.service.config.lease_ms)
        w.service.run_recovery()
    w.provider.fault = None
    dead = w.service.flow(fid)
    assert dead.status is FlowStatus.DEAD and dead.data.get(DEAD_OF) == "failures"
    return fid


def a_failed_refund(w: Wiring) -> str:
    pid = paid(w, "cs_test_attention_failed")
    w.provider.refunds_settle_immediately = False
    w.service.create_refund(pid, 500, idempotency_key="rma-fails")
    (refund,) = w.service.refunds_of(pid)
    assert refund.provider_refund_id is not None
    w.provider.settle_refund(refund.provider_refund_id, success=False)
    deliver_webhooks(w)
    w.provider.refunds_settle_immediately = True
    (refund,) = w.service.refunds_of(pid)
    assert refund.status is RefundStatus.FAILED
    return refund.id


def an_external_refund(w: Wiring) -> str:
    """A refund made in the provider's dashboard; its webhook records it."""
    pid = paid(w, "cs_test_attention_dashb")
    view = w.provider.create_refund(
        intent_of(w, pid), amount=400, reason=None, metadata={}, idempotency_key="dashboard-1"
    )
    deliver_webhooks(w)
    return view.id


def a_foreign_and_a_mismatched_intent(w: Wiring) -> tuple[str, str, str]:
    """Another store's intent on the account, and a payment recording an intent of ours
    that is not its own (1.50 EUR for a 12.50 EUR order); the reconciler finds both, and
    finds the payment's own intent, which no payment records any more, an orphan."""
    foreign = w.provider.create_intent(
        CreateIntent(Money(990, "EUR"), "acct_1", {"payment_id": "pay_000001"}),
        idempotency_key="another-store-1",
    )
    res = w.service.create_payment_intent("cs_test_attention_mism", [CartItem("p_mug", 1)])
    payment = w.service.payment(res.payment_id)
    meta = made_here(
        w,
        paycore_reference=str(payment.reference),
        payment_id=payment.id,
        order_id=payment.order_id,
        checkout_session_id="cs_test_attention_mism",
    )
    wrong = w.provider.create_intent(
        CreateIntent(Money(150, "EUR"), "acct_1", meta), idempotency_key="older-version"
    )
    own = intent_of(w, payment.id)
    w.service.engine.transact(
        lambda u: u.save(s.PAYMENTS, u.get(s.PAYMENTS, payment.id), provider_intent_id=wrong.id)
    )
    w.service.run_reconciler()
    return foreign.id, wrong.id, own


def an_orphan(w: Wiring) -> str:
    """An intent this installation made that no payment records, still processing."""
    view = w.provider.create_intent(
        CreateIntent(Money(1250, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_lost")),
        idempotency_key="lost-checkout-1",
    )
    w.provider.customer_confirm(view.id, "pm_successDelayed_de")
    w.service.run_reconciler()
    return view.id


def a_stalled_flow(w: Wiring) -> str:
    """A checkout that meets only a provider outage for longer than the stall threshold
    (well within the retry horizon)."""

    def down(name: str, phase: str, key: str | None) -> None:
        raise err.ProviderUnavailable(f"injected: {name} 503")

    w.provider.fault = down
    with pytest.raises(err.FlowPending):
        w.service.create_payment_intent("cs_test_attention_stall", [CartItem("p_tee", 1)])
    for _ in range(4):
        w.clock.advance(w.service.config.backoff_cap_ms)
        w.service.run_recovery()
    w.provider.fault = None
    return "checkout:cs_test_attention_stall"


def a_failing_job(w: Wiring) -> str:
    def broken() -> Any:
        raise err.ProviderUnavailable("injected: list_intents 503")

    for _ in range(w.service.config.job_failures_before_alert):
        assert not job_health.run_job(w.service.engine, "reconciler", broken).ok
    return "reconciler"


class TestAttentionList:
    def test_one_call_shows_one_of_each(self) -> None:
        """A dead flow, a stalled flow, a failed refund, an external refund, a foreign
        intent, an intent that is not its payment's, an orphan charge and a failing job:
        one call lists each, oldest first, each resolvable by its alert id."""
        w = make_shop(stock=10)
        dead = a_dead_flow(w)
        failed = a_failed_refund(w)
        external = an_external_refund(w)
        foreign, mismatched, unowned = a_foreign_and_a_mismatched_intent(w)
        orphan = an_orphan(w)
        stalled = a_stalled_flow(w)
        job = a_failing_job(w)

        items = w.service.attention()

        assert sorted((i.kind, i.subject) for i in items) == sorted(
            [
                ("flow_dead_lettered", dead),
                ("refund_failed", failed),
                ("external_refund", external),
                ("foreign_intent", FOREIGN_SUBJECT),  # one alert counts every such intent
                ("intent_mismatch", mismatched),
                ("orphan_intent", orphan),  # waiting: the bank is still processing it
                ("orphan_intent", unowned),  # canceled; a human checks and resolves
                ("flow_stalled", stalled),
                ("job_failed", job),
            ]
        )
        assert [i.since for i in items] == sorted(i.since for i in items)
        assert all(i.alert_id == f"{i.kind}:{i.subject}" for i in items)
        cases = {c.provider_intent_id: c.action for c in w.store.snapshot().rows(s.ORPHANS)}
        assert (cases[foreign], cases[orphan], cases[unowned]) == ("foreign", "waiting", "canceled")

    def test_a_reported_foreign_intent_stays_until_a_human_resolves_it(self) -> None:
        """Later reconciler passes neither drop the foreign intent from the list nor count
        it again; resolving its alert (someone checked it) takes it off."""
        w = make_shop()
        foreign, _, _ = a_foreign_and_a_mismatched_intent(w)
        for _ in range(2):
            w.service.run_reconciler()
        listed = [i for i in w.service.attention() if i.kind == "foreign_intent"]
        assert [(i.subject, i.count, i.fields["intent_id"]) for i in listed] == [
            (FOREIGN_SUBJECT, 1, foreign)
        ]
        w.service.resolve_alert(
            f"foreign_intent:{FOREIGN_SUBJECT}", "a test intent of the other shop"
        )
        assert "foreign_intent" not in [i.kind for i in w.service.attention()]
