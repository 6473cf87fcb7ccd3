"""The flow engine's own guarantees, shown through confirm flows: bounded retries with
backoff, compensation then dead-letter with an alert, leases, provider errors of any
type, unknown or moved-on flows, threads, and the audit trail naming the flow."""

from __future__ import annotations

import enum
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from tests.support import begin_cancel, begin_confirm, flow_of, make_shop, run, step, with_config

from paycore import errors as err
from paycore import schema as s
from paycore.config import MAX_MS, Config
from paycore.flows.asking import asks_first_from_ms
from paycore.flows.checkout import CartItem
from paycore.flows.engine import (
    Advance,
    Engine,
    FlowDef,
    Local,
    StepReport,
    create_flow,
)
from paycore.flows.engine import step as declare
from paycore.ports import IntentView
from paycore.records import Flow
from paycore.service import PaymentService
from paycore.status import FlowStatus, OrderStatus, PaymentStatus
from paycore.unit import Unit
from paycore_adapters.memory import Wiring, in_memory

PS, OS, FS = PaymentStatus, OrderStatus, FlowStatus


@pytest.fixture
def w(shop: Wiring) -> Wiring:
    return shop  # conftest's shop also checks the safety invariants at teardown


def checkout(w: Wiring, session: str = "cs_test_engine_00001") -> str:
    return w.service.create_payment_intent(session, [CartItem("p_mug", 1)]).payment_id


def down(
    calls: set[str], exc: type[Exception] = err.ProviderUnavailable, times: int = 10**6
) -> Callable[[str, str, str | None], None]:
    """A provider fault: ``calls`` fail before taking effect, ``times`` times."""
    left = [times]

    def fault(name: str, phase: str, key: str | None) -> None:
        if name in calls and phase == "before" and left[0] > 0:
            left[0] -= 1
            raise exc(f"injected: {name} down")

    return fault


def answers_with_status(w: Wiring, method: str, status: str, times: int = 10**6) -> None:
    """The provider's ``method`` answers with an intent status paycore does not know."""
    real = getattr(w.provider, method)
    left = [times]

    def call(*args: Any, **kwargs: Any) -> IntentView:
        view: IntentView = real(*args, **kwargs)
        if left[0] > 0:
            left[0] -= 1
            return attrs.evolve(view, status=status)
        return view

    setattr(w.provider, method, call)


def step_until(w: Wiring, fid: str, done: Callable[[], bool], limit: int = 60) -> None:
    for _ in range(limit):
        if done():
            return
        step(w, fid)
    raise AssertionError(f"{fid}: condition not reached in {limit} steps")


# --- backoff ------------------------------------------------------------------------


