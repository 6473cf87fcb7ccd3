"""Findings S5 S6 S7 S9 S10 S13 S14 S17 S18: the seed's scenarios with real faults and
step-level interleavings; each asserts its guarantee, safety during and all invariants once
quiet."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import attrs
import pytest
from tests.support import (
    SESSION,
    SESSION_2,
    begin_cancel,
    begin_confirm,
    converged,
    deliver_webhooks,
    flow_of,
    make_shop,
    mug,
    quiesce,
    run,
    safe,
    step,
    with_config,
)

from paycore import errors as err
from paycore import jobs
from paycore import schema as s
from paycore import status as st
from paycore.flows.checkout import CartItem
from paycore.ports import ProviderEvent
from paycore_adapters.memory import Wiring

OS, PS, RS, FS = st.OrderStatus, st.PaymentStatus, st.ReservationStatus, st.FlowStatus
RF = st.RefundStatus
TDS = "pm_card_threeDSecure2Required"


@pytest.fixture
def w(shop: Wiring) -> Wiring:
    return shop  # conftest's shop also checks the safety invariants at teardown


# --- faults and drivers ---------------------------------------------------------------


class FailCommits:
    """Store faults: the next ``n`` commits fail before (rolled back) or after (applied)."""

    def __init__(self, n: int = 1, *, after: bool = False) -> None:
        self.left, self.after = n, after

    def before_commit(self) -> None:
        if not self.after and self.left > 0:
            self.left -= 1
            raise err.OperationalError("injected: store down before commit")

    def after_commit(self) -> None:
        if self.after and self.left > 0:
            self.left -= 1
            raise err.CommitUnknown("injected: commit applied, acknowledgement lost")


def provider_fails(
    calls: set[str], phase: str, times: int = 10**9, exc: type[Exception] = err.ProviderUnavailable
) -> Callable[..., None]:
    """A provider fault: ``calls`` raise ``exc`` at ``phase``, ``times`` times."""
    left = [times]

    def fault(name: str, ph: str, key: str | None) -> None:
        if name in calls and ph == phase and left[0] > 0:
            left[0] -= 1
            raise exc(f"injected: {name} {phase}")

    return fault


def store_fails_after(w: Wiring, call: str) -> None:
    """The provider's ``call`` takes effect, then the store's next transaction fails."""

    def fault(name: str, phase: str, key: str | None) -> None:
        if name == call and phase == "after":
            w.store.faults = FailCommits()

    w.provider.fault = fault


def recover(w: Wiring) -> None:
    """Faults off, the crashed worker's lease lapses, the recovery worker runs."""
    w.provider.fault = w.store.faults = None
    w.clock.advance(w.service.config.lease_ms + 1)
    w.service.run_recovery()


def short_horizon(w: Wiring) -> None:
    """Transient failures give up after an hour instead of days (and alert only then)."""
    with_config(w, retry_horizon_ms=3_600_000, stall_alert_after_ms=3_600_000)


def recover_rounds(w: Wiring, n: int = 20) -> None:
    """Recovery runs ``n`` times, each after the longest backoff, faults left as they are."""
    for _ in range(n):
        w.clock.advance(w.service.config.backoff_cap_ms)
        w.service.run_recovery()
        safe(w)


def begin_webhook(w: Wiring, event: ProviderEvent) -> str | None:
    return w.service.start_webhook(event)


def begin_refund(
    w: Wiring, pid: str, amount: int | None, key: str, *, restock: bool = False
) -> str:
    return w.service.start_refund(pid, amount, None, key, restock=restock)


def schedules(a: int, b: int) -> list[str]:
    """Every interleaving of ``a`` steps of operation A with ``b`` steps of operation B."""
    return [
        "".join("A" if i in pos else "B" for i in range(a + b))
        for pos in itertools.combinations(range(a + b), a)
    ]


class Op:
    """An operation driven token by token: the first token begins it, later ones step it."""

    LOSES = (err.PaymentBusy, err.PaymentNotCancelable, err.PaymentNotConfirmable)

    def __init__(self, w: Wiring, begin: Callable[[], str | None]) -> None:
        self.w, self.begin, self.started = w, begin, False
        self.fid: str | None = None
        self.error: Exception | None = None

    def tick(self) -> None:
        if not self.started:
            self.started = True
            try:
                self.fid = self.begin()
            except self.LOSES as exc:
                self.error = exc
        elif self.fid is not None:
            step(self.w, self.fid)

    def finish(self) -> st.FlowStatus | None:
        """Run the flow to its end (whatever steps the schedule left); its final status."""
        return None if self.fid is None else run(self.w, self.fid).status


def assert_taken(w: Wiring, event: ProviderEvent, hook: Op) -> None:
    """The webhook took the event: its flow ran to success, or (begun once the payment
    was final) it was taken in with no flow, as nothing it could learn would matter."""
    entry = w.store.snapshot().get(s.INBOX, event.id)
    assert entry is not None
    if hook.finish() is None:
        assert entry.flow_id == "" and w.service.payment(pid_of(w, event)).status is PS.SUCCEEDED
    else:
        assert hook.finish() is FS.SUCCEEDED


