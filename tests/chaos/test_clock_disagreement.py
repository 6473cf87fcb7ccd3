"""Two instances whose clocks disagree never make a refund twice.

A flow's times (``step_at``, ``lease_until``, ``next_run_at``) are written by the clock
of the instance that ran its step, and read by the clock of whichever instance resumes
it. A crash mid-call on an instance whose clock was wrong, then a restart on a host with
the right time, used to send the refund again under a key the provider had forgotten
(a second refund):

- a send step of a refund that already holds its provider refund (recorded by its
  webhook meanwhile) sends nothing: the flow ends from the refund's status;
- a step resumed from half of the key's retention on asks first, so a clock error far
  beyond the checked tolerance still lists before it resends; a ``step_at`` ahead of
  the resuming clock beyond the tolerance says the age cannot be known: ask first.

Each scenario runs on the memory store and on SQLite (which measures no clock at all).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from tests.support import Skewed, faultable, mug_shop

from paycore import schema as s
from paycore.errors import FlowPending, ProviderUnavailable
from paycore.flows.checkout import CartItem
from paycore.ports import Clock
from paycore.records import Flow
from paycore.service import PaymentService
from paycore.status import FlowStatus, RefundStatus
from paycore.tokens import RandomTokens
from paycore.written_ahead import FLOOR_MS
from paycore_adapters.memory import RecordingAlerts, RecordingNotifier, Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


class Crash(BaseException):
    """The process dies (not an error paycore could catch)."""


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def shop(kind: str, tmp_path: Path) -> Wiring:
    store = SQLiteStore(tmp_path / "shop.db", migrate=True) if kind == "sqlite" else None
    return mug_shop(faultable(in_memory(store=store)), 10)


def instance(w: Wiring, clock: Clock, worker: str, tmp_path: Path) -> PaymentService:
    """Another process on the same store (a new connection to the SQLite file)."""
    store: Any = w.store
    if isinstance(getattr(store, "inner", None), SQLiteStore):
        store = SQLiteStore(tmp_path / "shop.db")
    return PaymentService(
        store,
        w.provider,
        clock,
        RecordingAlerts(),
        RecordingNotifier(),
        None,
        worker,
        RandomTokens(),
    )


def paid(w: Wiring) -> str:
    res = w.service.create_payment_intent("cs_test_C000000001", [CartItem("p_mug", 2)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    for ev in w.provider.take_events():
        w.service.handle_webhook(ev)
    return res.payment_id


def refund_killed_mid_call(w: Wiring, svc: PaymentService, payment_id: str) -> None:
    """``svc`` asks for a refund of 500; the create reaches the provider and the process
    dies before it hears the answer."""

    def die_after(name: str, phase: str, key: str | None) -> None:
        if name == "create_refund" and phase == "after":
            raise Crash()

    w.provider.fault = die_after
    with pytest.raises(Crash):
        svc.create_refund(payment_id, 500, idempotency_key="rma-1")
    w.provider.fault = None
    assert [r.amount for r in w.provider.inner.refunds()] == [500]


def calls_from_now(w: Wiring) -> list[str]:
    made: list[str] = []

    def note(name: str, phase: str, key: str | None) -> None:
        if phase == "before":
            made.append(name)

    w.provider.fault = note
    return made


def refund_flow(w: Wiring) -> Flow:
    flow = w.store.snapshot().get(s.FLOWS, "refund:rf_000001")
    assert flow is not None
    return flow


def rounds(w: Wiring, svc: PaymentService, hours: float, webhooks: bool) -> Iterator[int]:
    """Job rounds every 10 minutes for ``hours`` (webhooks delivered, or lost)."""
    for i in range(int(hours * 6)):
        svc.run_jobs()
        events = w.provider.take_events()
        for ev in events if webhooks else []:
            svc.handle_webhook(ev)
        w.clock.advance(10 * MINUTE)
        yield i


def one_refund(w: Wiring, payment_id: str) -> None:
    made = w.provider.inner.refunds()
    assert [r.amount for r in made] == [500], made
    (rf,) = w.service.refunds_of(payment_id)
    assert rf.status is RefundStatus.SUCCEEDED and rf.provider_refund_id == made[0].id
    assert not w.violations("safety")


# --- 1. a send step never sends for a refund that holds its provider refund ------------


def test_a_resumed_call_of_a_refund_its_webhook_recorded_sends_nothing(
    kind: str, tmp_path: Path
) -> None:
    w = shop(kind, tmp_path)
    pid = paid(w)
    refund_killed_mid_call(w, w.service, pid)
    svc = instance(w, w.clock, "inst-2", tmp_path)
    for ev in w.provider.take_events():  # the webhook records the refund as succeeded
        svc.handle_webhook(ev)
    assert refund_flow(w).step == "call"
    made = calls_from_now(w)
    w.clock.advance(w.service.config.lease_ms + 1)  # the dead instance's lease lapsed
    svc.run_jobs()
    assert "create_refund" not in made  # nothing sent again: the refund holds re_...
    assert refund_flow(w).status is FlowStatus.SUCCEEDED
    one_refund(w, pid)


def test_a_refund_that_ended_is_not_sent_from_its_replay_step(kind: str, tmp_path: Path) -> None:
    """The same at ``replay`` (stepped as the harness does, without a take)."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    fid = w.service.start_refund(pid, 500, idempotency_key="rma-1")
    eng = w.service.engine
    w.provider.hold_next("create_refund")
    assert eng.step(fid).result == "provider_unavailable"  # no answer ...
    w.provider.release_requests()  # ... but the refund was made
    eng.step(fid)  # applied: the flow goes to replay
    assert refund_flow(w).step == "replay"
    for ev in w.provider.take_events():
        w.service.handle_webhook(ev)
    made = calls_from_now(w)
    for _ in range(5):
        eng.step(fid)
    assert "create_refund" not in made
    assert refund_flow(w).status is FlowStatus.SUCCEEDED
    one_refund(w, pid)