class TestBackoff:
    @pytest.mark.parametrize("base_ms", [1, 1_000])
    def test_delay_doubles_per_attempt_with_jitter_below_a_quarter(self, base_ms: int) -> None:
        """Each retry waits twice as long (doubling stops after 10), plus at most a quarter."""
        eng = in_memory(Config(backoff_base_ms=base_ms, backoff_cap_ms=MAX_MS)).service.engine
        for attempts in range(1, 14):
            base = base_ms * 2 ** min(attempts - 1, 10)
            for n in range(12):
                delay = eng.backoff(f"confirm:pay_{n:06d}:1", attempts)
                assert isinstance(delay, int)  # times are whole milliseconds
                assert base <= delay < base + max(base // 4, 1), (attempts, n, delay)

    def test_delay_is_capped(self) -> None:
        """However many attempts, a flow waits at most backoff_cap_ms."""
        eng = in_memory().service.engine
        cap = eng.config.backoff_cap_ms
        delays = [eng.backoff("confirm:pay_000001:1", n) for n in range(1, 30)]
        assert max(delays) == cap and delays[-1] == cap
        assert delays[0] < 2 * eng.config.backoff_base_ms

    def test_jitter_is_deterministic_and_spreads_flows_over_the_whole_quarter(self) -> None:
        """Runs replay exactly, yet flows failing together do not all retry together."""
        eng = in_memory().service.engine
        delays = [eng.backoff(f"refund:rf_{n:06d}", 3) for n in range(300)]
        assert delays == [eng.backoff(f"refund:rf_{n:06d}", 3) for n in range(300)]
        jitter = [d - 4_000 for d in delays]
        assert min(jitter) < 100 and max(jitter) >= 900
        assert len(set(jitter)) > 200

    def test_provider_errors_back_off_exponentially_and_recovery_waits(self, w: Wiring) -> None:
        """After each refusal the flow counts the attempt and is not retried before its
        time; the worker keeps its lease while it works."""
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        eng = w.service.engine
        w.provider.fault = down({"confirm_intent"}, err.ProviderRateLimited, times=3)
        assert eng.step(fid).result == "provider_rate_limited"  # the timeline shows why
        step(w, fid)  # the refusal recorded
        for attempt in (1, 2, 3):
            flow = flow_of(w, fid)
            now = w.clock.now()
            assert (flow.step, flow.attempts, flow.last_error) == (
                "call",
                attempt,
                "provider_rate_limited",
            )
            assert flow.next_run_at == now + eng.backoff(fid, attempt)
            assert (flow.lease_owner, flow.lease_until) == (
                "worker-1",
                now + w.service.config.lease_ms,
            )
            calls = w.provider.calls["confirm_intent"]
            w.clock.advance(flow.next_run_at - now - 1)
            assert w.service.run_recovery() == (0, 0)  # not due yet: nothing is tried
            assert w.provider.calls["confirm_intent"] == calls
            w.clock.advance(1)
            # due: recovery makes exactly one more attempt (refused twice more, then paid)
            assert w.service.run_recovery() == ((0, 1) if attempt < 3 else (1, 0))
            assert w.provider.calls["confirm_intent"] == calls + 1
        assert flow_of(w, fid).status is FS.SUCCEEDED
        assert w.provider.calls["confirm_intent"] == 4
        assert w.service.payment(pid).status is PS.SUCCEEDED


# --- give up: compensate, then dead-letter ---------------------------------------------


class TestGiveUp:
    def test_forward_give_up_switches_to_compensation_with_fresh_bookkeeping(
        self, w: Wiring
    ) -> None:
        """Past the retry horizon the flow compensates at once, with a fresh retry budget
        and the reason kept; when compensation ends, an operator is alerted."""
        horizon = 30 * 60_000
        with_config(w, retry_horizon_ms=horizon, stall_alert_after_ms=horizon)
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        start = w.clock.now()

        def fault(name: str, phase: str, key: str | None) -> None:
            if name == "confirm_intent" and phase == "before":
                raise err.ProviderUnavailable("injected: down")
            if name == "retrieve_intent" and phase == "before":
                if w.clock.now() - start >= horizon:  # the retry that exhausts the budget
                    raise err.ProviderRateLimited("injected: 429")
                raise err.ProviderUnavailable("injected: down")

        w.provider.fault = fault
        for _ in range(40):
            if flow_of(w, fid).step == "give_up":
                break
            w.clock.advance(w.service.config.backoff_cap_ms)  # each retry when it is due
            step(w, fid)
        flow = flow_of(w, fid)
        now = w.clock.now()
        assert (flow.status, flow.step) == (FS.ACTIVE, "give_up")
        assert (flow.attempts, flow.last_error, flow.next_run_at) == (
            0,
            "provider_rate_limited",  # why forward gave up: the last retry's reason
            now,
        )
        assert flow.data["compensating"] is True and flow.data["step_at"] == now
        assert w.alerts.raised == []  # compensation has not ended yet
        flow = run(w, fid)
        assert flow.status is FS.FAILED
        message = (
            f"flow {fid} (confirm) gave up and compensated: the provider did not answer "
            f"for payment {pid}; its status will be synchronized by webhooks and the reconciler"
        )
        assert [(a.kind, a.message, a.fields) for a in w.alerts.raised] == [
            ("flow_gave_up", message, {"flow_id": fid, "flow_kind": "confirm"})
        ]
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.OPEN, None)

    def test_giving_up_closes_the_stall_alert_and_logs_the_switch(
        self, w: Wiring, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A flow that stalled and then gives up closes its stall alert (the give-up says
        the rest) and logs a WARNING naming the step, the reason and the compensation."""
        caplog.set_level(logging.WARNING, logger="paycore.flows")
        horizon = 30 * 60_000
        with_config(w, retry_horizon_ms=horizon, stall_alert_after_ms=horizon // 2)
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        w.provider.fault = down({"confirm_intent", "retrieve_intent"})
        for _ in range(40):
            if flow_of(w, fid).step == "give_up":
                break
            w.clock.advance(w.service.config.backoff_cap_ms)
            step(w, fid)
        assert flow_of(w, fid).step == "give_up"
        assert [a.kind for a in w.alerts.raised] == ["flow_stalled"]
        assert re.fullmatch(
            rf"flow {fid} \(confirm\) has been retrying for \d+ min: provider_unavailable",
            w.alerts.raised[0].message,
        )
        first = next(r for r in caplog.records if getattr(r, "attempts", None) is not None)
        assert (first.attempts, getattr(first, "reason", None)) == (1, "provider_unavailable")  # type: ignore[attr-defined]
        assert first.getMessage() == (
            f"flow {fid} (confirm) retries step {first.step} (attempt 1): provider_unavailable"  # type: ignore[attr-defined]
        )
        stalled = w.store.snapshot().get(s.ALERTS, f"flow_stalled:{fid}")
        assert stalled is not None and not stalled.open
        assert stalled.resolution == "the flow gave up"
        (switch,) = [r for r in caplog.records if getattr(r, "outcome", None) == "compensating"]
        assert switch.levelno == logging.WARNING
        assert switch.getMessage() == (
            f"flow {fid} (confirm) gave up at step sync (provider_unavailable); "
            "compensating from give_up"
        )
        assert (getattr(switch, "flow_id", None), getattr(switch, "reason", None)) == (
            fid,
            "provider_unavailable",
        )

    def test_compensation_that_keeps_failing_is_dead_lettered_with_an_alert(
        self, w: Wiring
    ) -> None:
        """A compensation that cannot finish is not compensated again: it is dead-lettered
        with its reason and data kept, and an operator is alerted once."""
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        w.provider.fault = down({"confirm_intent"})
        answers_with_status(w, "retrieve_intent", "mystery")  # a status paycore cannot map
        flow = run(w, fid)
        why = "unexpected KeyError"
        assert (flow.status, flow.step, flow.last_error) == (FS.DEAD, "give_up", why)
        assert flow.data["compensating"] is True and "step_at" in flow.data
        assert [(a.kind, a.message, a.fields) for a in w.alerts.raised] == [
            (
                "flow_dead_lettered",
                f"flow {fid} (confirm) gave up at step give_up: {why}",
                {"flow_id": fid, "flow_kind": "confirm"},
            )
        ]
        # the crashing steps rolled back: nothing half-recorded on the payment
        payment = w.service.payment(pid)
        assert (payment.status, payment.provider_status) == (PS.OPEN, "requires_payment_method")
        calls = w.provider.calls["retrieve_intent"]
        assert calls == 2 * w.service.config.max_attempts
        rows = w.store.snapshot().rows(s.AUDIT)
        dead = [a.flow_id for a in rows if a.aggregate_id == fid and a.trigger == "dead_letter"]
        assert dead == [fid]  # the audit names the flow that gave up

    def test_flow_without_compensation_is_dead_lettered_after_its_retries(self, w: Wiring) -> None:
        """A refund has nothing to compensate: after its retries it is dead-lettered."""
        with_config(w, retry_horizon_ms=0)
        pid = checkout(w)
        w.service.confirm_payment(pid, "pm_card_visa")
        codes: list[str] = []

        def fault(name: str, phase: str, key: str | None) -> None:
            if name == "create_refund" and phase == "before":
                raise err.ProviderUnavailable("injected: down")
            if name == "list_refunds" and phase == "before":
                exc = (err.ProviderUnavailable, err.ProviderRateLimited)[len(codes) % 2]
                codes.append(exc.code)
                raise exc("injected")

        w.provider.fault = fault
        with pytest.raises(err.FlowPending):
            w.service.create_refund(pid, 500, idempotency_key="stuck-refund")
        fid = f"refund:{w.service.refunds_of(pid)[0].id}"
        flow = run(w, fid)
        why = codes[-1]  # the reason of the retry that exhausted the budget
        assert (flow.status, flow.step, flow.last_error) == (FS.DEAD, "resolve", why)
        assert "compensating" not in flow.data and "step_at" in flow.data
        assert [(a.kind, a.message, a.fields) for a in w.alerts.raised] == [
            (
                "flow_dead_lettered",
                f"flow {fid} (refund) gave up at step resolve: {why}, past the retry horizon",
                {"flow_id": fid, "flow_kind": "refund"},
            )
        ]

    def test_dead_letter_by_strikes_is_audited_under_its_flow(self, w: Wiring) -> None:
        """A flow whose step keeps failing before any call is dead-lettered by its strikes;
        the audit entry of that change names the flow, as every flow's change does."""
        with_config(w, max_attempts=1)
        pid = checkout(w)
        real = w.service.engine.defs["refund"]

        def broken(flow: Flow) -> Any:
            raise RuntimeError("cannot build the step")

        steps = {n: attrs.evolve(spec, run=broken) for n, spec in real.steps.items()}
        w.service.engine.defs["refund"] = attrs.evolve(real, steps=steps)
        w.service.confirm_payment(pid, "pm_card_visa")
        with pytest.raises(err.FlowPending):
            w.service.create_refund(pid, 500, idempotency_key="never-built")
        fid = f"refund:{w.service.refunds_of(pid)[0].id}"
        assert flow_of(w, fid).status is FS.DEAD
        (entry,) = [
            a
            for a in w.store.snapshot().rows(s.AUDIT)
            if a.aggregate_id == fid and a.to_status == "dead"
        ]
        assert entry.flow_id == fid

    def test_alert_decided_by_a_commit_whose_ack_was_lost_is_still_raised(self, w: Wiring) -> None:
        """The commit that ends a compensation may have happened: alert anyway (an alert
        twice beats an alert lost)."""
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        w.provider.fault = down({"confirm_intent", "retrieve_intent"})
        with_config(w, retry_horizon_ms=0)
        step_until(w, fid, lambda: flow_of(w, fid).step == "give_up")
        step(w, fid)  # the give-up's provider call (fails too)
        w.store.faults = AckLost()
        with pytest.raises(err.CommitUnknown):
            step(w, fid)
        w.store.faults = None
        assert flow_of(w, fid).status is FS.FAILED  # it did commit
        assert [(a.kind, a.fields["flow_id"]) for a in w.alerts.raised] == [("flow_gave_up", fid)]


class AckLost:
    """Store faults: the next commit is applied, then its acknowledgement is lost."""

    def __init__(self) -> None:
        self.left = 1

    def before_commit(self) -> None:
        pass

    def after_commit(self) -> None:
        if self.left:
            self.left -= 1
            raise err.CommitUnknown("injected: commit applied, acknowledgement lost")


# --- stepping and running ---------------------------------------------------------------


class TestStepping:
    def test_stepping_a_flow_that_does_not_exist_reports_inactive(self, w: Wiring) -> None:
        """A stale id in a worker's queue is a no-op, not a crash; running it says it vanished."""
        eng = w.service.engine
        assert eng.step("confirm:pay_nope:1") == StepReport(
            "confirm:pay_nope:1", "?", "-", "none", "inactive", None
        )
        with pytest.raises(err.LeaseLost) as info:
            eng.run("confirm:pay_nope:1")
        assert info.value.message == "flow confirm:pay_nope:1 vanished"
        assert info.value.fields == {"flow_id": "confirm:pay_nope:1"}

    def test_stepping_a_finished_flow_reports_inactive_and_changes_nothing(self, w: Wiring) -> None:
        """A finished flow stepped again (a late worker) keeps its result."""
        pid = checkout(w)
        w.service.confirm_payment(pid, "pm_card_visa")
        fid = f"confirm:{pid}:1"
        before = flow_of(w, fid)
        report = w.service.engine.step(fid)
        assert (report.kind, report.result, report.flow) == ("confirm", "inactive", before)
        assert flow_of(w, fid) == before

    def test_provider_raising_a_non_provider_error_is_treated_as_unavailable(
        self, w: Wiring
    ) -> None:
        """An adapter letting a vendor exception through must not crash the flow: the call
        counts as unanswered and the flow asks the provider what happened."""
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        w.provider.fault = down({"confirm_intent"}, RuntimeError, times=1)
        before = flow_of(w, fid)
        report = w.service.engine.step(fid)
        assert report == StepReport(
            fid, "confirm", "call", "call:confirm_intent", "provider_unavailable", before
        )
        step(w, fid)
        flow = flow_of(w, fid)
        assert (flow.step, flow.attempts) == ("sync", 0)
        assert flow.data["last_error"] == "provider_unavailable"
        flow = run(w, fid)  # the provider says nothing happened
        assert flow.status is FS.SUCCEEDED and (flow.result or {})["status"] == "open"
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.OPEN, None)

    def test_held_answers_name_each_flow_its_version_call_and_outcome(self, w: Wiring) -> None:
        """What a crash would lose: the answer a provider step holds, until it is applied."""
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None and w.service.engine.held_answers() == []
        before = flow_of(w, fid)
        w.service.engine.step(fid)
        ((held_fid, version, remote, outcome),) = w.service.engine.held_answers()
        assert (held_fid, version, remote.call_name) == (fid, before.version, "confirm_intent")
        assert outcome.ok and outcome.value is not None and outcome.value.status == "succeeded"
        w.service.engine.step(fid)
        assert w.service.engine.held_answers() == []

    def test_unmappable_answer_is_rolled_back_retried_and_reported_pending(self, w: Wiring) -> None:
        """A step that crashes leaves no partial write; the caller is told the operation is
        recorded and pending (with the reason), and recovery finishes it later."""
        pid = checkout(w)
        answers_with_status(w, "confirm_intent", "mystery", times=1)
        fid = f"confirm:{pid}:1"
        why = "unexpected KeyError"
        with pytest.raises(err.FlowPending) as info:
            w.service.confirm_payment(pid, "pm_card_visa")
        assert info.value.message == (
            f"operation {fid} is recorded but not finished ({why}); "
            "the recovery worker will finish it: poll its status or retry the call"
        )
        assert info.value.fields == {"flow_id": fid}
        flow = flow_of(w, fid)
        assert (flow.status, flow.step, flow.attempts, flow.last_error) == (
            FS.ACTIVE,
            "call",
            1,
            why,
        )
        assert flow.next_run_at == w.clock.now() + w.service.engine.backoff(fid, 1)
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.OPEN, fid)
        w.clock.advance(w.service.config.backoff_cap_ms)
        assert w.service.run_recovery() == (1, 0)
        assert w.service.payment(pid).status is PS.SUCCEEDED
        assert w.service.order(w.service.payment(pid).order_id).status is OS.PAID  # type: ignore[union-attr]

    def test_retry_record_for_a_flow_that_moved_on_is_dropped(self, w: Wiring) -> None:
        """A crashed step's retry is recorded only on the version it started from: a flow
        another worker moved on (or finished) is left as that worker left it."""
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        eng = w.service.engine
        started = flow_of(w, fid).version
        w.provider.fault = down({"confirm_intent"}, times=1)
        step(w, fid, 2)  # moved on to "sync", still active
        moved = flow_of(w, fid)
        assert (moved.status, moved.step) == (FS.ACTIVE, "sync")

        def retry_from(version: int) -> str:
            return eng.transact(  # type: ignore[no-any-return]
                lambda u: eng._advance_if_current(u, fid, version, "unexpected X")
            )

        assert retry_from(started) == "lease_lost"
        assert flow_of(w, fid) == moved
        assert retry_from(moved.version).startswith("retry:unexpected X")
        assert (flow_of(w, fid).attempts, flow_of(w, fid).last_error) == (1, "unexpected X")
        finished = run(w, fid)
        assert retry_from(finished.version) == "lease_lost"
        assert flow_of(w, fid) == finished

    def test_local_step_commits_its_decision_in_one_transaction(self, w: Wiring) -> None:
        """A Local step (a store-only step) runs in one transaction with its flow's move."""
        eng = Engine(
            w.store,
            w.provider,
            w.clock,
            w.alerts,
            w.service.config,
            {"probe": FlowDef("probe", {Probe.ONLY: declare(lambda f: Local(_note_and_finish))})},
        )
        eng.transact(lambda u: create_flow(u, "probe:1", "probe", "only"))
        report = eng.step("probe:1")
        flow = flow_of(w, "probe:1")
        assert report == StepReport("probe:1", "probe", "only", "tx", "succeeded", flow)
        assert (flow.status, flow.result) == (FS.SUCCEEDED, {"seen": "probe:1"})
        audit = [a for a in w.store.snapshot().rows(s.AUDIT) if a.aggregate_id == "probe:1"]
        assert [(a.trigger, a.flow_id) for a in audit] == [("create", None), ("finish", "probe:1")]

    @pytest.mark.parametrize(
        ("exc", "why"),
        [
            (
                err.IllegalTransition("order o1 cannot pay twice"),
                "illegal_transition: order o1 cannot pay twice",
            ),
            (ValueError("order o1 cannot pay twice"), "unexpected ValueError"),
        ],
        ids=["paycore_error", "bug"],
    )
    def test_step_that_raises_keeps_no_partial_write_and_retries_with_the_reason(
        self, w: Wiring, exc: Exception, why: str
    ) -> None:
        """A crashing step rolls back everything it wrote; the flow backs off with the
        error's code and message (or, for an error not paycore's, its type only: the
        message may quote data) as its reason instead of blocking workers."""
        eng = probe_engine(w, exc)
        eng.transact(lambda u: create_flow(u, "probe:1", "probe", "only"))
        report = eng.step("probe:1")
        reason = why
        assert report == StepReport("probe:1", "probe", "only", "tx", f"retry:{reason}")
        flow = flow_of(w, "probe:1")
        assert (flow.status, flow.step, flow.attempts, flow.last_error) == (
            FS.ACTIVE,
            "only",
            1,
            reason,
        )
        assert flow.next_run_at == w.clock.now() + eng.backoff("probe:1", 1)
        assert w.store.snapshot().get(s.FLOWS, "probe:side") is None  # rolled back

    def test_store_failure_in_a_step_reaches_the_caller_and_keeps_nothing(self, w: Wiring) -> None:
        """A store outage is not the flow's fault: the caller sees it, the flow is untouched."""
        eng = probe_engine(w, err.OperationalError("injected: store down"))
        eng.transact(lambda u: create_flow(u, "probe:1", "probe", "only"))
        before = flow_of(w, "probe:1")
        with pytest.raises(err.OperationalError):
            eng.step("probe:1")
        assert flow_of(w, "probe:1") == before
        assert w.store.snapshot().get(s.FLOWS, "probe:side") is None

    def test_run_stopped_by_its_step_bound_drops_the_answer_it_holds(self) -> None:
        """A run that stops right after a provider call must not keep that answer: recovery
        would skip the flow forever; dropped, recovery repeats the call with the same key."""
        w = make_shop()
        pid = checkout(w)
        svc = PaymentService(  # a service whose synchronous calls take at most 3 steps
            w.store, w.provider, w.clock, w.alerts, w.notifier, Config(max_steps_per_run=3)
        )
        w.provider.fault = down({"confirm_intent"}, times=1)
        with pytest.raises(err.FlowPending):
            svc.confirm_payment(pid, "pm_card_visa")  # call, -> sync, ask: bound hit
        assert not svc.engine.has_inflight(f"confirm:{pid}:1")
        assert w.provider.calls["retrieve_intent"] == 1
        assert svc.run_recovery() == (1, 0)
        assert w.service.payment(pid).status is PS.OPEN  # the first confirm never happened
        assert w.provider.calls["retrieve_intent"] == 2

    def test_run_of_a_flow_waiting_in_backoff_still_records_the_answer_in_hand(
        self, w: Wiring
    ) -> None:
        """Run early (before its retry time), a flow makes its call and records the answer
        before it stops waiting: an answer in hand is never thrown away."""
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        w.provider.fault = down({"confirm_intent"}, err.ProviderRateLimited, times=1)
        step(w, fid, 2)
        assert flow_of(w, fid).next_run_at > w.clock.now()
        assert w.service.engine.run(fid).status is FS.SUCCEEDED
        assert w.service.payment(pid).status is PS.SUCCEEDED

    def test_stale_answer_of_a_worker_whose_lease_lapsed_is_dropped(self, w: Wiring) -> None:
        """Fencing: a worker that stalled after its provider call must not apply that answer
        once another worker took the flow over and finished it; effects happen once."""
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        before = flow_of(w, fid)
        report = w.service.engine.step(fid)  # worker-1: confirmed, answer held; it stalls
        assert report == StepReport(fid, "confirm", "call", "call:confirm_intent", "ok", before)
        w.clock.advance(w.service.config.lease_ms + 1)  # its lease lapses
        other = PaymentService(
            w.store, w.provider, w.clock, w.alerts, w.notifier, worker_id="worker-2"
        )
        assert other.run_recovery() == (1, 0)  # worker-2 repeats the call (same key), applies
        finished = flow_of(w, fid)
        assert finished.status is FS.SUCCEEDED
        report = w.service.engine.step(fid)  # worker-1 wakes up with its old answer
        assert report == StepReport(fid, "?", "?", "apply:confirm_intent", "lease_lost")
        assert flow_of(w, fid) == finished
        rows = w.store.snapshot().rows(s.AUDIT)
        assert sum(a.aggregate == "payment" and a.trigger == "succeed" for a in rows) == 1
        assert sum(a.aggregate == "reservation" and a.trigger == "commit" for a in rows) == 1
        assert w.provider.calls["confirm_intent"] == 2

    def test_each_step_renews_the_workers_lease(self, w: Wiring) -> None:
        """A worker that keeps stepping a flow keeps it: each step extends its lease."""
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        w.provider.fault = down({"confirm_intent"}, times=1)
        w.clock.advance(20_000)
        step(w, fid, 2)
        flow = flow_of(w, fid)
        assert (flow.lease_owner, flow.lease_until) == (
            "worker-1",
            w.clock.now() + w.service.config.lease_ms,
        )
        assert flow.next_run_at == w.clock.now() and flow.data["step_at"] == w.clock.now()


