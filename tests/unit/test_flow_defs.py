"""Flow kinds are declared with named steps and edges, checked at definition and at run time."""

from __future__ import annotations

import enum

import pytest
from tests.support import flow_of, make_shop

from paycore import jobs
from paycore.flows import checkout, orphans, payments, refunds, webhooks
from paycore.flows.checkout import CartItem
from paycore.flows.engine import (
    Advance,
    Engine,
    FlowDef,
    FlowDefinitionError,
    Local,
    Remote,
    UndeclaredStep,
    create_flow,
    step,
)
from paycore.flows.params import CancelParams, CheckoutParams, params_of
from paycore.flows.steps import CheckoutStep
from paycore.records import Flow
from paycore.service import FLOW_DEFS
from paycore.status import FlowStatus


class Two(enum.StrEnum):
    FIRST = "first"
    SECOND = "second"


class Other(enum.StrEnum):
    ELSEWHERE = "elsewhere"


def _stay(flow: object) -> Local:
    return Local(lambda u, f: Advance(done={}))


class TestFlowDefChecksItsDeclaration:
    def test_a_next_step_that_is_not_a_step_fails_listing_the_valid_ones(self) -> None:
        """A misspelt target fails when the flow kind is defined, naming every valid step."""
        with pytest.raises(FlowDefinitionError) as info:
            FlowDef("two", {Two.FIRST: step(_stay, Other.ELSEWHERE), Two.SECOND: step(_stay)})
        assert "'elsewhere'" in str(info.value) and "first, second" in str(info.value)

    def test_give_up_and_ask_first_are_checked_too(self) -> None:
        """``give_up`` and ``ask_first`` must name steps of the flow."""
        steps = {Two.FIRST: step(_stay), Two.SECOND: step(_stay)}
        with pytest.raises(FlowDefinitionError, match="give_up"):
            FlowDef("two", steps, give_up=Other.ELSEWHERE)
        with pytest.raises(FlowDefinitionError, match="ask_first"):
            FlowDef("two", steps, ask_first={Two.FIRST: Other.ELSEWHERE})

    def test_every_member_of_the_enum_needs_a_step(self) -> None:
        """A declared step name with nothing to run is refused."""
        with pytest.raises(FlowDefinitionError, match="second"):
            FlowDef("two", {Two.FIRST: step(_stay)})

    def test_step_names_must_be_enum_members(self) -> None:
        """Plain strings are not step names: a typo could not be caught."""
        with pytest.raises(FlowDefinitionError):
            FlowDef("two", {"first": step(_stay)})

    def test_no_steps_at_all_is_a_definition_error(self) -> None:
        """An empty declaration fails like any other, saying steps are enum members."""
        with pytest.raises(FlowDefinitionError, match="named by members of one StrEnum"):
            FlowDef("none", {})

    def test_plain_string_steps_are_told_to_use_an_enum(self) -> None:
        """The refusal of plain strings says what step names must be."""
        with pytest.raises(
            FlowDefinitionError, match=r"^a flow's steps are named by members of one StrEnum$"
        ):
            FlowDef("two", {"first": step(_stay)})

    def test_a_step_of_another_enum_is_named_even_when_every_member_has_one(self) -> None:
        """A complete declaration with one extra step from another enum is refused, naming it."""
        steps = {Two.FIRST: step(_stay), Two.SECOND: step(_stay), Other.ELSEWHERE: step(_stay)}
        with pytest.raises(FlowDefinitionError, match="are not members of Two"):
            FlowDef("two", steps)

    def test_the_refusal_names_the_flow_and_the_field(self) -> None:
        """A wrong ``give_up`` or ``ask_first`` is reported under the field's own name."""
        steps = {Two.FIRST: step(_stay), Two.SECOND: step(_stay)}
        with pytest.raises(
            FlowDefinitionError, match=r"^flow 'two': give_up names <Other\.ELSEWHERE"
        ):
            FlowDef("two", steps, give_up=Other.ELSEWHERE)
        with pytest.raises(
            FlowDefinitionError, match=r"^flow 'two': ask_first names <Other\.ELSEWHERE"
        ):
            FlowDef("two", steps, ask_first={Two.FIRST: Other.ELSEWHERE})

    def test_resends_are_checked_as_steps_and_each_needs_an_ask_first(self) -> None:
        """A step that resends its call must be a step, and must have an ask-first step
        (a resend after a crash is safe only because the flow asks first)."""
        steps = {Two.FIRST: step(_stay), Two.SECOND: step(_stay)}
        with pytest.raises(
            FlowDefinitionError, match=r"^flow 'two': resends names <Other\.ELSEWHERE"
        ):
            FlowDef("two", steps, resends=frozenset({Other.ELSEWHERE}))
        with pytest.raises(FlowDefinitionError) as info:
            FlowDef("two", steps, resends=frozenset({Two.SECOND}))
        assert str(info.value) == (
            "flow 'two': resends names ['second'], which have no ask_first step"
        )
        FlowDef("two", steps, ask_first={Two.SECOND: Two.FIRST}, resends=frozenset({Two.SECOND}))

    def test_edges_include_ask_first_and_give_up(self) -> None:
        """The edges a flowchart is drawn from: own next steps, ask-first, give-up."""
        edges = checkout.DEF.edges()
        assert ("check_seller", "create", "") in edges
        assert ("create", "find", "ask first") in edges
        assert ("create", "abort", "give up") in edges
        assert not any(src == dst == "abort" for src, dst, _ in edges)

    def test_every_production_flow_kind_is_declared(self) -> None:
        """Each flow kind's steps are its enum's members, and every edge names one."""
        defs = [checkout.DEF, payments.CONFIRM, payments.CANCEL, refunds.DEF, webhooks.DEF]
        assert [d.kind for d in [*defs, orphans.DEF, *jobs.JOB_DEFS]] == list(FLOW_DEFS)
        for fdef in FLOW_DEFS.values():
            names = set(fdef.steps)
            assert all(src in names and dst in names for src, dst, _ in fdef.edges())