def test_a_checkout_whose_payment_holds_its_intent_sends_no_create(
    kind: str, tmp_path: Path
) -> None:
    w = shop(kind, tmp_path)
    fid = w.service.start_checkout("cs_test_C000000002", [CartItem("p_mug", 1)], chain=True)
    eng = w.service.engine
    w.provider.hold_next("create_intent")
    eng.step(fid)  # the seller check and the create; its answer never came
    w.provider.release_requests()  # ... but the intent was made
    eng.step(fid)  # applied: the flow goes to replay
    assert w.store.snapshot().get(s.FLOWS, fid).step == "replay"  # type: ignore[union-attr]
    (intent,) = w.provider.inner.intents()
    flow = w.store.snapshot().get(s.FLOWS, fid)
    assert flow is not None
    pay_id = flow.params["payment_id"]
    with w.store.transaction() as tx:  # recorded meanwhile by another path
        payment = tx.get(s.PAYMENTS, pay_id)
        assert payment is not None
        tx.update(
            s.PAYMENTS,
            attrs.evolve(
                payment,
                provider_intent_id=intent.id,
                client_secret=intent.client_secret,
                version=payment.version + 1,
            ),
        )
    made = calls_from_now(w)
    for _ in range(5):
        eng.step(fid)
    assert "create_intent" not in made
    done = w.store.snapshot().get(s.FLOWS, fid)
    assert done is not None and done.status is FlowStatus.SUCCEEDED
    assert len(w.provider.inner.intents()) == 1


# --- 2. the key's age, judged across clocks -------------------------------------------


