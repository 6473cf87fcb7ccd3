"""State sync and refunds: late successes of multi-line orders, refunds that fail after
succeeding, refund statuses paycore does not act on, adoption of an intent whose checkout
died, the notifications and records a refund leaves, and a refund retried after the
provider saved a 500 under its key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from tests.support import (
    SESSION,
    SESSION_2,
    converged,
    deliver_webhooks,
    flow_of,
    make_shop,
    quiesce,
    record_refund_calls,
    run,
    safe,
    step,
    with_config,
)

from paycore import errors as err
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.identity import identity
from paycore.flows.params import REFUND_LANDING_MS
from paycore.machines import RESERVATION
from paycore.money import Money
from paycore.ports import ProviderEvent, RefundView
from paycore.records import Refund, Reservation
from paycore.status import FlowStatus, OrderStatus, PaymentStatus, RefundStatus
from paycore.status import ReservationStatus as RS
from paycore.unit import Unit
from paycore_adapters.harness.faults import FaultKind, FaultPlan
from paycore_adapters.memory import Wiring

MINUTE = 60_000


def mark(w: Wiring, rf: Refund) -> dict[str, str]:
    """The identity a refund carries to the provider: this installation and its reference."""
    assert rf.reference is not None
    return {"paycore_installation": w.service.installation_id(), "paycore_reference": rf.reference}


# --- helpers ----------------------------------------------------------------------------


def stock(w: Wiring, sku: str) -> tuple[int, int, int]:
    """(on hand, held, committed) of ``sku``."""
    row = w.store.snapshot().get(s.STOCK, f"s1/{sku}")
    assert row is not None
    return row.on_hand, row.held, row.committed


def order_status(w: Wiring, order_id: str) -> OrderStatus:
    order = w.service.order(order_id)
    assert order is not None
    return order.status


def reservations(w: Wiring, order_id: str) -> list[Reservation]:
    return [r for r in w.store.snapshot().rows(s.RESERVATIONS) if r.order_id == order_id]


def outbox(w: Wiring, order_id: str) -> dict[str, Mapping[str, Any]]:
    """kind -> payload of every notification queued for the order."""
    return {m.kind: m.payload for m in w.store.snapshot().rows(s.OUTBOX) if m.order_id == order_id}


def paid(w: Wiring, items: list[CartItem], session: str = SESSION) -> tuple[str, str]:
    res = w.service.create_payment_intent(session, items)
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    return res.order_id, res.payment_id


def intent_of(w: Wiring, payment_id: str) -> str:
    intent = w.service.payment(payment_id).provider_intent_id
    assert intent is not None
    return intent


def with_processing_hold(w: Wiring) -> None:
    """The shop puts a processing payment's stock back on sale an hour after it expired."""
    w.service.config = attrs.evolve(w.service.config, processing_hold_ms=60 * MINUTE)
    w.service.engine.config = w.service.config


def processing_checkout(w: Wiring, items: list[CartItem]) -> tuple[str, str]:
    res = w.service.create_payment_intent(SESSION, items)
    confirmed = w.service.confirm_payment(res.payment_id, "pm_successDelayed_de")
    assert confirmed.status == "processing"
    deliver_webhooks(w)
    return res.order_id, res.payment_id


def past_the_hold(w: Wiring) -> None:
    """The janitor gives a processing payment's stock back once the shop's hold is over."""
    cfg = w.service.config
    w.clock.advance(cfg.reservation_ttl_ms + (cfg.processing_hold_ms or 0))
    w.service.run_janitor()


def tables(w: Wiring) -> list[list[Any]]:
    snap = w.store.snapshot()
    return [snap.rows(t) for t in (s.ORDERS, s.PAYMENTS, s.REFUNDS, s.STOCK, s.OUTBOX)]


def refund_event(w: Wiring, event_id: str, refund_id: str, status: str) -> ProviderEvent:
    return ProviderEvent(event_id, "refund.updated", w.clock.now(), "refund", refund_id, status)


def report_refund_as(w: Wiring, status: str) -> None:
    """The provider's refund object now reads ``status`` (whatever it was)."""
    real = w.provider.retrieve_refund

    def retrieve_refund(refund_id: str) -> RefundView:
        return attrs.evolve(real(refund_id), status=status)

    w.provider.retrieve_refund = retrieve_refund  # type: ignore[method-assign]


# --- S14: a late success for an order whose stock was given back -------------------------


