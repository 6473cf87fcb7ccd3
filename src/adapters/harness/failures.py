"""What a failing model run raises: the violations, with the timeline and replay as notes."""

from __future__ import annotations

from paycore.invariants import Violation

#: The replay of a model run as a Hypothesis test, which has no command of its own.
STEPS_REPLAY = "the failing test case Hypothesis prints is Python that replays it step by step"


class InvariantViolated(AssertionError):
    """An invariant failed; carries the violations and the run's timeline.

    The timeline and how to replay the example (the ``paycore chaos`` command of a seeded
    run) are also exception notes, so pytest and any traceback print them under the
    violations.
    """

    def __init__(
        self,
        phase: str,
        violations: list[Violation],
        timeline: list[str],
        replay: str | None = None,
    ) -> None:
        self.phase = phase
        self.violations = violations
        self.timeline = list(timeline)
        shown = "\n".join(f"  {v}" for v in violations[:10])
        super().__init__(f"{phase} invariant violated:\n{shown}")
        lines = "\n".join(f"  {line}" for line in self.timeline) or "  (nothing happened)"
        self.add_note(f"timeline of the example (simulated time):\n{lines}")
        self.add_note(f"replay: {replay or STEPS_REPLAY}")