def test_a_restart_with_a_clock_ten_minutes_earlier_lists_before_it_resends(
    kind: str, tmp_path: Path
) -> None:
    """Finding: instance 1 runs 10 minutes fast and dies mid-call; its webhook is lost.
    A day and 2 minutes later (real time) the restarted instance, with the right clock,
    resumes the call: by its clock only 23 h 52 min passed."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    fast = instance(w, Skewed(w.clock, 10 * MINUTE), "inst-1", tmp_path)
    refund_killed_mid_call(w, fast, pid)
    w.provider.take_events()  # lost
    w.clock.advance(DAY + 2 * MINUTE)
    svc = instance(w, w.clock, "inst-2", tmp_path)
    for _ in rounds(w, svc, 2, webhooks=False):
        pass
    one_refund(w, pid)


def test_a_call_resumed_half_a_retention_after_its_step_lists_first(
    kind: str, tmp_path: Path
) -> None:
    w = shop(kind, tmp_path)
    pid = paid(w)
    refund_killed_mid_call(w, w.service, pid)
    w.provider.take_events()  # lost
    w.clock.advance(w.service.config.provider_key_retention_ms // 2 + MINUTE)
    made = calls_from_now(w)
    svc = instance(w, w.clock, "inst-2", tmp_path)
    svc.run_jobs()
    assert "list_refunds" in made and "create_refund" not in made
    one_refund(w, pid)


def test_a_step_time_ahead_of_the_clock_asks_first(kind: str, tmp_path: Path) -> None:
    """Instance 1's clock is two days ahead; it dies mid-call, the webhook is lost. The
    same worker restarts with the right clock 25 h later: the step's time is 23 h in
    its future, an age no one can know, and the provider forgot the key."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    ahead = instance(w, Skewed(w.clock, 2 * DAY), "inst-1", tmp_path)
    refund_killed_mid_call(w, ahead, pid)
    w.provider.take_events()  # lost
    w.clock.advance(25 * HOUR)
    svc = instance(w, w.clock, "inst-1", tmp_path)
    made = calls_from_now(w)
    for _ in range(6):
        svc.engine.step("refund:rf_000001")
    assert "create_refund" not in made
    one_refund(w, pid)


# --- 3. times written by a clock that ran ahead ---------------------------------------


def skewed_alerts(w: Wiring) -> list[str]:
    return [a.subject for a in w.store.snapshot().rows(s.ALERTS) if a.kind == "clock_skewed"]


def test_a_lease_written_ten_days_ahead_is_taken_as_lapsed(kind: str, tmp_path: Path) -> None:
    """Finding: the host's clock is 10 days ahead for a moment; a refund's create reaches
    the provider and the process dies mid-call. The service restarts at once with the
    right clock and the webhook records the refund. Its flow, leased and due "in 10
    days", used to stay active (and unflagged) until then."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    ahead = instance(w, Skewed(w.clock, 10 * DAY), "inst-1", tmp_path)
    refund_killed_mid_call(w, ahead, pid)
    svc = instance(w, w.clock, "inst-2", tmp_path)
    for _ in rounds(w, svc, 1, webhooks=True):
        pass
    assert refund_flow(w).status is FlowStatus.SUCCEEDED
    one_refund(w, pid)
    assert skewed_alerts(w)  # the operator hears of it


def test_a_lease_written_ahead_with_its_webhook_lost_lists_and_finishes(
    kind: str, tmp_path: Path
) -> None:
    w = shop(kind, tmp_path)
    pid = paid(w)
    ahead = instance(w, Skewed(w.clock, 10 * DAY), "inst-1", tmp_path)
    refund_killed_mid_call(w, ahead, pid)
    w.provider.take_events()  # lost
    svc = instance(w, w.clock, "inst-2", tmp_path)
    made = calls_from_now(w)
    for _ in rounds(w, svc, 1, webhooks=False):
        pass
    assert "create_refund" not in made
    assert refund_flow(w).status is FlowStatus.SUCCEEDED
    one_refund(w, pid)


def test_an_expiry_written_ten_days_ahead_does_not_hold_the_stock(
    kind: str, tmp_path: Path
) -> None:
    """Finding: during the jump a customer starts a checkout and leaves. Its reservation
    expired "in 10 days" and held the stock that long, with no alert."""
    w = shop(kind, tmp_path)
    ahead = instance(w, Skewed(w.clock, 10 * DAY), "inst-1", tmp_path)
    ahead.create_payment_intent("cs_test_C000000003", [CartItem("p_mug", 1)])
    on_hand, held, _ = mug_of(w)
    assert (on_hand, held) == (10, 1)
    w.clock.advance(2 * MINUTE)  # the clock is put right
    svc = instance(w, w.clock, "inst-2", tmp_path)
    ttl = w.service.config.reservation_ttl_ms
    # Found at the first round, its expiry brought back by how far its creation was
    # ahead: it keeps its time to live from then, and expires as any order does.
    for _ in rounds(w, svc, (ttl + 20 * MINUTE) / HOUR, webhooks=True):
        pass
    assert mug_of(w)[1] == 0
    assert skewed_alerts(w)


def mug_of(w: Wiring) -> tuple[int, int, int]:
    row = w.store.snapshot().get(s.STOCK, "s1/SKU-MUG")
    assert row is not None
    return row.on_hand, row.held, row.committed


#: How far ahead of the real time a writer's clock must be for its lease (5 minutes) to
#: be taken by a reader 15 s behind: past the floor (an hour) plus twice the tolerance.
BEYOND = FLOOR_MS - 5 * MINUTE


@pytest.mark.parametrize(
    ("writer_ms", "taken"),
    [(15_000, False), (16_000, False), (BEYOND + 15_000, False), (BEYOND + 16_000, True)],
)
def test_a_live_lease_seen_by_a_clock_behind_is_left_alone(
    kind: str, tmp_path: Path, writer_ms: int, taken: bool
) -> None:
    """Two instances each within the tolerance (15 s of the default lease) disagree by up
    to 30 s: a lease the one ahead wrote, read by the one behind, is live and stays its
    holder's; so is one a clock further ahead wrote, up to the floor that no lease
    setting reaches (:data:`paycore.written_ahead.FLOOR_MS`): only one further ahead
    than the floor plus the slack was written by a clock that ran ahead."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    holder = instance(w, Skewed(w.clock, writer_ms), "inst-1", tmp_path)
    fid = holder.start_refund(pid, 500, idempotency_key="rma-1")
    reader = instance(w, Skewed(w.clock, -15_000), "inst-2", tmp_path)
    from paycore import jobs

    assert (fid in jobs.due_flows(reader.engine)) is taken
    assert bool(skewed_alerts(w)) is taken