class TestLateSuccessOfMultiLineOrders:
    def test_late_success_re_holds_every_line_when_exactly_enough_is_left(self) -> None:
        """Both lines given back, exactly one of each left: both are held again and sold."""
        w = make_shop(stock=1)
        with_processing_hold(w)
        oid, pid = processing_checkout(w, [CartItem("p_mug", 1), CartItem("p_tee", 1)])
        old = {r.line: r for r in reservations(w, oid)}
        past_the_hold(w)
        assert [r.status for r in reservations(w, oid)] == [RS.EXPIRED, RS.EXPIRED]
        assert stock(w, "SKU-MUG") == stock(w, "SKU-TEE") == (1, 0, 0)
        w.clock.advance(MINUTE)
        settled_at = w.clock.now()
        w.provider.settle(intent_of(w, pid))
        deliver_webhooks(w)
        safe(w)
        assert order_status(w, oid) is OrderStatus.PAID
        assert stock(w, "SKU-MUG") == stock(w, "SKU-TEE") == (1, 0, 1)
        fresh = [r for r in reservations(w, oid) if r.status is RS.COMMITTED]
        assert [(r.order_id, r.line, r.sku, r.quantity) for r in fresh] == [
            (oid, 0, "SKU-MUG", 1),
            (oid, 1, "SKU-TEE", 1),
        ]
        for r in fresh:
            assert r.id.startswith(f"{oid}/") and r.id != old[r.line].id
            assert r.expires_at == settled_at  # held at the moment the money arrived
        assert len({r.id for r in reservations(w, oid)}) == 4
        assert outbox(w, oid)["order_paid"] == {"amount": 3250}
        assert not w.service.refunds_of(pid)
        converged(w)
        assert not w.provider.refunds()

    def test_late_success_counts_lines_of_one_sku_together(self) -> None:
        """Two lines of one SKU need two units: with one left the order is refunded, not
        half held."""
        w = make_shop(stock=2)
        w.service.add_product("p_mug_red", "s1", "SKU-MUG", "Red mug", Money(1300, "EUR"))
        with_processing_hold(w)
        oid, pid = processing_checkout(w, [CartItem("p_mug", 1), CartItem("p_mug_red", 1)])
        past_the_hold(w)
        paid(w, [CartItem("p_mug", 1)], SESSION_2)  # one of the two mugs is sold again
        assert stock(w, "SKU-MUG") == (2, 0, 1)
        w.provider.settle(intent_of(w, pid))
        deliver_webhooks(w)
        safe(w)
        assert order_status(w, oid) is OrderStatus.OUT_OF_STOCK
        assert stock(w, "SKU-MUG") == (2, 0, 1)
        assert [r.status for r in reservations(w, oid)] == [RS.EXPIRED, RS.EXPIRED]
        (rf,) = w.service.refunds_of(pid)
        assert rf.amount == Money(2550, "EUR") and rf.automatic
        converged(w)

    def test_late_success_with_one_line_sold_out_releases_the_line_still_held(self) -> None:
        """One line given back and sold out, the other still held: the held line is
        released, the order closed as out of stock, the whole payment refunded once."""
        w = make_shop(stock=1)
        oid, pid = processing_checkout(w, [CartItem("p_mug", 1), CartItem("p_tee", 1)])

        def give_back_mug_line(u: Unit) -> None:
            # The store state a per-line hold policy leaves: the mug line went back on
            # sale (as the janitor's unhold does), the tee line is still held.
            (mug,) = [r for r in u.find(s.RESERVATIONS, "order_id", oid) if r.line == 0]
            u.move(s.RESERVATIONS, mug, RESERVATION, "expire")
            u.change_stock(mug.seller_id, mug.sku, held=-mug.quantity)

        w.service.engine.transact(give_back_mug_line)
        paid(w, [CartItem("p_mug", 1)], SESSION_2)  # the last mug is sold to someone else
        assert stock(w, "SKU-MUG") == (1, 0, 1) and stock(w, "SKU-TEE") == (1, 1, 0)
        sent = record_refund_calls(w)
        w.provider.settle(intent_of(w, pid))
        deliver_webhooks(w)
        safe(w)
        assert order_status(w, oid) is OrderStatus.OUT_OF_STOCK
        assert [(r.line, r.status) for r in reservations(w, oid)] == [
            (0, RS.EXPIRED),
            (1, RS.RELEASED),
        ]
        assert stock(w, "SKU-TEE") == (1, 0, 0) and stock(w, "SKU-MUG") == (1, 0, 1)
        assert outbox(w, oid)["order_out_of_stock"] == {"amount": 3250}
        (rf,) = w.service.refunds_of(pid)
        assert (rf.order_id, rf.amount, rf.reason, rf.automatic) == (
            oid,
            Money(3250, "EUR"),
            "requested_by_customer",
            True,
        )
        assert (rf.idempotency_key, rf.status) == ("out-of-stock", RefundStatus.PENDING)
        assert not sent  # started in the same transaction, run by the recovery worker
        assert w.service.run_recovery() == (1, 0)
        (rf,) = w.service.refunds_of(pid)
        assert rf.status is RefundStatus.SUCCEEDED and rf.provider_refund_id is not None
        assert [(c["amount"], c["reason"], c["metadata"]) for c in sent] == [
            (3250, "requested_by_customer", {"refund_id": rf.id, "order_id": oid, **mark(w, rf)})
        ]
        payment = w.service.payment(pid)
        assert (payment.amount_received, payment.amount_refunded) == (3250, 3250)
        assert order_status(w, oid) is OrderStatus.OUT_OF_STOCK  # the refund keeps it closed
        converged(w)
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [(3250, "succeeded")]