def pid_of(w: Wiring, event: ProviderEvent) -> str:
    (payment,) = [
        p for p in w.store.snapshot().rows(s.PAYMENTS) if p.provider_intent_id == event.object_id
    ]
    return payment.id


def step_until_inflight(w: Wiring, fid: str) -> None:
    """Step until the flow's provider call is made and its answer is held in memory."""
    for _ in range(10):
        if w.service.engine.has_inflight(fid):
            return
        step(w, fid)
    raise AssertionError(f"{fid} made no provider call")


# --- reading state ----------------------------------------------------------------


def checkout(w: Wiring, session: str = SESSION, qty: int = 1) -> tuple[str, str]:
    res = w.service.create_payment_intent(session, [CartItem("p_mug", qty)])
    return res.order_id, res.payment_id


def paid(w: Wiring, qty: int = 2) -> tuple[str, str]:
    oid, pid = checkout(w, qty=qty)
    assert w.service.confirm_payment(pid, "pm_card_visa").status == "succeeded"
    return oid, pid


def order(w: Wiring, oid: str) -> st.OrderStatus:
    o = w.service.order(oid)
    assert o is not None
    return o.status


def intent(w: Wiring, pid: str) -> str:
    iid = w.service.payment(pid).provider_intent_id
    return next(v.status for v in w.provider.intents() if v.id == iid)


def reservations(w: Wiring, oid: str) -> list[st.ReservationStatus]:
    return [r.status for r in w.store.snapshot().rows(s.RESERVATIONS) if r.order_id == oid]


def audit(w: Wiring, aggregate: str, trigger: str) -> int:
    rows = w.store.snapshot().rows(s.AUDIT)
    return sum(a.aggregate == aggregate and a.trigger == trigger for a in rows)


def outbox(w: Wiring, kind: str) -> list[str]:
    return [m.order_id for m in w.store.snapshot().rows(s.OUTBOX) if m.kind == kind]


def effects_once(w: Wiring, oid: str) -> None:
    """Order paid, its one mug committed once, one order_paid notification sent."""
    w.service.dispatch_notifications()
    assert order(w, oid) is OS.PAID
    assert mug(w) == (5, 0, 1) and reservations(w, oid) == [RS.COMMITTED]
    assert audit(w, "reservation", "commit") == 1 and outbox(w, "order_paid") == [oid]
    assert [k for k in w.notifier.delivered if k.endswith(":order_paid")] == [f"{oid}:order_paid"]


CANCEL_FAULTS = [
    "crash_before_provider_call",
    "crash_after_provider_cancel",
    "store_fails_recording_cancel",
    "commit_ack_lost_recording_cancel",
    "answer_lost_then_crash_in_sync",
]


def inject_cancel_fault(w: Wiring, fid: str, fault: str) -> None:
    if fault == "answer_lost_then_crash_in_sync":
        w.provider.fault = provider_fails({"cancel_intent"}, "after", times=1)
        step(w, fid, 3)  # cancel (applied, answer lost) -> record "sync" -> retrieve
    elif fault != "crash_before_provider_call":
        step(w, fid)  # canceled at the provider; the answer is only in memory
    if fault.endswith("recording_cancel"):
        after = fault.startswith("commit_ack")
        w.store.faults = FailCommits(after=after)
        with pytest.raises(err.CommitUnknown if after else err.OperationalError):
            step(w, fid)
    w.service.engine.forget_inflight()


class TestS05CancelPartialFailure:
    """S5: cancel is a resumable flow; any crash or error between steps is completed by
    recovery, never left half done."""

    @pytest.mark.parametrize("fault", CANCEL_FAULTS)
    def test_fault_at_each_cancel_step_is_completed_by_recovery(
        self, w: Wiring, fault: str
    ) -> None:
        """A crash or store failure at any cancel step leaves all-or-nothing; recovery ends it."""
        oid, pid = checkout(w)
        fid = begin_cancel(w, pid)
        assert fid is not None
        inject_cancel_fault(w, fid, fault)
        safe(w)
        assert (w.service.payment(pid).status, order(w, oid), mug(w)) in {
            (PS.OPEN, OS.PENDING, (5, 1, 0)),  # nothing recorded yet ...
            (PS.CANCELED, OS.CANCELED, (5, 0, 0)),  # ... or all of it, never half
        }
        recover(w)
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.CANCELED, None)
        assert order(w, oid) is OS.CANCELED
        assert intent(w, pid) == "canceled" and flow_of(w, fid).status is FS.SUCCEEDED
        assert reservations(w, oid) == [RS.RELEASED] and mug(w) == (5, 0, 0)
        assert audit(w, "reservation", "release") == 1
        converged(w)

    def test_cancel_given_up_after_provider_canceled_is_completed_by_jobs(self, w: Wiring) -> None:
        """Provider canceled, every answer and webhook lost until it gave up: jobs finish it."""
        oid, pid = checkout(w)
        lost = provider_fails({"cancel_intent"}, "after")
        down = provider_fails({"retrieve_intent"}, "before")
        w.provider.fault = lambda *a: (lost(*a), down(*a))
        short_horizon(w)
        with pytest.raises(err.FlowPending):
            w.service.cancel_payment(pid)
        recover_rounds(w)
        assert intent(w, pid) == "canceled"
        w.provider.fault = None
        w.provider.take_events()  # the webhooks are lost too
        w.service.run_jobs()
        assert w.service.payment(pid).status is PS.CANCELED
        assert order(w, oid) is OS.CANCELED and mug(w) == (5, 0, 0)
        converged(w)

    def test_store_failure_right_after_provider_cancel_is_completed_by_recovery(
        self, w: Wiring
    ) -> None:
        """cancel_payment: provider canceled, then the store fails: recovery completes it."""
        oid, pid = checkout(w)
        store_fails_after(w, "cancel_intent")
        with pytest.raises(err.OperationalError):
            w.service.cancel_payment(pid)
        recover(w)
        assert w.service.payment(pid).status is PS.CANCELED
        assert order(w, oid) is OS.CANCELED and mug(w) == (5, 0, 0)


