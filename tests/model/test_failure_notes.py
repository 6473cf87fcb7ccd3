"""A failing model run is readable in pytest: its timeline and replay command are
exception notes, and the falsifying example names each action and its arguments."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from paycore.invariants import Violation
from paycore_adapters.harness.failures import STEPS_REPLAY, InvariantViolated
from paycore_adapters.harness.model import (
    ACTIONS,
    CODES,
    DRAWN_ACTIONS,
    FAULT_KINDS,
    Action,
    PaycoreMachine,
    RunStats,
)
from paycore_adapters.harness.runner import run_chaos


class FailsOnceItActed(PaycoreMachine):
    """Reports a finding in its teardown once an action of its example wrote to the
    timeline."""

    stats = RunStats()

    def __init__(self) -> None:
        super().__init__()
        self.rules_before = self.stats.rules

    def teardown(self) -> None:
        if self.stats.rules > self.rules_before and self.world.timeline:
            self._fail("convergence", [Violation("test-finding", "shop", "an action ran")])
        super().teardown()


def _notes(exc: BaseException) -> list[str]:
    return list(getattr(exc, "__notes__", []))


class TestChaosRunFailure:
    def test_the_report_raises_the_violation_with_timeline_and_replay_notes(self) -> None:
        """report.check() raises the first violation; its notes give the timeline and the
        exact code that replays the run on its machine."""
        report = run_chaos(seed=3, examples=5, steps=5, machine=FailsOnceItActed, shrink=False)
        assert not report.ok and report.failure is not None
        with pytest.raises(InvariantViolated) as caught:
            report.check()
        notes = _notes(caught.value)
        (timeline,) = [n for n in notes if n.startswith("timeline of the example")]
        assert all(f"  {line}" in timeline for line in caught.value.timeline)
        assert caught.value.timeline, "the example's actions are in the timeline"
        (replay,) = [n for n in notes if n.startswith("replay: ")]
        # its own machine: the replay runs it (the command line would run the default)
        assert replay.startswith(f"replay: python -c 'import os; from {__name__} import")
        assert "run_chaos(machine=FailsOnceItActed, seed=3, examples=5, steps=5" in replay

    def test_a_clean_report_checks_quietly(self) -> None:
        """check() returns for a run that found nothing."""
        run_chaos(seed=0, examples=2, steps=3, shrink=False).check()


class TestHypothesisOutput:
    def test_a_model_test_failure_carries_the_timeline_and_readable_actions(self) -> None:
        """Run as a Hypothesis test, the failure's notes hold the timeline, and the
        failing test case shows each action by name with named arguments, in a comment
        above the line that runs it (a kind swarm testing left out runs as a step)."""
        with pytest.raises(InvariantViolated) as caught:
            run_state_machine_as_test(
                FailsOnceItActed,
                settings=settings(
                    max_examples=20,
                    stateful_step_count=5,
                    database=None,
                    deadline=None,
                    phases=(Phase.explicit, Phase.generate),
                    suppress_health_check=list(HealthCheck),
                ),
            )
        text = "\n".join(_notes(caught.value))
        assert "timeline of the example" in text and f"replay: {STEPS_REPLAY}" in text
        acts = re.findall(r"# (\w+)\((.*)\)\n(?:E\s+)?state\.act\(code=(\d+)\)", text)
        assert acts, text
        for name, args, code in acts:
            drawn = DRAWN_ACTIONS[int(code)]
            assert name in (ACTIONS[drawn.kind][0], ACTIONS[0][0]), (name, code)
            assert repr(drawn) == f"{name}({args})" or name == ACTIONS[0][0]


class TestActionRepr:
    def test_every_code_prints_as_its_kind_and_named_arguments(self) -> None:
        """Each of the drawn integers decodes to an action that prints with its kind's
        name and one named value per argument, never a bare code."""
        names = {name for name, _, _ in ACTIONS}
        for code in range(CODES):
            shown = repr(Action.decode(code))
            name, _, args = shown.partition("(")
            assert name in names and "code=" not in args, shown
            assert args.endswith(")") and all("=" in a for a in args[:-1].split(", "))

    def test_refund_prints_its_amount_and_key(self) -> None:
        """Table values print as themselves: an amount of None is the rest of the order."""
        shown = {repr(Action.decode(c)) for c in range(CODES)}
        assert "refund(payment=0, amount=None, key='rk-0')" in shown
        assert f"arm_fault(kind={FAULT_KINDS[0].value!r}, call=None)" in shown