# --- refunds: what they record, send and announce -----------------------------------------


class TestRefundRecords:
    def test_manual_refund_records_its_order_reason_time_and_sends_the_reason(self) -> None:
        """A support refund is recorded as asked (not automatic) and Stripe gets its reason."""
        w = make_shop()
        oid, pid = paid(w, [CartItem("p_mug", 2)])
        sent = record_refund_calls(w)
        w.clock.advance(5 * MINUTE)
        asked_at = w.clock.now()
        res = w.service.create_refund(pid, 700, "duplicate", "support-7")
        assert (res.amount, res.status, res.payment_id) == (700, "succeeded", pid)
        (rf,) = w.service.refunds_of(pid)
        assert (rf.id, rf.order_id, rf.payment_id) == (res.refund_id, oid, pid)
        assert (rf.reason, rf.idempotency_key, rf.created_at, rf.automatic) == (
            "duplicate",
            "support-7",
            asked_at,
            False,
        )
        assert [(c["intent_id"], c["amount"], c["reason"], c["metadata"]) for c in sent] == [
            (
                intent_of(w, pid),
                700,
                "duplicate",
                {"refund_id": rf.id, "order_id": oid, **mark(w, rf)},
            )
        ]
        converged(w)

    def test_refund_of_exactly_one_minor_unit(self) -> None:
        """The smallest refund, 1 cent, is accepted; the rest stays refundable."""
        w = make_shop()
        oid, pid = paid(w, [CartItem("p_mug", 2)])
        res = w.service.create_refund(pid, 1, idempotency_key="cent")
        assert (res.amount, res.status) == (1, "succeeded")
        assert [r.amount for r in w.provider.refunds()] == [1]
        assert order_status(w, oid) is OrderStatus.PARTIALLY_REFUNDED
        assert w.service.create_refund(pid, idempotency_key="rest").amount == 2499
        assert w.service.payment(pid).amount_refunded == 2500
        converged(w)

    def test_nothing_left_to_refund_is_refused_with_the_numbers(self) -> None:
        """'Refund the rest' of a fully refunded payment: refused, saying nothing is left
        and what was captured and refunded (not "cannot refund 0")."""
        w = make_shop()
        _, pid = paid(w, [CartItem("p_mug", 1)])
        w.service.create_refund(pid, idempotency_key="all")
        with pytest.raises(err.RefundExceedsRefundable) as info:
            w.service.create_refund(pid, idempotency_key="again")
        assert info.value.fields == {"payment_id": pid, "requested": 0, "refundable": 0}
        assert info.value.message == (
            f"payment {pid} has nothing left to refund: 1250 EUR captured, 1250 EUR refunded"
        )
        assert len(w.service.refunds_of(pid)) == 1
        converged(w)

    def test_refund_of_an_unpaid_payment_names_the_payment_and_its_status(self) -> None:
        """An open payment cannot be refunded; the error carries its id and status."""
        w = make_shop()
        res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        with pytest.raises(err.PaymentNotRefundable) as info:
            w.service.create_refund(res.payment_id, 100, idempotency_key="early")
        assert info.value.fields == {"payment_id": res.payment_id, "status": "open"}
        assert info.value.message == (
            f"payment {res.payment_id} is open; only a succeeded payment can be refunded "
            "(cancel it instead)"
        )
        assert not w.service.refunds_of(res.payment_id)

    def test_bad_reason_and_key_messages_list_what_is_allowed(self) -> None:
        """The caller is told the exact reasons and key characters the provider accepts."""
        w = make_shop()
        _, pid = paid(w, [CartItem("p_mug", 1)])
        with pytest.raises(err.InvalidRefundReason) as reason:
            w.service.create_refund(pid, 100, "changed_mind", "rk-1")
        assert reason.value.message == (
            "refund reason must be one of duplicate, fraudulent, requested_by_customer or "
            "None, got 'changed_mind'"
        )
        with pytest.raises(err.InvalidIdempotencyKey) as key:
            w.service.create_refund(pid, 100, None, "rk 1")
        assert key.value.message == (
            "idempotency_key must be 1 to 200 characters of letters, digits, '_', '.', ':' or '-'"
        )
        assert not w.service.refunds_of(pid) and not w.provider.refunds()

    def test_same_key_other_amount_names_the_refund_it_made(self) -> None:
        """Reusing a key for another amount is refused and points at the first refund."""
        w = make_shop()
        _, pid = paid(w, [CartItem("p_mug", 2)])
        first = w.service.create_refund(pid, 600, idempotency_key="rma-9")
        with pytest.raises(err.IdempotencyKeyReused) as info:
            w.service.create_refund(pid, 900, idempotency_key="rma-9")
        assert info.value.code == "idempotency_key_reused"
        assert info.value.fields == {"refund_id": first.refund_id}
        assert info.value.message == (
            "idempotency key rma-9 was used for a refund of 600, not 900; "
            "use a new key for a new refund"
        )
        assert [r.amount for r in w.provider.refunds()] == [600]
        converged(w)

    def test_refund_notifications_name_order_kind_and_amount(self) -> None:
        """Paid, partly refunded, then refunded in full: one notification each, with amounts."""
        w = make_shop()
        oid, pid = paid(w, [CartItem("p_mug", 2)])
        assert outbox(w, oid) == {"order_paid": {"amount": 2500}}
        first = w.service.create_refund(pid, 1000, idempotency_key="part")
        assert outbox(w, oid)[f"refund_{first.refund_id}"] == {"amount": 1000}
        w.service.create_refund(pid, idempotency_key="rest")
        assert outbox(w, oid) == {
            "order_paid": {"amount": 2500},
            f"refund_{first.refund_id}": {"amount": 1000},
            "order_refunded": {"amount": 2500},
        }
        rows = [m for m in w.store.snapshot().rows(s.OUTBOX) if m.order_id == oid]
        assert [m.id for m in rows] == [f"{oid}:{m.kind}" for m in rows]
        w.service.dispatch_notifications()
        assert sorted(w.notifier.delivered) == sorted(f"{oid}:{m.kind}" for m in rows)
        converged(w)