class TestUndeclaredMovesAreRefused:
    def test_a_move_along_an_undeclared_edge_costs_a_strike(self) -> None:
        """A step going somewhere its flow kind does not declare is a bug: nothing it
        wrote is kept and the flow backs off with a strike."""
        w = make_shop()
        jump = Local(lambda u, f: Advance(to=Two.FIRST))
        fdef = FlowDef("two", {Two.FIRST: step(_stay), Two.SECOND: step(lambda f: jump)})
        svc = w.service
        eng = Engine(svc.engine.store, w.provider, w.clock, w.alerts, svc.config, {"two": fdef})
        eng.transact(lambda u: create_flow(u, "two:1", "two", Two.SECOND))
        report = eng.step("two:1")
        flow = flow_of(w, "two:1")
        assert report.result.startswith("retry:unexpected UndeclaredStep")
        assert (flow.step, flow.status, flow.attempts) == ("second", FlowStatus.ACTIVE, 1)

    def test_a_step_that_cannot_be_built_is_a_strike_reported_under_its_flow(self) -> None:
        """A step whose builder raises (a bug, or a record this code cannot read) costs
        a strike in a transaction of its own, and the step's report names the flow, its
        kind and step, the transaction and the retry, as a timeline shows it."""

        def unreadable(flow: Flow) -> Local:
            raise KeyError("a field this version does not know")

        w = make_shop()
        fdef = FlowDef("two", {Two.FIRST: step(_stay), Two.SECOND: step(unreadable)})
        svc = w.service
        eng = Engine(svc.engine.store, w.provider, w.clock, w.alerts, svc.config, {"two": fdef})
        eng.transact(lambda u: create_flow(u, "two:1", "two", Two.SECOND))
        report = eng.step("two:1")
        flow = flow_of(w, "two:1")
        assert (report.flow_id, report.kind, report.step, report.effect) == (
            "two:1",
            "two",
            "second",
            "tx",
        )
        assert report.result.startswith("retry:unexpected KeyError")
        assert (flow.step, flow.attempts, flow.last_error) == ("second", 1, "unexpected KeyError")

    def test_stored_steps_are_plain_strings(self) -> None:
        """A StrEnum step is stored as its value, so flows recorded before keep loading."""
        assert CheckoutStep("check_seller") is CheckoutStep.CHECK_SELLER
        assert f"{CheckoutStep.ABORT}" == "abort"