class TestS06RefundStateManagement:
    """S6: refunds are recorded, validated against the refundable amount under a lock,
    idempotent by key, update order status, and restock when the caller says so."""

    def test_refunds_recorded_update_order_and_restock_when_asked(self, w: Wiring) -> None:
        """Partial refund -> partially_refunded, no restock; the rest with restock=True ->
        refunded, stock back."""
        oid, pid = checkout(w, qty=2)
        with pytest.raises(err.PaymentNotRefundable):  # nothing captured yet
            w.service.create_refund(pid, 100, idempotency_key="rk-1")
        w.service.confirm_payment(pid, "pm_card_visa")  # 2500 captured
        with pytest.raises(err.RefundExceedsRefundable):
            w.service.create_refund(pid, 2501, idempotency_key="rk-2")
        r1 = w.service.create_refund(pid, 1000, "requested_by_customer", "rk-1")
        assert (r1.amount, r1.status) == (1000, "succeeded")
        assert order(w, oid) is OS.PARTIALLY_REFUNDED and mug(w) == (5, 0, 2)
        assert w.service.payment(pid).amount_refunded == 1000
        r2 = w.service.create_refund(pid, None, None, "rk-2", restock=True)
        assert r2.amount == 1500 and order(w, oid) is OS.REFUNDED
        assert reservations(w, oid) == [RS.RETURNED] and mug(w) == (5, 0, 0)
        recs = w.service.refunds_of(pid)
        assert [r.id for r in recs] == [r1.refund_id, r2.refund_id]
        assert [r.status for r in recs] == [RF.SUCCEEDED] * 2
        assert all(r.provider_refund_id for r in recs)
        assert sum(r.amount for r in w.provider.refunds()) == 2500
        converged(w)

    def test_full_refund_without_restock_keeps_the_goods_sold(self, w: Wiring) -> None:
        """A refund alone says nothing about the goods: the order is refunded, its stock
        stays committed (item 12)."""
        oid, pid = checkout(w, qty=2)
        w.service.confirm_payment(pid, "pm_card_visa")
        w.service.create_refund(pid, None, None, "rk-1")
        assert order(w, oid) is OS.REFUNDED
        assert reservations(w, oid) == [RS.COMMITTED] and mug(w) == (5, 0, 2)
        converged(w)

    def test_same_key_returns_same_refund_even_after_a_crash(self, w: Wiring) -> None:
        """Same request and key: the same refund, one provider refund; another amount (or
        everything left): IdempotencyKeyReused."""
        _, pid = paid(w)
        w.provider.fault = provider_fails({"create_refund"}, "after", times=1)
        fid = begin_refund(w, pid, 900, "once")
        step(w, fid)  # refunded at the provider, answer lost, then the worker crashes
        w.service.engine.forget_inflight()
        w.provider.fault = None
        first = w.service.create_refund(pid, 900, idempotency_key="once")
        assert first.refund_id == fid.split(":")[1] and first.status == "succeeded"
        assert w.service.create_refund(pid, 900, idempotency_key="once") == first
        for other in (800, None):  # "everything left" is another request, not a replay
            with pytest.raises(err.IdempotencyKeyReused):
                w.service.create_refund(pid, other, idempotency_key="once")
        assert len(w.service.refunds_of(pid)) == 1
        assert [r.amount for r in w.provider.refunds()] == [900]
        converged(w)

    @pytest.mark.parametrize("crash", [False, True], ids=["answer_lost", "answer_lost_crash"])
    def test_refund_with_lost_answer_is_resolved_without_double_refund(
        self, w: Wiring, crash: bool
    ) -> None:
        """Provider refunded but the answer was lost (and the worker crashed): one refund,
        and the restock asked for happens once."""
        oid, pid = paid(w)
        w.provider.fault = provider_fails({"create_refund"}, "after", times=1)
        fid = begin_refund(w, pid, 2500, "lost", restock=True)
        step(w, fid)
        if crash:
            w.service.engine.forget_inflight()
            recover(w)
        else:
            run(w, fid)
        safe(w)
        (rf,) = w.service.refunds_of(pid)
        assert flow_of(w, fid).status is FS.SUCCEEDED and rf.status is RF.SUCCEEDED
        assert [r.amount for r in w.provider.refunds()] == [2500]
        assert order(w, oid) is OS.REFUNDED and mug(w) == (5, 0, 0)
        converged(w)