def test_a_refund_waiting_for_its_landing_window_from_a_time_written_ahead_goes_on(
    kind: str, tmp_path: Path
) -> None:
    """During the jump the refund's create and its replay meet a 503 that sent nothing;
    its list shows no refund, so it waits for a request that might still land, counted
    from when the list step began: a time the jump wrote, 10 days ahead. The request went
    out before now whatever that time says: the wait counts from now."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    ahead = instance(w, Skewed(w.clock, 10 * DAY), "inst-1", tmp_path)

    def down(name: str, phase: str, key: str | None) -> None:
        if name == "create_refund" and phase == "before":
            raise ProviderUnavailable("503")

    w.provider.fault = down
    with pytest.raises(FlowPending):
        ahead.create_refund(pid, 500, idempotency_key="rma-1")
    w.provider.fault = None
    assert refund_flow(w).step == "resolve" and not w.provider.inner.refunds()
    w.clock.advance(2 * MINUTE)  # the clock is put right
    svc = instance(w, w.clock, "inst-2", tmp_path)
    for _ in rounds(w, svc, 1, webhooks=True):
        pass
    assert refund_flow(w).status is FlowStatus.SUCCEEDED
    one_refund(w, pid)


def test_a_checkout_waiting_at_find_from_a_time_written_ahead_goes_on(
    kind: str, tmp_path: Path
) -> None:
    """During the jump the checkout's create and its replay meet a 503 that sent nothing;
    its list shows no intent, so ``find`` waits for a create that might still land,
    counted from a time the jump wrote, 10 days ahead, while the order holds its stock.
    The request went out before the list was read whatever that time says: the wait
    counts from the read, and the checkout makes its intent once the clock is right."""
    w = shop(kind, tmp_path)
    ahead = instance(w, Skewed(w.clock, 10 * DAY), "inst-1", tmp_path)

    def down(name: str, phase: str, key: str | None) -> None:
        if name == "create_intent" and phase == "before":
            raise ProviderUnavailable("503")

    w.provider.fault = down
    with pytest.raises((FlowPending, ProviderUnavailable)):
        ahead.create_payment_intent("cs_test_C000000001", [CartItem("p_mug", 2)])
    w.provider.fault = None
    (flow,) = [f for f in w.store.snapshot().rows(s.FLOWS) if f.kind == "checkout"]
    assert flow.status is FlowStatus.ACTIVE and not w.provider.inner.intents()
    w.clock.advance(2 * MINUTE)  # the clock is put right
    svc = instance(w, w.clock, "inst-2", tmp_path)
    for _ in rounds(w, svc, 1, webhooks=True):
        pass
    (flow,) = [f for f in w.store.snapshot().rows(s.FLOWS) if f.kind == "checkout"]
    assert flow.status is FlowStatus.SUCCEEDED, (flow.step, flow.last_error)
    assert len(w.provider.inner.intents()) == 1
    assert not w.violations("safety")