def probe_engine(w: Wiring, exc: Exception) -> Engine:
    """An engine with one flow kind whose only step writes a row, then raises ``exc``."""

    def write_then_raise(u: Unit, flow: Flow) -> Advance:
        create_flow(u, "probe:side", "probe", "only")
        raise exc

    only = FlowDef("probe", {Probe.ONLY: declare(lambda f: Local(write_then_raise))})
    return Engine(w.store, w.provider, w.clock, w.alerts, w.service.config, {"probe": only})


class Probe(enum.StrEnum):
    ONLY = "only"


def _note_and_finish(u: Unit, flow: Flow) -> Advance:
    return Advance(done={"seen": u.flow_id})


class TestAskFirstAfterKeyRetention:
    def test_provider_step_resumed_at_key_retention_asks_before_calling(self, w: Wiring) -> None:
        """Stripe forgets keys after 24 h: a confirm resumed from half that age on (the
        key's age is judged by two clocks) asks the provider first, since a repeated call
        could act twice."""
        late = asks_first_from_ms(w.service.config)
        early_pid, due_pid = checkout(w), checkout(w, "cs_test_engine_00002")
        early, due = begin_confirm(w, early_pid), begin_confirm(w, due_pid)
        assert early is not None and due is not None
        w.clock.advance(late - 1)  # both workers crashed before their call
        assert w.service.engine.step(early).effect == "call:confirm_intent"
        w.clock.advance(1)
        report = w.service.engine.step(due)
        assert (report.effect, flow_of(w, due).step) == ("tx", "sync")
        assert w.provider.calls["confirm_intent"] == 1  # only the early one called
        assert run(w, due).status is FS.SUCCEEDED
        assert w.service.payment(due_pid).status is PS.OPEN  # nothing happened: confirm again
        assert w.provider.calls["confirm_intent"] == 1

    def test_key_age_counts_from_when_the_step_first_used_its_key(self, w: Wiring) -> None:
        """A cancel sent back to its call step later uses a new key from then on: its age
        is counted from that moment, not from the flow's creation."""
        pid = checkout(w)
        fid = begin_cancel(w, pid)
        assert fid is not None
        w.provider.fault = down({"cancel_intent"}, times=1)
        step(w, fid, 2)  # the cancel fails -> sync
        w.clock.advance(11 * 3_600_000)  # the sync runs 11 hours later
        step(w, fid, 2)  # still cancelable -> back to call, new key generation
        flow = flow_of(w, fid)
        assert (flow.step, flow.data["step_at"]) == ("call", w.clock.now())
        late = asks_first_from_ms(w.service.config)
        w.clock.advance(late - 1)  # old since creation, young since the step began
        assert w.service.engine.step(fid).effect == "call:cancel_intent"
        assert run(w, fid).status is FS.SUCCEEDED
        assert w.service.payment(pid).status is PS.CANCELED