def cancel_during_outage(w: Wiring) -> tuple[str, str, str]:
    """cancel_payment while the provider never answers; recovery runs until it stops."""
    oid, pid = checkout(w)
    w.provider.fault = provider_fails({"cancel_intent", "retrieve_intent"}, "before")
    short_horizon(w)
    with pytest.raises(err.FlowPending) as info:
        w.service.cancel_payment(pid)
    recover_rounds(w)
    return oid, pid, str(info.value.fields["flow_id"])


class TestS07ReleaseFailureNotSwallowed:
    """S7: a failed compensation is persisted (outbox), retried with backoff, and raises an
    alert after repeated failure; stock is never lost."""

    def test_failing_release_keeps_work_persisted_and_stock_held(self, w: Wiring) -> None:
        """The release tx failing repeatedly keeps the flow durable; recovery releases once."""
        oid, pid = checkout(w)
        fid = begin_cancel(w, pid)
        assert fid is not None
        for _ in range(3):
            step(w, fid)  # canceled at the provider (then replayed with the same key)
            w.store.faults = FailCommits()
            with pytest.raises(err.OperationalError):
                step(w, fid)  # recording the cancel and releasing fail together
            safe(w)
        assert intent(w, pid) == "canceled" and flow_of(w, fid).status is FS.ACTIVE
        assert reservations(w, oid) == [RS.HELD] and mug(w) == (5, 1, 0)
        recover(w)
        assert reservations(w, oid) == [RS.RELEASED] and mug(w) == (5, 0, 0)
        assert audit(w, "reservation", "release") == 1
        converged(w)

    def test_refund_that_keeps_failing_backs_off_then_dead_letters_with_alert(
        self, w: Wiring
    ) -> None:
        """Bounded retries with backoff, then a dead letter and an alert; the amount stays
        held until the provider answers again and the reconciler revives the refund."""
        _, pid = paid(w)
        w.provider.fault = provider_fails({"create_refund", "list_refunds"}, "before")
        short_horizon(w)
        with pytest.raises(err.FlowPending):
            w.service.create_refund(pid, 1000, idempotency_key="stuck")
        fid = f"refund:{w.service.refunds_of(pid)[0].id}"
        waiting = flow_of(w, fid)
        assert waiting.status is FS.ACTIVE and waiting.next_run_at > w.clock.now()
        calls = sum(w.provider.calls.values())
        w.service.run_recovery()  # its backoff has not elapsed: no new attempt
        assert sum(w.provider.calls.values()) == calls
        recover_rounds(w)
        assert flow_of(w, fid).status is FS.DEAD
        assert w.provider.calls["list_refunds"] <= w.service.config.max_attempts
        alerts = [(a.kind, a.fields["flow_id"]) for a in w.alerts.raised]
        assert alerts == [("flow_dead_lettered", fid)]
        with pytest.raises(err.RefundExceedsRefundable):  # the stuck 1000 still counts
            w.service.create_refund(pid, 1501, idempotency_key="rk-3")
        # It died of the outage: once the provider answers, the reconciler revives it
        # (its resolve step lists first), and the refund is made once.
        quiesce(w)
        assert flow_of(w, fid).status is FS.SUCCEEDED
        assert [r.amount for r in w.provider.refunds()] == [1000]
        assert not w.violations()

    def test_cancel_during_outage_is_bounded_and_loses_no_stock(self, w: Wiring) -> None:
        """A cancel that keeps failing stops after bounded attempts; its stock stays held."""
        oid, pid, _ = cancel_during_outage(w)
        assert sum(w.provider.calls.values()) <= 2 * w.service.config.max_attempts + 4
        assert not any(f.status is FS.ACTIVE for f in w.store.snapshot().rows(s.FLOWS))
        assert w.service.payment(pid).lock_owner is None and intent(w, pid) != "canceled"
        assert order(w, oid) is OS.PENDING and mug(w) == (5, 1, 0)
        converged(w)  # the janitor ends it once the provider is back
        assert order(w, oid) is OS.CANCELED and mug(w) == (5, 0, 0)

    def test_cancel_that_keeps_failing_raises_an_alert(self, w: Wiring) -> None:
        """A cancel that gave up after repeated provider failures alerts an operator."""
        _, _, fid = cancel_during_outage(w)
        assert fid in [a.fields.get("flow_id") for a in w.alerts.raised]


