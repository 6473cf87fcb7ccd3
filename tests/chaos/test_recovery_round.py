"""A recovery round goes on past a flow that fails with an exception that is not
paycore's: that flow costs a strike and is retried later, every other due flow still
runs, and the exception is recorded by its type only (its message may hold a secret)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
import pytest
from tests.support import flow_of, make_shop

from paycore import errors as err
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.engine import Effect, FlowDef
from paycore.records import Flow
from paycore.status import FlowStatus
from paycore_adapters.memory import Wiring

SECRET = "sk_live_do_not_log_me"
FIRST, SECOND = "cs_test_round_00001", "cs_test_round_00002"


def two_due_checkouts() -> Wiring:
    """Two checkouts whose intent creation met an outage; both are due for recovery."""
    w = make_shop()

    def down(name: str, phase: str, key: str | None) -> None:
        if name == "create_intent" and phase == "before":
            raise err.ProviderUnavailable("injected: provider down")

    w.provider.fault = down
    for session in (FIRST, SECOND):
        with pytest.raises(err.FlowPending):
            w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
    # Each waited for a late request of its key to land; none did: each goes on to create
    # under a new key, after a backoff.
    w.clock.advance(w.service.config.create_landing_ms)
    assert w.service.run_recovery() == (0, 2)
    assert {flow_of(w, f"checkout:{s}").step for s in (FIRST, SECOND)} == {"create"}
    w.provider.fault = None
    w.clock.advance(w.service.config.backoff_cap_ms)
    return w


def no_secret_anywhere(w: Wiring, caplog: pytest.LogCaptureFixture) -> None:
    snap = w.store.snapshot()
    for table in (s.FLOWS, s.ALERTS, s.AUDIT):
        assert SECRET not in repr(list(snap.rows(table)))
    assert SECRET not in repr([(a.kind, a.message, a.fields) for a in w.alerts.raised])
    assert SECRET not in caplog.text


class TestRecoveryRoundGoesOn:
    def test_raw_error_from_the_provider_call_of_the_first_flow(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The first due flow's provider calls raise a RuntimeError (taken as no answer: its
        create, then the replay of its key): the second flow still finishes in the same
        round, the first waits for a retry."""
        caplog.set_level(logging.DEBUG)
        w = two_due_checkouts()
        first = f"checkout:{FIRST}"
        before = flow_of(w, first)
        raised: list[str] = []

        def raw_for_first(name: str, phase: str, key: str | None) -> None:
            if phase == "before" and key is not None and first in key:
                raised.append(name)
                raise RuntimeError(f"vendor said: {SECRET}")

        w.provider.fault = raw_for_first
        assert w.service.run_recovery() == (1, 1)
        assert raised == ["create_intent", "create_intent"]
        assert flow_of(w, f"checkout:{SECOND}").status is FlowStatus.SUCCEEDED
        after = flow_of(w, first)
        assert after.status is FlowStatus.ACTIVE
        assert after.attempts == before.attempts + 1
        assert after.next_run_at > w.clock.now()
        no_secret_anywhere(w, caplog)

    def test_raw_error_in_the_first_flows_own_step(self, caplog: pytest.LogCaptureFixture) -> None:
        """A step that raises a RuntimeError before any provider call (a bug, a record this
        code cannot read) costs that flow a strike; the round still finishes the second."""
        caplog.set_level(logging.DEBUG)
        w = two_due_checkouts()
        first = f"checkout:{FIRST}"
        before = flow_of(w, first)
        engine = w.service.engine
        real = engine.defs["checkout"]

        def broken(step: Callable[[Flow], Effect]) -> Callable[[Flow], Effect]:
            def build(flow: Flow) -> Effect:
                if flow.id == first:
                    raise RuntimeError(f"cannot read {SECRET}")
                return step(flow)

            return build

        steps = {
            name: attrs.evolve(spec, run=broken(spec.run)) for name, spec in real.steps.items()
        }
        engine.defs["checkout"] = attrs.evolve(real, steps=steps)
        assert w.service.run_recovery() == (1, 1)
        assert flow_of(w, f"checkout:{SECOND}").status is FlowStatus.SUCCEEDED
        after = flow_of(w, first)
        assert (after.status, after.step) == (FlowStatus.ACTIVE, before.step)
        assert (after.attempts, after.last_error) == (
            before.attempts + 1,
            "unexpected RuntimeError",
        )
        assert after.next_run_at > w.clock.now()
        no_secret_anywhere(w, caplog)

        engine.defs["checkout"] = real  # fixed: the next round finishes it
        w.clock.advance(w.service.config.backoff_cap_ms)
        assert w.service.run_recovery() == (1, 0)
        assert flow_of(w, first).status is FlowStatus.SUCCEEDED

    def test_raw_error_from_the_store_for_the_first_flow(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A store adapter raising a RuntimeError while one flow is read does not end the
        round: the other due flow finishes, and the failing one stays due."""
        caplog.set_level(logging.DEBUG)
        w = two_due_checkouts()
        first = f"checkout:{FIRST}"
        engine = w.service.engine
        real_load = engine.load

        def load(flow_id: str) -> Flow | None:
            if flow_id == first:
                raise RuntimeError(f"driver: {SECRET}")
            return real_load(flow_id)

        engine.load = load  # type: ignore[method-assign]
        engine.take = load  # type: ignore[method-assign]  # the run's first read
        assert w.service.run_recovery() == (1, 1)
        assert flow_of(w, f"checkout:{SECOND}").status is FlowStatus.SUCCEEDED
        assert flow_of(w, first).status is FlowStatus.ACTIVE
        assert "RuntimeError" in caplog.text
        no_secret_anywhere(w, caplog)


class TestRawErrorReachesTheCallerTyped:
    def test_request_gets_flow_pending_not_the_raw_error(self) -> None:
        """A request whose flow fails with a raw exception gets FlowPending naming only
        the exception's type; the flow stays durable for recovery."""
        w = make_shop()
        real = w.service.engine.defs["checkout"]

        def boom(flow: Flow) -> Effect:
            raise RuntimeError(SECRET)

        w.service.engine.defs["checkout"] = FlowDef(
            "checkout",
            {name: attrs.evolve(spec, run=boom) for name, spec in real.steps.items()},
            real.give_up,
            real.ask_first,
        )
        with pytest.raises(err.FlowPending) as info:
            w.service.create_payment_intent(FIRST, [CartItem("p_mug", 1)])
        assert SECRET not in info.value.message
        assert "unexpected RuntimeError" in info.value.message
        flow = flow_of(w, f"checkout:{FIRST}")
        assert (flow.status, flow.attempts) == (FlowStatus.ACTIVE, 1)

    def test_raw_error_escaping_the_run_costs_the_flow_a_strike(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A raw error that escapes a run (the store's read of the flow failed once) costs
        the flow one strike with backoff, and is logged by its type and frames only."""
        caplog.set_level(logging.DEBUG)
        w = make_shop()
        fid = w.service.start_checkout(FIRST, [CartItem("p_mug", 1)])
        engine = w.service.engine
        real_load = engine.load
        failed: list[str] = []

        def load_once(flow_id: str) -> Flow | None:
            if not failed:
                failed.append(flow_id)
                raise RuntimeError(f"driver: {SECRET}")
            return real_load(flow_id)

        engine.load = load_once  # type: ignore[method-assign]
        engine.take = load_once  # type: ignore[method-assign]  # the run's first read
        with pytest.raises(err.FlowPending):
            w.service.run_flow(fid)
        flow = flow_of(w, fid)
        assert (flow.status, flow.step, flow.attempts) == (FlowStatus.ACTIVE, "check_seller", 1)
        assert flow.last_error == "unexpected RuntimeError"
        assert flow.next_run_at > w.clock.now()
        logged = [r for r in caplog.records if getattr(r, "error_type", None) == "RuntimeError"]
        assert logged and getattr(logged[0], "flow_id", None) == fid
        said = logged[0].getMessage()
        assert said.startswith(f"flow {fid} stopped by an error that is not paycore's\n")
        assert "Traceback (most recent call last):\n  File " in said
        assert said.endswith("\nRuntimeError")
        no_secret_anywhere(w, caplog)

    def test_strike_that_cannot_be_recorded_is_logged_and_the_flow_stays_due(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The store fails again when the strike is recorded: the run still ends with
        FlowPending, the flow stays due unchanged, and the lost strike is logged."""
        caplog.set_level(logging.DEBUG)
        w = make_shop()
        fid = w.service.start_checkout(FIRST, [CartItem("p_mug", 1)])
        before = flow_of(w, fid)
        engine = w.service.engine

        def load(flow_id: str) -> Flow | None:
            raise RuntimeError(f"driver: {SECRET}")

        engine.load = load  # type: ignore[method-assign]
        engine.take = load  # type: ignore[method-assign]  # the run's first read
        with pytest.raises(err.FlowPending):
            w.service.run_flow(fid)
        assert flow_of(w, fid) == before
        lost = [r for r in caplog.records if r.getMessage().startswith(f"flow {fid}: strike")]
        assert len(lost) == 1 and lost[0].levelno == logging.WARNING
        assert lost[0].getMessage().startswith(f"flow {fid}: strike not recorded\nTraceback")
        assert (getattr(lost[0], "flow_id", None), getattr(lost[0], "error_type", None)) == (
            fid,
            "RuntimeError",
        )
        no_secret_anywhere(w, caplog)