# --- refunds: what the provider reports later ----------------------------------------------


class TestRefundStatusFromProvider:
    def test_refund_that_fails_after_succeeding_gives_the_amount_back(self) -> None:
        """Stripe reverses a succeeded refund: amount_refunded goes back down, and the
        amount can be refunded again."""
        w = make_shop()
        oid, pid = paid(w, [CartItem("p_mug", 2)])
        w.service.create_refund(pid, 1000, idempotency_key="rma-1")
        deliver_webhooks(w)
        (rf,) = w.service.refunds_of(pid)
        assert w.service.payment(pid).amount_refunded == 1000
        w.provider.fail_refund(rf.provider_refund_id or "")
        # refund.failed, then charge.refund.updated about the same refund: both acted on
        assert deliver_webhooks(w) == ["processed", "processed"]
        safe(w)
        (rf,) = w.service.refunds_of(pid)
        assert rf.status is RefundStatus.FAILED
        assert w.service.payment(pid).amount_refunded == 0
        again = w.service.create_refund(pid, idempotency_key="rma-2")
        assert (again.amount, again.status) == (2500, "succeeded")
        assert w.service.payment(pid).amount_refunded == 2500
        assert order_status(w, oid) is OrderStatus.REFUNDED
        converged(w)

    def test_refund_reversal_whose_webhook_is_lost_is_found_by_the_jobs(self) -> None:
        """The provider stops retrying the refund.failed webhook: the jobs still converge."""
        w = make_shop()
        _, pid = paid(w, [CartItem("p_mug", 2)])
        w.service.create_refund(pid, 1000, idempotency_key="rma-4")
        deliver_webhooks(w)
        (rf,) = w.service.refunds_of(pid)
        w.provider.fail_refund(rf.provider_refund_id or "")
        w.provider.take_events()  # the provider gave up delivering
        quiesce(w)
        assert w.service.refunds_of(pid)[0].status is RefundStatus.FAILED
        assert w.service.payment(pid).amount_refunded == 0
        assert not w.violations()
        told = w.store.snapshot().get(s.OUTBOX, f"{rf.order_id}:refund_failed_{rf.id}")
        assert told is not None and told.payload == {"amount": 1000}

    @pytest.mark.parametrize(
        ("settled", "reported"),
        [
            (True, "pending"),
            (True, "canceled"),
            (True, "requires_action"),
            (False, "requires_action"),
        ],
        ids=["late_pending", "canceled_after_success", "unknown_after_success", "unknown"],
    )
    def test_refund_status_paycore_cannot_apply_changes_nothing(
        self, settled: bool, reported: str
    ) -> None:
        """A refund status the machine refuses, or one paycore does not know (Stripe's
        requires_action), is ignored: the webhook ends cleanly and nothing moves."""
        w = make_shop()
        _, pid = paid(w, [CartItem("p_mug", 2)])
        w.provider.refunds_settle_immediately = settled
        w.service.create_refund(pid, 800, idempotency_key="rma-3")
        deliver_webhooks(w)
        (rf,) = w.service.refunds_of(pid)
        want = RefundStatus.SUCCEEDED if settled else RefundStatus.PENDING
        assert rf.status is want
        before = tables(w)
        report_refund_as(w, reported)
        event = refund_event(w, "evt_odd_status", rf.provider_refund_id or "", reported)
        assert w.service.handle_webhook(event) == "processed"
        flow = flow_of(w, "webhook:evt_odd_status")
        assert (flow.status, flow.attempts, flow.last_error) == (FlowStatus.SUCCEEDED, 0, None)
        assert (flow.result or {})["status"] == want.value
        assert tables(w) == before
        assert w.service.payment(pid).amount_refunded == (800 if settled else 0)
        safe(w)