class TestS09ConfirmCancelRace:
    """S9: confirm and cancel of one payment are serialized; a canceled payment is never
    confirmed, a succeeded one never canceled locally."""

    @pytest.mark.parametrize("schedule", schedules(3, 3))
    def test_every_interleaving_of_confirm_and_cancel(self, schedule: str) -> None:
        """Seed timeline in every step order: one wins, the loser gets a clean error."""
        w = make_shop()
        oid, pid = checkout(w)
        confirm = Op(w, lambda: begin_confirm(w, pid))  # A: begin, call, apply
        cancel = Op(w, lambda: begin_cancel(w, pid))  # B: begin, call, apply
        for who in schedule:
            (confirm if who == "A" else cancel).tick()
            safe(w)
        assert confirm.finish() in (None, FS.SUCCEEDED) and cancel.finish() in (None, FS.SUCCEEDED)
        status = w.service.payment(pid).status
        won = status is PS.SUCCEEDED
        assert status in (PS.SUCCEEDED, PS.CANCELED) and intent(w, pid) == status.value
        loser = cancel if won else confirm
        assert loser.fid is None and isinstance(loser.error, Op.LOSES)
        assert audit(w, "payment", "cancel" if won else "succeed") == 0
        want = (OS.PAID, (5, 0, 1)) if won else (OS.CANCELED, (5, 0, 0))
        assert (order(w, oid), mug(w)) == want
        with pytest.raises(err.PaymentNotCancelable if won else err.PaymentNotConfirmable):
            (w.service.cancel_payment if won else w.service.confirm_payment)(pid)
        converged(w)

    def test_crashed_confirm_keeps_cancel_out_until_recovery(self, w: Wiring) -> None:
        """Confirmed, then a crash: cancel is busy; recovery pays it (S17: no webhook needed)."""
        oid, pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        step(w, fid)
        w.service.engine.forget_inflight()
        w.provider.take_events()  # and every webhook is lost
        with pytest.raises(err.PaymentBusy):
            w.service.cancel_payment(pid)
        recover(w)
        effects_once(w, oid)
        with pytest.raises(err.PaymentNotCancelable):
            w.service.cancel_payment(pid)
        converged(w)

    def test_customer_confirm_at_provider_during_cancel_is_never_canceled_locally(
        self, w: Wiring
    ) -> None:
        """The browser confirms before our cancel reaches the provider: it is a sale."""
        oid, pid = checkout(w)
        fid = begin_cancel(w, pid)
        assert fid is not None
        w.provider.customer_confirm(w.service.payment(pid).provider_intent_id, "pm_card_visa")
        flow = run(w, fid)
        assert flow.status is FS.FAILED and (flow.result or {})["error"] == "payment_not_cancelable"
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.SUCCEEDED, None)
        assert order(w, oid) is OS.PAID and mug(w) == (5, 0, 1)
        assert audit(w, "payment", "cancel") == 0
        converged(w)


class TestS10WebhookVsClientConfirm:
    """S10: confirmation effects (stock commit, order status, notification) happen exactly
    once, whoever confirms first."""

    @pytest.mark.parametrize("schedule", schedules(5, 3))
    def test_every_interleaving_of_webhook_and_client_confirm_3ds(self, schedule: str) -> None:
        """3-D Secure passed: client re-confirm (A) and webhook (B) in any order: effects once."""
        w = make_shop()
        oid, pid = checkout(w)
        assert w.service.confirm_payment(pid, TDS).requires_action
        w.provider.complete_action(w.service.payment(pid).provider_intent_id)
        (ev,) = [e for e in w.provider.take_events() if e.type == "payment_intent.succeeded"]
        client = Op(w, lambda: begin_confirm(w, pid, "pm_card_visa"))
        hook = Op(w, lambda: begin_webhook(w, ev))
        for who in schedule:
            (client if who == "A" else hook).tick()
            safe(w)
        assert client.finish() in (None, FS.SUCCEEDED)
        assert_taken(w, ev, hook)
        effects_once(w, oid)
        assert w.service.handle_webhook(ev) == "duplicate"
        converged(w)

    @pytest.mark.parametrize("schedule", schedules(1, 3))
    def test_seed_race_webhook_during_client_confirm(self, w: Wiring, schedule: str) -> None:
        """Provider confirmed; the client's apply (A) and the webhook (B) in any order: once."""
        oid, pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        step(w, fid)  # confirmed at the provider; the answer is only in memory
        (ev,) = [e for e in w.provider.take_events() if e.type == "payment_intent.succeeded"]
        hook = Op(w, lambda: begin_webhook(w, ev))
        for who in schedule:
            if who == "A":
                step(w, fid)
            else:
                hook.tick()
            safe(w)
        assert run(w, fid).status is FS.SUCCEEDED
        assert_taken(w, ev, hook)
        effects_once(w, oid)
        for e in w.provider.all_events:  # the rest once, then every event redelivered
            w.service.handle_webhook(e)
        sent = w.notifier.attempts
        assert {w.service.handle_webhook(e) for e in w.provider.all_events} == {"duplicate"}
        w.service.dispatch_notifications()
        assert w.notifier.attempts == sent
        effects_once(w, oid)
        converged(w)

    def test_late_processing_event_never_moves_succeeded_back(self, w: Wiring) -> None:
        """A processing webhook fetched before settlement and applied after success: no-op."""
        oid, pid = checkout(w)
        w.service.confirm_payment(pid, "pm_successDelayed_de")
        (late,) = [e for e in w.provider.take_events() if e.type == "payment_intent.processing"]
        fid = begin_webhook(w, late)
        assert fid is not None
        step_until_inflight(w, fid)  # fetched: processing
        w.provider.settle(w.service.payment(pid).provider_intent_id)
        deliver_webhooks(w)
        flow = run(w, fid)  # the stale view arrives after success: a no-op, not an error
        assert (flow.status, flow.attempts, flow.last_error) == (FS.SUCCEEDED, 0, None)
        payment = w.service.payment(pid)
        assert (payment.status, payment.provider_status) == (PS.SUCCEEDED, "succeeded")
        for ev in reversed(w.provider.all_events):  # everything again, newest first
            w.service.handle_webhook(ev)
        effects_once(w, oid)
        converged(w)

    def test_late_created_event_never_moves_processing_back(self, w: Wiring) -> None:
        """A created webhook fetched before the confirm and applied after it: still processing."""
        _, pid = checkout(w)
        (created,) = w.provider.take_events()
        fid = begin_webhook(w, created)
        assert fid is not None
        step_until_inflight(w, fid)  # fetched: requires_payment_method
        assert w.service.confirm_payment(pid, "pm_successDelayed_de").status == "processing"
        run(w, fid)
        assert w.service.payment(pid).status is PS.PROCESSING


