"""Step and transition coverage: every run reports it, and a gap fails a full run."""

from __future__ import annotations

import enum
from collections import Counter

import pytest

from paycore.flows.checkout import CartItem
from paycore.flows.engine import Advance, FlowDef, Local, step
from paycore_adapters.harness import coverage
from paycore_adapters.harness.coverage import Coverage, all_transitions, gaps
from paycore_adapters.harness.runner import run_chaos
from paycore_adapters.harness.world import World

#: Tests of the harness itself: slow; `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow


class TestGaps:
    def test_an_unlisted_unreached_step_is_a_gap(self) -> None:
        """A step nobody reached and no table lists is reported by name."""
        every = {name: 1 for name in all_transitions()}
        found = gaps({"demo.a": 3}, every, ["demo.a", "demo.b"])
        assert "never reached: demo.b" in found
        assert not any("demo.a" in g for g in found)

    def test_a_listed_step_is_no_gap_but_a_stale_entry_is(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An entry explains its gap; an entry reached, or naming nothing, is stale."""
        monkeypatch.setattr(coverage, "UNREACHABLE", {"demo.b": "by design", "demo.z": "gone"})
        monkeypatch.setattr(coverage, "NOT_YET_DRIVEN", {"demo.a": "soon"})
        every = {name: 1 for name in all_transitions()}
        found = gaps({"demo.a": 1}, every, ["demo.a", "demo.b"])
        assert sorted(found) == [
            "listed as unreached but was reached: demo.a",
            "listed but does not exist: demo.z",
        ]

    def test_an_unreached_transition_is_a_gap(self) -> None:
        """Transitions count like steps: one missing is named."""
        every = Counter({name: 1 for name in all_transitions()})
        del every["order: pending -pay-> paid"]
        assert "never reached: order: pending -pay-> paid" in gaps({}, every, [])


class TestCounting:
    def test_steps_of_every_caller_and_recorded_transitions_are_counted(self) -> None:
        """A flow run by the service itself counts its steps; the audit gives transitions."""
        world = World()
        svc = world.w.service
        svc.create_payment_intent("cs_coverage_000001", [CartItem("p_plenty", 1)])
        world.coverage.read_audit(world.view())
        assert world.coverage.steps["checkout.create"] == 1
        assert world.coverage.transitions["payment: creating -intent_created-> open"] == 1

    def test_known_steps_come_from_the_engine(self) -> None:
        """Every step of every flow kind is known, reached or not."""
        cov = Coverage()
        world = World()
        only = Local(lambda u, f: Advance(done={}))
        world.w.service.engine.defs["demo"] = FlowDef("demo", {Demo.ONLY: step(lambda f: only)})
        cov.watch(world.w.service.engine)
        assert "demo.only" in cov.known_steps and "checkout.abort" in cov.known_steps


def test_short_run_reports_coverage() -> None:
    """Even a short run says which steps and transitions it reached."""
    report = run_chaos(seed=2, examples=10, steps=30)
    assert report.steps_reached.get("checkout.check_seller", 0) > 0
    assert any(name.startswith("payment: ") for name in report.transitions_reached)
    assert "steps_reached" in report.as_json() and "coverage_gaps" in report.as_json()


class Demo(enum.StrEnum):
    ONLY = "only"
