"""What an exploration reports, like TLC's summary, and the violations it found."""

from __future__ import annotations

from typing import Any

import attrs

# --- the report ---------------------------------------------------------------------


@attrs.frozen
class ExploreViolation:
    """An invariant broken in some schedule (the shortest one found per scenario)."""

    invariant: str
    subject: str
    detail: str
    #: "safety" (after an action), "convergence" (after the quiet phase) or "setup"
    phase: str
    scenario: str
    #: the schedule: the scenario, then one label per action (faults in brackets)
    trace: list[str]
    #: the world's timeline along it: set-up, every action and its outcome
    timeline: list[str]


@attrs.frozen
class ExploreReport:
    """What an exploration covered, like TLC's summary, and what it found."""

    flows: int
    faults: int
    bug: str | None
    scenarios: list[str]
    #: every state reached by applying an action (initial states included)
    states_generated: int
    #: distinct fingerprints among them
    distinct_states: int
    #: maximal schedules covered: paths from an initial state to a state where
    #: nothing is enabled (or a safety violation), counted over the state graph
    schedules: int
    #: distinct final states made quiet and checked for convergence
    quiesced: int
    #: the longest schedule, in actions
    depth: int
    #: actions leading back to a state on the current path (a livelock if ever non-zero)
    cycles: int
    #: how many generated states each kind of fault was injected into
    faults_injected: dict[str, int]
    elapsed_s: float
    #: the whole bounded space was explored (no state limit, depth limit or early stop)
    complete: bool
    violations: list[ExploreViolation]

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_json(self) -> dict[str, Any]:
        return {
            "flows": self.flows,
            "faults": self.faults,
            "bug": self.bug,
            "scenarios": self.scenarios,
            "states_generated": self.states_generated,
            "distinct_states": self.distinct_states,
            "schedules": self.schedules,
            "quiesced": self.quiesced,
            "depth": self.depth,
            "cycles": self.cycles,
            "faults_injected": self.faults_injected,
            "elapsed_s": round(self.elapsed_s, 3),
            "states_per_second": round(self.states_generated / max(self.elapsed_s, 1e-9), 1),
            "complete": self.complete,
            "violations": [attrs.asdict(v) for v in self.violations],
        }