# --- threads ------------------------------------------------------------------------------


def blocking_confirms(
    w: Wiring, only: str | None = None
) -> tuple[threading.Event, threading.Event, list[str]]:
    """confirm_intent (of intent ``only``, or of any) blocks until released; returns
    (entered, release, idempotency keys seen)."""
    entered, release = threading.Event(), threading.Event()
    keys: list[str] = []
    real = w.provider.confirm_intent

    def confirm(intent_id: str, **kwargs: Any) -> IntentView:
        keys.append(kwargs["idempotency_key"])
        if only is None or intent_id == only:
            entered.set()
            assert release.wait(10), "never released"
        return real(intent_id, **kwargs)

    w.provider.confirm_intent = confirm  # type: ignore[method-assign]
    return entered, release, keys


class TestThreads:
    def test_two_threads_running_one_flow_take_turns_and_call_the_provider_once(self) -> None:
        """A double-clicked confirm: the second call waits and finds the first one's result."""
        w = make_shop()
        pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        entered, release, keys = blocking_confirms(w)
        results: list[Any] = []
        threads = [
            threading.Thread(target=lambda: results.append(w.service.engine.run(fid)))
            for _ in range(2)
        ]
        threads[0].start()
        assert entered.wait(10)
        threads[1].start()
        threads[1].join(0.2)  # give the second thread time to reach the flow
        salt = flow_of(w, fid).data["key_salt"]  # the flow's own random part
        first = f"{w.service.installation_id()}:{fid}:{salt}:confirm:0"
        assert keys == [first]  # it waits; it does not call the provider
        release.set()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
        assert [f.status for f in results] == [FS.SUCCEEDED, FS.SUCCEEDED]
        assert keys == [first] and w.provider.calls["confirm_intent"] == 1
        assert w.service.payment(pid).status is PS.SUCCEEDED

    def test_runs_of_different_flows_do_not_wait_for_each_other(self) -> None:
        """One slow provider call must not stall every other payment of the process."""
        w = make_shop()
        slow_pid = checkout(w)
        fast_pid = checkout(w, "cs_test_engine_00002")
        slow = begin_confirm(w, slow_pid)
        fast = begin_confirm(w, fast_pid)
        assert slow is not None and fast is not None
        slow_intent = w.service.payment(slow_pid).provider_intent_id
        entered, release, _ = blocking_confirms(w, only=slow_intent)
        slow_t = threading.Thread(target=lambda: w.service.engine.run(slow), name="slow")
        slow_t.start()
        assert entered.wait(10)
        fast_result: list[Any] = []
        fast_t = threading.Thread(
            target=lambda: fast_result.append(w.service.engine.run(fast)), name="fast"
        )
        fast_t.start()
        fast_t.join(10)
        finished_first = not fast_t.is_alive()
        release.set()
        slow_t.join(10)
        fast_t.join(10)
        assert finished_first, "the fast flow waited for the slow one"
        assert [f.status for f in fast_result] == [FS.SUCCEEDED]
        assert w.service.payment(slow_pid).status is PS.SUCCEEDED


# --- audit ----------------------------------------------------------------------------------


def test_audit_rows_name_the_flow_that_made_each_change(w: Wiring) -> None:
    """Every status change is traceable to the operation that made it."""
    pid = checkout(w)
    w.service.confirm_payment(pid, "pm_card_visa")
    fid = f"confirm:{pid}:1"
    rows = w.store.snapshot().rows(s.AUDIT)
    by_confirm = {(a.aggregate, a.trigger) for a in rows if a.flow_id == fid}
    assert {("payment", "succeed"), ("order", "pay"), ("reservation", "commit")} <= by_confirm
    created = [a for a in rows if a.aggregate == "payment" and a.trigger == "create"]
    assert [a.flow_id for a in created] == [None]  # begun by the caller, before any flow ran
    adopted = [a for a in rows if a.aggregate == "payment" and a.trigger == "intent_created"]
    assert [a.flow_id for a in adopted] == ["checkout:cs_test_engine_00001"]