# --- adopting an intent whose checkout flow died ------------------------------------------


def dead_checkout_with_intent(w: Wiring) -> str:
    """The intent is created but its answer is lost (its replay's too), then the list
    stays down until the checkout flow is dead-lettered: the payment is still 'creating',
    claimed by a dead flow. Returns the intent id (the webhooks about it are still
    undelivered)."""

    def fault(name: str, phase: str, key: str | None) -> None:
        if name == "create_intent" and phase == "after":
            raise err.ProviderUnavailable("injected: answer lost")
        if name == "list_intents" and phase == "before":
            raise err.ProviderUnavailable("injected: list down")

    w.provider.fault = fault
    with_config(w, retry_horizon_ms=60 * 60_000)  # the list down for longer than that
    with pytest.raises(err.FlowPending):
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    fid = f"checkout:{SESSION}"
    for _ in range(40):
        if flow_of(w, fid).status is not FlowStatus.ACTIVE:
            break
        w.clock.advance(w.service.config.backoff_cap_ms)
        w.service.run_recovery()
    assert flow_of(w, fid).status is FlowStatus.DEAD
    w.provider.fault = None
    payment = w.service.payment("pay_000001")
    assert (payment.status, payment.lock_owner) == (PaymentStatus.CREATING, fid)
    (intent,) = w.provider.intents()
    return intent.id


