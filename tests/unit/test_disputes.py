"""Disputes (chargebacks): ``charge.dispute.*`` events about a payment paycore made raise
a ``payment_disputed`` alert naming the order, in the transaction that records the
event; the dispute's close updates it (won: resolved; lost: it stays open saying the
money is gone). A dispute of a charge paycore does not know, and a dispute object it
cannot read, are acknowledged as ignored. Driven by the fake's far side
(``FakeProvider.open_dispute`` / ``close_dispute``) and through the Stripe intake."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from tests.chaos.test_refund_failures import out_of_stock_order
from tests.chaos.test_refund_late_landing import HeldRequests, to_second_key
from tests.support import make_shop, run

from paycore import schema as s
from paycore.errors import ProviderInvalidRequest
from paycore.flows.checkout import CartItem
from paycore.flows.refund_failures import AUTO_REFUND_ATTEMPTS
from paycore.outcomes import WebhookOutcome
from paycore.ports import ProviderEvent
from paycore.records import Alert
from paycore.status import FlowStatus, RefundStatus
from paycore_adapters import fake_state, signing
from paycore_adapters.emulator.webhooks import event_body
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock, Wiring
from paycore_adapters.stripe_webhooks import StripeWebhookIntake, sign_for_test

SECRET = "whsec_disputes_0123456789"


def paid() -> tuple[Wiring, str, str, str]:
    """A shop with one paid order: the wiring, the payment, its order and its intent."""
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_dispute01", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    w.provider.take_events()
    payment = w.service.payment(r.payment_id)
    return w, payment.id, payment.order_id, str(payment.provider_intent_id)


def deliver(w: Wiring) -> list[str]:
    return [str(w.service.handle_webhook(ev)) for ev in w.provider.take_events()]


def alert(w: Wiring, payment_id: str) -> object:
    return w.store.snapshot().get(s.ALERTS, f"payment_disputed:{payment_id}")


def test_a_dispute_raises_an_alert_naming_the_order() -> None:
    w, pid, oid, pi = paid()
    du = w.provider.open_dispute(pi, reason="fraudulent", due_by_s=1_900_000_000)
    assert deliver(w) == ["processed", "processed"]  # created, funds_withdrawn
    row = alert(w, pid)
    assert row is not None and row.open  # type: ignore[attr-defined]
    msg = row.message  # type: ignore[attr-defined]
    assert oid in msg and pid in msg and du in msg and "fraudulent" in msg
    assert "do not ship" in msg and "2030-03-17" in msg
    assert row.fields["dispute_id"] == du  # type: ignore[attr-defined]
    kinds = [a.kind for a in w.service.attention()]
    assert "payment_disputed" in kinds
    assert deliver(w) == []  # one event, one alert
    w.service.handle_webhook(w.provider.all_events[-1])  # a redelivery: a duplicate
    assert alert(w, pid).count == 1  # type: ignore[attr-defined]


def test_a_won_dispute_resolves_its_alert() -> None:
    w, pid, _, pi = paid()
    du = w.provider.open_dispute(pi)
    deliver(w)
    w.provider.close_dispute(du, won=True)
    assert set(deliver(w)) == {"processed"}
    row = alert(w, pid)
    assert not row.open and "won" in row.resolution  # type: ignore[attr-defined]


def test_a_lost_dispute_stays_open_saying_the_money_is_gone() -> None:
    w, pid, _, pi = paid()
    du = w.provider.open_dispute(pi)
    deliver(w)
    w.provider.close_dispute(du, won=False)
    deliver(w)
    row = alert(w, pid)
    assert row.open and "lost" in row.message and "gone" in row.message  # type: ignore[attr-defined]


def test_a_late_created_event_does_not_reopen_a_decided_dispute() -> None:
    w, pid, _, pi = paid()
    du = w.provider.open_dispute(pi)
    w.provider.close_dispute(du, won=True)
    events = w.provider.take_events()
    for ev in reversed(events):  # the close first, then the creation
        w.service.handle_webhook(ev)
    row = alert(w, pid)
    assert not row.open and "won" in row.resolution  # type: ignore[attr-defined]


def test_a_dispute_of_another_charge_is_not_ours() -> None:
    w, pid, _, _ = paid()
    snap = {
        "payment_intent": "pi_someone_else",
        "amount": 500,
        "currency": "usd",
        "reason": "general",
        "status": "needs_response",
    }
    ev = ProviderEvent(
        "evt_other", "charge.dispute.created", 1, "dispute", "du_x", "needs_response", snap
    )
    assert w.service.handle_webhook(ev) is WebhookOutcome.NOT_OURS
    assert alert(w, pid) is None


def test_an_unreadable_dispute_is_acknowledged_as_ignored() -> None:
    w, pid, _, pi = paid()
    good = {
        "payment_intent": pi,
        "amount": 5,
        "currency": "usd",
        "reason": "x",
        "status": "needs_response",
    }
    bad: list[object] = [
        None,
        {},
        {**good, "amount": "5"},
        {**good, "amount": 2**64},
        {**good, "reason": "a\x00b"},
        {**good, "payment_intent": {"id": pi}},
        {**good, "evidence_details": {"due_by": True}},
        {**good, "evidence_details": {"due_by": 10**20}},  # no date can show it
        {**good, "evidence_details": {"due_by": -1}},
    ]
    for n, snap in enumerate(bad):
        ev = ProviderEvent(
            f"evt_bad{n}",
            "charge.dispute.created",
            1,
            "dispute",
            "du_x",
            None,
            snap,  # type: ignore[arg-type]
        )
        assert w.service.handle_webhook(ev) is WebhookOutcome.UNUSABLE_DISPUTE
    assert alert(w, pid) is None


def _receive(w: Wiring, ev: ProviderEvent) -> tuple[int, str]:
    body = signing.to_payload(ev)
    answer = StripeWebhookIntake(w.service, [SECRET]).receive(
        body, sign_for_test(body, SECRET, int(time.time()))
    )
    return answer.status, answer.outcome


def test_the_stripe_intake_takes_dispute_events() -> None:
    w, pid, oid, pi = paid()
    w.provider.open_dispute(pi, reason="product_not_received")
    ev = w.provider.take_events()[0]
    body = json.loads(signing.to_payload(ev))
    assert body["data"]["object"]["payment_intent"] == pi  # Stripe's shape
    assert _receive(w, ev) == (200, "processed")
    assert alert(w, pid).open  # type: ignore[attr-defined]
    assert oid in alert(w, pid).message  # type: ignore[attr-defined]


# --- a refund of a charged-back payment (charge_disputed) -------------------------------


def refund_alerts(w: Wiring) -> list[Alert]:
    return [a for a in w.store.snapshot().rows(s.ALERTS) if a.kind == "refund_failed"]


def test_a_refund_refused_as_disputed_says_so_and_not_refund_again() -> None:
    w, pid, _, pi = paid()
    w.provider.open_dispute(pi)
    deliver(w)
    with pytest.raises(ProviderInvalidRequest) as info:
        w.service.create_refund(pid, idempotency_key="k1")
    assert info.value.fields.get("error_code") == "charge_disputed"
    (row,) = refund_alerts(w)
    assert "charge is disputed" in row.message and "dispute decides" in row.message
    assert "the customer has not got this money back" not in row.message
    assert row.fields["disputed"] is True


def test_an_automatic_refund_refused_as_disputed_is_not_retried() -> None:
    w = make_shop(stock=1)
    real = w.provider.settle

    def settle_then_dispute(intent_id: str, **kw: Any) -> Any:
        view = real(intent_id, **kw)
        w.provider.open_dispute(intent_id)  # the customer's bank disputes it at once
        return view

    w.provider.settle = settle_then_dispute
    _, pid = out_of_stock_order(w)
    for _ in range(AUTO_REFUND_ATTEMPTS + 2):
        w.service.run_recovery()
    rows = w.service.refunds_of(pid)
    assert len(rows) == 1 and rows[0].status is RefundStatus.FAILED
    (row,) = refund_alerts(w)
    assert row.open and "charge is disputed" in row.message and "retrying" not in row.message
    assert "after 1 attempts" not in row.message
    assert f"payment_disputed:{pid}" in {a.id for a in w.store.snapshot().rows(s.ALERTS)}


def test_the_fakes_saved_file_and_clones_keep_a_dispute() -> None:
    w, _, _, pi = paid()
    du = w.provider.open_dispute(pi)
    fake = w.provider.inner
    text = fake_state.dumps(fake, w.clock)
    twin, twin_clock = FakeProvider(ManualClock()), ManualClock()
    fake_state.loads(text, twin, twin_clock)
    assert fake_state.dumps(twin, twin_clock) == text
    assert twin.take_events() == w.provider.take_events()
    for other in (twin, fake.clone(ManualClock())):
        with pytest.raises(ProviderInvalidRequest):
            other.create_refund(pi, amount=1, reason=None, metadata={}, idempotency_key="k")
    twin.close_dispute(du, won=True)
    assert [e.type for e in twin.take_events()] == [
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]


def test_a_new_keys_call_refused_as_disputed_keeps_the_reason() -> None:
    """The refusal of a new key's call goes through the list first (it may not be the only
    request's answer); the provider's code goes along, and the alert still says disputed."""
    w = make_shop()
    res = w.service.create_payment_intent("cs_test_dispute02", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    HeldRequests(w)
    fid = w.service.start_refund(res.payment_id, None, None, "rma-disputed")
    to_second_key(w, fid)
    intent = str(w.service.payment(res.payment_id).provider_intent_id)
    w.provider.open_dispute(intent)
    w.clock.advance(w.service.config.backoff_cap_ms)
    flow = run(w, fid)
    assert flow.status is FlowStatus.FAILED and "keygen" in flow.data
    assert flow.data["error_code"] == "charge_disputed"
    (row,) = refund_alerts(w)
    assert "charge is disputed" in row.message and row.fields["disputed"] is True


def test_the_emulator_sends_a_dispute_as_stripe_does() -> None:
    w, pid, _, pi = paid()
    w.provider.open_dispute(pi, due_by_s=1_900_000_000)
    ev = w.provider.take_events()[0]
    body = json.loads(event_body(ev, None))
    obj = body["data"]["object"]
    assert (obj["object"], obj["payment_intent"], obj["status"]) == (
        "dispute",
        pi,
        "needs_response",
    )
    assert obj["evidence_details"] == {"due_by": 1_900_000_000}
    answer = StripeWebhookIntake(w.service, [SECRET]).receive(
        event_body(ev, None), sign_for_test(event_body(ev, None), SECRET, int(time.time()))
    )
    assert (answer.status, answer.outcome) == (200, "processed")
    assert alert(w, pid).open  # type: ignore[attr-defined]


def test_an_inquiry_is_alerted_as_one_and_its_charge_can_still_be_refunded() -> None:
    w, pid, _, pi = paid()
    du = w.provider.open_dispute(pi, inquiry=True)
    assert deliver(w) == ["processed"]  # no funds_withdrawn for an inquiry
    assert "an inquiry" in alert(w, pid).message  # type: ignore[attr-defined]
    w.provider.close_dispute(du, won=True)
    deliver(w)
    row = alert(w, pid)
    assert not row.open and "warning_closed" in row.resolution  # type: ignore[attr-defined]
    assert w.service.create_refund(pid, 100, idempotency_key="k-inq").status == "succeeded"