class TestS13PartialRefundTracking:
    """S13: sum of refunds (pending + succeeded) never exceeds the captured amount, under
    concurrency."""

    def test_interleaved_refunds_cannot_exceed_captured(self, w: Wiring) -> None:
        """Two refunds interleaved step by step: the one that would over-refund is refused."""
        _, pid = paid(w)  # 2500
        a = begin_refund(w, pid, 1500, "a")
        step(w, a)  # A's provider call is made; its answer is only in memory
        with pytest.raises(err.RefundExceedsRefundable) as info:
            begin_refund(w, pid, 1500, "b")
        assert info.value.fields["refundable"] == 1000
        b = begin_refund(w, pid, 1000, "b2")
        for fid in (b, a, b):
            step(w, fid)
            safe(w)
        assert sorted(r.amount for r in w.provider.refunds()) == [1000, 1500]
        assert w.service.payment(pid).amount_refunded == 2500
        with pytest.raises(err.RefundExceedsRefundable):
            w.service.create_refund(pid, 1, idempotency_key="rk-4")
        converged(w)

    def test_pending_refunds_count_against_refundable(self, w: Wiring) -> None:
        """Pending refunds hold their amount; the order is refunded once they settle, and
        restocked as its last refund asked even though that one settled first."""
        oid, pid = paid(w)
        w.provider.refunds_settle_immediately = False
        r1 = w.service.create_refund(pid, 2000, idempotency_key="p1")
        assert r1.status == "pending" and order(w, oid) is OS.PAID
        with pytest.raises(err.RefundExceedsRefundable):
            w.service.create_refund(pid, 501, idempotency_key="rk-5")
        p2 = w.service.create_refund(pid, 500, idempotency_key="p2", restock=True)
        assert p2.status == "pending"
        safe(w)
        for rf in reversed(w.service.refunds_of(pid)):  # the restocking one settles first
            w.provider.settle_refund(rf.provider_refund_id or "")
        deliver_webhooks(w)
        assert {r.status for r in w.service.refunds_of(pid)} == {RF.SUCCEEDED}
        assert order(w, oid) is OS.REFUNDED and mug(w) == (5, 0, 0)
        converged(w)

    @pytest.mark.parametrize("how", ["network_fails_pending", "provider_refuses"])
    def test_refund_that_failed_frees_its_amount(self, w: Wiring, how: str) -> None:
        """A refund that failed (settling, or refused outright) no longer counts against it."""
        oid, pid = paid(w)
        if how == "provider_refuses":
            refuse = err.ProviderInvalidRequest
            w.provider.fault = provider_fails({"create_refund"}, "before", exc=refuse)
            with pytest.raises(err.ProviderInvalidRequest):
                w.service.create_refund(pid, 2500, idempotency_key="f1")
        else:
            w.provider.refunds_settle_immediately = False
            w.service.create_refund(pid, 2500, idempotency_key="f1")
            rf = w.service.refunds_of(pid)[0]
            w.provider.settle_refund(rf.provider_refund_id or "", success=False)
            deliver_webhooks(w)
        assert w.service.refunds_of(pid)[0].status is RF.FAILED and order(w, oid) is OS.PAID
        w.provider.fault, w.provider.refunds_settle_immediately = None, True
        assert w.service.create_refund(pid, 2500, idempotency_key="f2").status == "succeeded"
        assert order(w, oid) is OS.REFUNDED
        converged(w)


def expired_3ds_checkout(w: Wiring) -> tuple[str, str]:
    """A checkout waiting for 3-D Secure past its reservation TTL."""
    oid, pid = checkout(w)
    assert w.service.confirm_payment(pid, TDS).requires_action
    w.clock.advance(w.service.config.reservation_ttl_ms + 1)
    return oid, pid