class TestAdoptionAfterTheCheckoutDied:
    def test_webhook_adopts_the_intent_with_its_client_secret(self) -> None:
        """The created-webhook adopts the intent the dead checkout never recorded: the
        payment gets its intent id, client secret and provider status, and can be paid."""
        w = make_shop()
        intent_id = dead_checkout_with_intent(w)
        assert deliver_webhooks(w) == ["processed"]
        safe(w)
        payment = w.service.payment("pay_000001")
        view = w.provider.retrieve_intent(intent_id)
        assert payment.status is PaymentStatus.OPEN
        assert (payment.provider_intent_id, payment.client_secret) == (
            intent_id,
            view.client_secret,
        )
        assert payment.client_secret is not None
        assert payment.provider_status == "requires_payment_method"
        assert payment.lock_owner == f"checkout:{SESSION}"  # a claim held by a dead flow ...
        res = w.service.confirm_payment("pay_000001", "pm_card_visa")  # ... does not block
        assert res.status == "succeeded"
        assert order_status(w, "ord_000001") is OrderStatus.PAID
        assert stock(w, "SKU-MUG") == (5, 0, 1)
        payment = w.service.payment("pay_000001")
        assert (payment.provider_status, payment.amount_received) == ("succeeded", 1250)
        safe(w)

    def test_webhook_adopts_an_intent_canceled_meanwhile_and_closes_the_order(self) -> None:
        """The intent was canceled at the provider before any webhook arrived: the payment
        records it as canceled with its provider status; stock goes back once."""
        w = make_shop()
        intent_id = dead_checkout_with_intent(w)
        w.provider.cancel_intent(intent_id, idempotency_key="dashboard-cancel")
        assert deliver_webhooks(w) == ["processed", "processed"]
        safe(w)
        payment = w.service.payment("pay_000001")
        assert (payment.status, payment.provider_intent_id, payment.provider_status) == (
            PaymentStatus.CANCELED,
            intent_id,
            "canceled",
        )
        assert order_status(w, "ord_000001") is OrderStatus.CANCELED
        assert [r.status for r in reservations(w, "ord_000001")] == [RS.RELEASED]
        assert stock(w, "SKU-MUG") == (5, 0, 0)
        assert "order_canceled" in outbox(w, "ord_000001")
        safe(w)


# --- a 500 saved under the refund's idempotency key ----------------------------------------


def record_keys(w: Wiring, plan: FaultPlan, call: str) -> list[str]:
    """Install ``plan`` on the provider and record the idempotency keys ``call`` is sent."""
    keys: list[str] = []

    def hook(name: str, phase: str, key: str | None) -> None:
        if name == call and phase == "before" and key is not None:
            keys.append(key)
        plan.provider_hook(name, phase, key)

    w.provider.fault = hook
    return keys


def begin_refund(w: Wiring, payment_id: str, amount: int, key: str) -> str:
    return w.service.start_refund(payment_id, amount, None, key)


class TestRefundReplayRefusedAsAnotherRequest:
    def test_a_key_answering_for_another_request_sends_the_refund_to_the_list(self) -> None:
        """The call goes unanswered; its replay is refused because the key already
        answers for other parameters (refund ids repeat after a restore from backup).
        That refusal says only that this request never ran under the key: the refund
        stays pending (its amount held), the flow records why and asks the list, and
        the refund is made once."""
        w = make_shop()
        oid, pid = paid(w, [CartItem("p_mug", 2)])
        refusals = [
            err.ProviderUnavailable("create_refund: timeout"),
            err.ProviderIdempotencyMismatch("create_refund: key used with other parameters"),
        ]

        def fault(name: str, phase: str, key: str | None) -> None:
            if name == "create_refund" and phase == "before" and refusals:
                raise refusals.pop(0)

        w.provider.fault = fault
        fid = begin_refund(w, pid, 1000, "rma-restored")
        step(w, fid, 2)  # unanswered -> replay
        assert flow_of(w, fid).step == "replay"
        step(w, fid, 2)  # refused as another request's key -> resolve
        flow = flow_of(w, fid)
        assert (flow.status, flow.step) == (FlowStatus.ACTIVE, "resolve")
        assert flow.data["last_error"] == "provider_idempotency_mismatch"
        (rf,) = w.service.refunds_of(pid)
        assert rf.status is RefundStatus.PENDING
        w.clock.advance(REFUND_LANDING_MS)
        assert run(w, fid).status is FlowStatus.SUCCEEDED
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [(1000, "succeeded")]
        assert order_status(w, oid) is OrderStatus.PARTIALLY_REFUNDED
        converged(w)