class TestTypedParams:
    def test_params_persist_as_a_plain_dict(self) -> None:
        """A flow's params record is stored as a plain dict, with its installation."""
        w = make_shop()
        res = w.service.create_payment_intent("cs_params_00000001", [CartItem("p_mug", 1)])
        flow = flow_of(w, "checkout:cs_params_00000001")
        assert type(flow.params) is dict
        assert flow.params["payment_id"] == res.payment_id
        assert flow.params["installation"] == w.service.installation_id()
        typed = params_of(CheckoutParams, flow)
        assert (typed.payment_id, typed.order_id) == (res.payment_id, res.order_id)

    def test_a_flow_recorded_by_an_older_version_keeps_loading(self) -> None:
        """Unknown keys are ignored and missing optional ones take their defaults."""
        old = Flow(
            id="cancel:pay_1:1",
            kind="cancel",
            step="call",
            created_at=0,
            params={"payment_id": "pay_1", "intent_id": "pi_1", "retired_key": 1},
        )
        assert params_of(CancelParams, old) == CancelParams("pay_1", "pi_1", "requested", "")


class Three(enum.StrEnum):
    ASK = "ask"
    CALL = "call"
    FIND = "find"


def _three(calls: list[str], *, go_on_to: enum.StrEnum = Three.CALL) -> FlowDef:
    """ask (a provider check whose yes goes on at once) -> call (asks first when late)."""

    def ask(flow: Flow) -> Remote[bool]:
        def check(p: object) -> bool:
            calls.append("ask")
            return True

        return Remote(
            "ask", check, lambda u, f, ok: Advance(to=Three.CALL), then=lambda ok: go_on_to
        )

    def call(flow: Flow) -> Remote[str]:
        def make(p: object) -> str:
            calls.append("call")
            return "made"

        return Remote("call", make, lambda u, f, v: Advance(done={"answer": v, "at": f.step}))

    def find(flow: Flow) -> Remote[str]:
        def look(p: object) -> str:
            calls.append("find")
            return "found"

        return Remote("find", look, lambda u, f, v: Advance(done={"answer": v, "at": f.step}))

    steps = {
        Three.ASK: step(ask, Three.CALL),
        Three.CALL: step(call, Three.FIND),
        Three.FIND: step(find),
    }
    return FlowDef("three", steps, ask_first={Three.CALL: Three.FIND})


def _three_engine(fdef: FlowDef) -> tuple[Engine, object]:
    w = make_shop()
    svc = w.service
    eng = Engine(svc.engine.store, w.provider, w.clock, w.alerts, svc.config, {"three": fdef})
    eng.transact(lambda u: create_flow(u, "three:1", "three", Three.ASK))
    return eng, w


class TestGoingOnAtOnce:
    def test_a_yes_that_needs_no_record_makes_the_next_call_in_the_same_step(self) -> None:
        """The check's answer is never recorded: one engine step makes both calls, and
        one transaction applies the second call's answer as the step it belongs to."""
        calls: list[str] = []
        eng, w = _three_engine(_three(calls))
        report = eng.step("three:1")
        assert (report.step, report.effect, report.then) == ("ask", "call:ask+call", "call")
        assert calls == ["ask", "call"]
        assert flow_of(w, "three:1").step == "ask"  # nothing recorded yet
        eng.step("three:1")
        done = flow_of(w, "three:1")
        assert (done.status, done.result) == (
            FlowStatus.SUCCEEDED,
            {"answer": "made", "at": "call"},
        )

    def test_going_on_along_an_undeclared_edge_is_refused(self) -> None:
        """``then`` may only name a step its flow declares as next."""
        eng, _ = _three_engine(_three([], go_on_to=Three.FIND))
        with pytest.raises(UndeclaredStep):
            eng.step("three:1")

    def test_a_late_resume_goes_on_to_the_step_that_asks_first(self) -> None:
        """When the next call's key may be forgotten (it may have been used by a call made
        at once whose answer was lost), the flow goes on to the ask-first step instead."""
        calls: list[str] = []
        eng, w = _three_engine(_three(calls))
        w.clock.advance(w.service.config.provider_key_retention_ms)
        eng.step("three:1")
        assert calls == ["ask", "find"]
        eng.step("three:1")
        assert flow_of(w, "three:1").result == {"answer": "found", "at": "find"}