class TestS14ReservationExpiry:
    """S14: stock held for a payment is released only once that payment can no longer
    succeed; a payment that succeeds after its stock is gone is refunded automatically,
    never oversold."""

    def test_seed_timeline_stock_resold_late_confirm_fails_cleanly(self) -> None:
        """Reserve, delay past TTL, janitor, stock resold, late completion fails: no oversell."""
        w = make_shop(stock=1)
        oid, pid = expired_3ds_checkout(w)
        with pytest.raises(err.OutOfStock):  # still held for the first customer
            checkout(w, SESSION_2)
        assert w.service.run_janitor() == 1
        assert intent(w, pid) == "canceled" and reservations(w, oid) == [RS.EXPIRED]
        oid2, pid2 = checkout(w, SESSION_2)
        w.service.confirm_payment(pid2, "pm_card_visa")
        with pytest.raises(err.PaymentNotConfirmable):
            w.service.confirm_payment(pid, "pm_card_visa")
        with pytest.raises(err.ProviderInvalidRequest):
            w.provider.complete_action(w.service.payment(pid).provider_intent_id)
        assert order(w, oid) is OS.CANCELED and order(w, oid2) is OS.PAID
        assert mug(w) == (1, 0, 1)
        converged(w)

    def test_janitor_cancels_at_provider_before_releasing_stock(self, w: Wiring) -> None:
        """Step by step, its first cancel failing: stock stays held until the cancel is recorded."""
        oid, pid = expired_3ds_checkout(w)
        w.provider.fault = provider_fails({"cancel_intent"}, "before", times=1)
        (fid,) = jobs.janitor(w.service.engine)
        step(w, fid, 2)  # the cancel fails: nothing may be released
        assert intent(w, pid) == "requires_action" and mug(w) == (5, 1, 0)
        step(w, fid, 3)  # retrieve (still cancelable), record, cancel again with a new key
        assert intent(w, pid) == "canceled" and mug(w) == (5, 1, 0)
        safe(w)
        step(w, fid)
        assert reservations(w, oid) == [RS.EXPIRED] and mug(w) == (5, 0, 0)
        assert order(w, oid) is OS.CANCELED
        converged(w)

    def test_3ds_completed_racing_janitor_cancel_is_sold_never_oversold(self) -> None:
        """3-D Secure passed just before the janitor's cancel lands: its kept stock is sold once."""
        w = make_shop(stock=1)
        oid, pid = expired_3ds_checkout(w)
        (fid,) = jobs.janitor(w.service.engine)
        w.provider.complete_action(w.service.payment(pid).provider_intent_id)
        assert (run(w, fid).result or {})["error"] == "payment_not_cancelable"
        assert w.service.payment(pid).status is PS.SUCCEEDED
        assert order(w, oid) is OS.PAID and mug(w) == (1, 0, 1)
        with pytest.raises(err.OutOfStock):
            checkout(w, SESSION_2)
        assert not w.service.refunds_of(pid)
        converged(w)

    @pytest.mark.parametrize("settles", [True, False], ids=["settles", "fails"])
    def test_processing_payment_keeps_its_stock_until_it_settles(
        self, w: Wiring, settles: bool
    ) -> None:
        """A browser-confirmed processing payment past TTL: the janitor cannot free its stock."""
        oid, pid = checkout(w)
        iid = w.service.payment(pid).provider_intent_id or ""
        w.provider.customer_confirm(iid, "pm_successDelayed_de")  # no webhook delivered yet
        w.clock.advance(w.service.config.reservation_ttl_ms + 1)
        assert w.service.run_janitor() == 1  # it believes "open": the provider refuses
        assert w.service.payment(pid).status is PS.PROCESSING
        assert w.service.run_janitor() == 0  # known to be processing: left alone
        assert order(w, oid) is OS.PENDING and mug(w) == (5, 1, 0)
        safe(w)
        w.provider.settle(iid, success=settles)
        deliver_webhooks(w)
        w.service.run_janitor()
        want = (OS.PAID, (5, 0, 1)) if settles else (OS.CANCELED, (5, 0, 0))
        assert (order(w, oid), mug(w)) == want
        converged(w)


class TestS17ConfirmUpdatesOrder:
    """S17: a synchronous success updates order and commits stock at once; the webhook then
    finds nothing left to do."""

    def test_sync_success_pays_order_without_webhook_then_webhook_is_noop(self, w: Wiring) -> None:
        """No webhook yet: order paid, stock committed, notified; the webhooks change nothing."""
        oid, pid = checkout(w)
        assert w.service.confirm_payment(pid, "pm_card_visa").status == "succeeded"
        assert w.provider.take_events() and not w.store.snapshot().rows(s.INBOX)
        effects_once(w, oid)
        tables = (s.ORDERS, s.PAYMENTS, s.RESERVATIONS, s.STOCK, s.OUTBOX, s.REFUNDS)
        before = [w.store.snapshot().rows(t) for t in tables]
        for ev in w.provider.all_events:
            # the charge's own events (charge.succeeded) are acknowledged as ignored
            want = "ignored:unsupported_object_kind" if ev.object_kind == "charge" else "processed"
            assert w.service.handle_webhook(ev) == want
        assert [w.store.snapshot().rows(t) for t in tables] == before
        converged(w)

    def test_store_failure_right_after_provider_confirm_is_finished_by_recovery(
        self, w: Wiring
    ) -> None:
        """Provider confirmed, then the store fails, webhooks lost: recovery pays the order."""
        oid, pid = checkout(w)
        store_fails_after(w, "confirm_intent")
        with pytest.raises(err.OperationalError):
            w.service.confirm_payment(pid, "pm_card_visa")
        w.provider.take_events()
        recover(w)
        effects_once(w, oid)