class TestRefundAfterSavedServerError:
    def test_refund_retries_with_a_new_key_after_500s_saved_under_its_keys(self) -> None:
        """Stripe replays a saved 500 for a key for 24 h: after finding no refund, each
        retry backs off and uses a key never used before, and the refund is made once."""
        w = make_shop()
        oid, pid = paid(w, [CartItem("p_mug", 2)])
        plan = FaultPlan(now=w.clock.now)
        plan.arm(FaultKind.SERVER_ERROR, "create_refund")
        plan.arm(FaultKind.SERVER_ERROR, "create_refund")
        keys = record_keys(w, plan, "create_refund")
        fid = begin_refund(w, pid, 1000, "rma-500")
        for attempt in (1, 2):
            step(w, fid, 2)  # create_refund answers 500 (saved under its key) -> replay
            assert flow_of(w, fid).step == "replay"
            step(w, fid, 2)  # the same key replays the saved 500 -> resolve
            assert flow_of(w, fid).step == "resolve"
            step(w, fid, 2)  # list_refunds: nothing yet, but a request may still land: wait
            flow = flow_of(w, fid)
            assert (flow.step, flow.last_error) == (
                "resolve",
                "no refund listed yet; a request may still land",
            )
            w.clock.advance(REFUND_LANDING_MS)
            step(w, fid, 2)  # still nothing once no request can land -> call again, later
            flow = flow_of(w, fid)
            assert (flow.status, flow.step, flow.data["keygen"]) == (
                FlowStatus.ACTIVE,
                "call",
                attempt,
            )
            assert flow.last_error == "no refund found after an unanswered call"
            assert flow.next_run_at > w.clock.now()
            assert w.service.run_recovery() == (0, 0)  # not due before its backoff
            w.clock.advance(flow.next_run_at - w.clock.now())
        assert run(w, fid).status is FlowStatus.SUCCEEDED
        assert plan.fired[FaultKind.SERVER_ERROR] == 2 and set(plan.poisoned) == set(keys[:4])
        assert keys[0] == keys[1] and keys[2] == keys[3]  # each key replayed once
        assert len(keys) == 5 and len(set(keys)) == 3
        assert all(k.startswith(f"{w.service.installation_id()}:{fid}:") for k in keys)
        assert [(r.amount, r.status) for r in w.provider.refunds()] == [(1000, "succeeded")]
        (rf,) = w.service.refunds_of(pid)
        assert rf.status is RefundStatus.SUCCEEDED
        assert w.service.payment(pid).amount_refunded == 1000
        assert order_status(w, oid) is OrderStatus.PARTIALLY_REFUNDED
        converged(w)

    def test_a_refund_recorded_while_the_flow_looked_is_not_made_again(self) -> None:
        """The first call's answer is lost (a 500 before the effect) and the flow looks for
        its refund: the list comes back empty, but the request lands late at the provider
        and its webhook records the refund before the list's answer is applied. The flow
        sees the refund recorded and ends; it does not call again under a new key (a
        second refund)."""
        w = make_shop()
        oid, pid = paid(w, [CartItem("p_mug", 2)])
        plan = FaultPlan(now=w.clock.now)
        plan.arm(FaultKind.SERVER_ERROR, "create_refund")
        record_keys(w, plan, "create_refund")
        hook = w.provider.fault
        landed: list[str] = []

        def land_late(name: str, phase: str, key: str | None) -> None:
            if hook is not None:
                hook(name, phase, key)
            if name == "list_refunds" and phase == "after" and not landed:
                (rf,) = w.service.refunds_of(pid)
                meta = {"refund_id": rf.id, "order_id": oid}
                meta |= identity(w.service.installation_id(), rf.reference)
                w.provider.fault = None  # the late request itself is no new fault
                view = w.provider.create_refund(
                    intent_of(w, pid), amount=1000, reason=None, metadata=meta,
                    idempotency_key="the-first-request-landing-late",
                )  # fmt: skip
                landed.append(view.id)
                deliver_webhooks(w)
                w.provider.fault = land_late

        w.provider.fault = land_late
        fid = begin_refund(w, pid, 1000, "rma-late")
        step(w, fid, 4)  # create_refund answers 500, its replay the saved 500 -> resolve
        assert flow_of(w, fid).step == "resolve"
        step(w, fid, 2)  # list_refunds: empty, then the late refund is recorded
        assert landed
        assert run(w, fid).status is FlowStatus.SUCCEEDED
        assert [(r.id, r.amount) for r in w.provider.refunds()] == [(landed[0], 1000)]
        (rf,) = w.service.refunds_of(pid)
        assert rf.provider_refund_id == landed[0]
        assert w.service.payment(pid).amount_refunded == 1000
        converged(w)