class TestS18StaleIntentCleanup:
    """S18: a janitor cancels abandoned intents at the provider first, then releases stock
    and closes orders; its cost grows with the stale work, not the table size."""

    def test_abandoned_checkouts_are_canceled_then_released(self, w: Wiring) -> None:
        """Plain and 3-D Secure checkouts abandoned past TTL: canceled, stock back, closed."""
        plain, p1 = checkout(w, qty=2)
        tds, p2 = checkout(w, SESSION_2)
        w.service.confirm_payment(p2, TDS)
        w.clock.advance(w.service.config.reservation_ttl_ms - 1)
        assert w.service.run_janitor() == 0 and mug(w) == (5, 3, 0)
        w.clock.advance(1)
        assert w.service.run_janitor() == 2
        for oid, pid in ((plain, p1), (tds, p2)):
            assert intent(w, pid) == "canceled" and order(w, oid) is OS.CANCELED
            assert reservations(w, oid) == [RS.EXPIRED]
        assert mug(w) == (5, 0, 0) and outbox(w, "order_canceled") == [plain, tds]
        assert w.service.run_janitor() == 0
        converged(w)

    def test_janitor_touches_only_stale_work(self, w: Wiring) -> None:
        """One provider call for the one stale checkout; fresh and paid checkouts untouched."""
        stale, _ = checkout(w, "cs_test_stale_000001")
        paid_orders = [checkout(w, f"cs_test_paid_00000{i}") for i in range(2)]
        for _, pid in paid_orders:
            w.service.confirm_payment(pid, "pm_card_visa")
        w.clock.advance(10 * 60_000)
        fresh, fresh_pid = checkout(w, "cs_test_fresh_000001")
        w.clock.advance(6 * 60_000)
        before = sum(w.provider.calls.values())
        assert w.service.run_janitor() == 1
        assert sum(w.provider.calls.values()) - before == 1  # one cancel_intent, nothing else
        assert order(w, stale) is OS.CANCELED and order(w, fresh) is OS.PENDING
        assert intent(w, fresh_pid) == "requires_payment_method"
        assert all(order(w, o) is OS.PAID for o, _ in paid_orders)
        assert mug(w) == (5, 1, 2)
        converged(w)


class TestS14LateSuccessAfterStockGiven:
    """S14: a payment that succeeds after its stock is gone is refunded automatically,
    never oversold; if stock is left, the order takes it again."""

    def _processing_checkout(self, stock: int) -> tuple[Wiring, str, str]:
        w = make_shop(stock=stock)
        w.service.config = attrs.evolve(w.service.config, processing_hold_ms=60 * 60_000)
        w.service.engine.config = w.service.config
        res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        assert w.service.confirm_payment(res.payment_id, "pm_successDelayed_de").status == (
            "processing"
        )
        return w, res.order_id, res.payment_id

    def _past_hold(self, w: Wiring) -> None:
        cfg = w.service.config
        w.clock.advance(cfg.reservation_ttl_ms + (cfg.processing_hold_ms or 0))
        w.service.run_janitor()

    def test_processing_stock_is_kept_until_the_hold_ends(self) -> None:
        """Within the shop's hold the janitor leaves a processing payment's stock held."""
        w, _, _ = self._processing_checkout(stock=1)
        w.clock.advance(w.service.config.reservation_ttl_ms + 1)
        w.service.run_janitor()
        assert w.store.snapshot().tables["stock"]["s1/SKU-MUG"].held == 1
        assert not w.violations("safety")

    def test_late_success_after_stock_resold_is_refunded_never_oversold(self) -> None:
        """Stock given back and sold to another buyer; the late success refunds itself."""
        w, order_id, payment_id = self._processing_checkout(stock=1)
        self._past_hold(w)
        assert w.store.snapshot().tables["stock"]["s1/SKU-MUG"].held == 0
        other = w.service.create_payment_intent(SESSION_2, [CartItem("p_mug", 1)])
        w.service.confirm_payment(other.payment_id, "pm_card_visa")
        intent = w.service.payment(payment_id).provider_intent_id
        assert intent is not None
        w.provider.settle(intent, success=True)
        deliver_webhooks(w)
        assert not w.violations("safety"), w.violations("safety")
        order = w.service.order(order_id)
        assert order is not None and order.status == "out_of_stock"
        quiesce(w)
        assert not w.violations(), w.violations()
        refunds = [r for r in w.provider.refunds() if r.intent_id == intent]
        assert [(r.amount, r.status) for r in refunds] == [(1250, "succeeded")]
        stock = w.store.snapshot().tables["stock"]["s1/SKU-MUG"]
        assert (stock.on_hand, stock.held, stock.committed) == (1, 0, 1)
        assert "ord_000001:order_out_of_stock" in w.notifier.delivered

    def test_late_success_with_stock_left_takes_it_again(self) -> None:
        """Stock given back but not sold: the late success holds and commits it again."""
        w, order_id, payment_id = self._processing_checkout(stock=2)
        self._past_hold(w)
        intent = w.service.payment(payment_id).provider_intent_id
        assert intent is not None
        w.provider.settle(intent, success=True)
        deliver_webhooks(w)
        order = w.service.order(order_id)
        assert order is not None and order.status == "paid"
        quiesce(w)
        assert not w.violations(), w.violations()
        assert not w.provider.refunds()
        stock = w.store.snapshot().tables["stock"]["s1/SKU-MUG"]
        assert (stock.on_hand, stock.held, stock.committed) == (2, 0, 1)
