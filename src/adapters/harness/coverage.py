"""Step and transition coverage: which parts of paycore a run actually reached.

Fault coverage says that every kind of fault fired; it does not say that the flows
went anywhere interesting after it. A run therefore also counts

- every **step** of every flow (``checkout.create``, ``refund.resolve``, ...) that an
  engine executed, whichever caller drove it (a rule, a job, the service, a thread);
- every **transition** of every state machine (``payment: open -succeed-> succeeded``)
  that was recorded, read from the audit log each example leaves behind (every status
  change is audited in its own transaction, so nothing is missed and nothing costs
  extra while the example runs).

A step or transition the default profile never reaches fails the run, unless it is
listed in :data:`UNREACHABLE` (with the reason it cannot happen by design) or in
:data:`NOT_YET_DRIVEN` (naming what will drive it). Both tables are checked too: an
entry that names nothing that exists, or a "not yet driven" entry that was reached, is
stale and fails the run as well, so the tables cannot drift from the code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from paycore import schema as s
from paycore.flows.engine import Engine, StepReport
from paycore.machines import MACHINES
from paycore.ports import Snapshot
from paycore.records import Flow

#: Steps and transitions that cannot happen by design, with the reason.
UNREACHABLE: dict[str, str] = {
    "checkout.sync_recorded": (
        "the abort lists every intent made since checkout.LOOKBACK_S before the checkout "
        "began, so the intent its payment records is in the list unless the provider's "
        "clock runs that far behind paycore's; the fake shares the harness's clock "
        "(tests/chaos/test_checkout_paths.py drives it with an intent the list misses)"
    ),
}

#: Steps and transitions nothing drives yet, with what will drive them.
NOT_YET_DRIVEN: dict[str, str] = {}


def step_name(kind: str, step: str) -> str:
    return f"{kind}.{step}"


def transition_name(aggregate: str, source: str, trigger: str, dest: str) -> str:
    return f"{aggregate}: {source} -{trigger}-> {dest}"


def all_steps(defs: Mapping[str, Any]) -> list[str]:
    """Every step of every flow kind the engine knows."""
    return [step_name(kind, step) for kind, fdef in defs.items() for step in fdef.steps]


def all_transitions() -> list[str]:
    """Every edge of every state machine."""
    return [
        transition_name(name, src.value, trigger, dst.value)
        for name, machine in MACHINES.items()
        for src, trigger, dst in machine.edges()
    ]


#: The step names of each set of flow definitions seen: (definitions by kind, as
#: objects kept alive so that their ids stay theirs) -> names. Definitions are frozen.
_KNOWN: dict[tuple[tuple[str, int], ...], tuple[list[Any], frozenset[str]]] = {}


def known_steps(defs: Mapping[str, Any]) -> frozenset[str]:
    """:func:`all_steps` of ``defs``, computed once per set of definitions (one per
    engine, and the harness builds an engine per example)."""
    key = tuple((kind, id(fdef)) for kind, fdef in defs.items())
    hit = _KNOWN.get(key)
    if hit is None:
        hit = _KNOWN[key] = (list(defs.values()), frozenset(all_steps(defs)))
    return hit[1]


class Coverage:
    """Counts of the steps and transitions reached, across the examples of a run."""

    def __init__(self) -> None:
        self.steps: Counter[str] = Counter()
        self.transitions: Counter[str] = Counter()
        self.known_steps: set[str] = set()

    def watch(self, engine: Engine) -> None:
        """Count every step ``engine`` executes from now on (its own runs included)."""
        self.known_steps.update(known_steps(engine.defs))
        engine.step = _CountedStep(engine, self.steps)  # type: ignore[method-assign]

    def read_audit(self, snap: Snapshot) -> None:
        """Count the transitions an example recorded (its audit log, once at its end)."""
        seen = self.transitions
        for entry in snap.rows(s.AUDIT):
            if entry.from_status is not None:
                seen[
                    transition_name(
                        entry.aggregate, entry.from_status, entry.trigger, entry.to_status
                    )
                ] += 1

    def absorb(self, other: Coverage) -> None:
        self.steps.update(other.steps)
        self.transitions.update(other.transitions)
        self.known_steps |= other.known_steps


class _CountedStep:
    """An engine's ``step``, counting what it runs. An object rather than a closure, so
    that a copied world (the explorer forks worlds) steps and counts its own copy."""

    def __init__(self, engine: Engine, counts: Counter[str]) -> None:
        self.engine = engine
        self.counts = counts

    def __call__(self, flow_id: str, known: Flow | None = None) -> StepReport:
        report: StepReport = type(self.engine).step(self.engine, flow_id, known)
        # a provider call counts once: when made, not again when its answer is applied
        ran = report.effect == "tx" or report.effect.startswith("call:")
        if ran and report.result not in ("lease_lost", "inactive"):
            self.counts[f"{report.kind}.{report.step}"] += 1
            if report.then is not None:  # a second call made at once
                self.counts[f"{report.kind}.{report.then}"] += 1
        return report


def gaps(
    steps: Mapping[str, int],
    transitions: Mapping[str, int],
    known_steps: Iterable[str],
) -> list[str]:
    """What a run left unreached that no table explains, and stale table entries."""
    every = set(known_steps) | set(all_transitions())
    reached = {k for k, n in {**steps, **transitions}.items() if n}
    out = [
        f"never reached: {name}"
        for name in sorted(every - reached)
        if name not in UNREACHABLE and name not in NOT_YET_DRIVEN
    ]
    for name in sorted(UNREACHABLE.keys() | NOT_YET_DRIVEN.keys()):
        if name not in every:
            out.append(f"listed but does not exist: {name}")
        elif name in reached:
            out.append(f"listed as unreached but was reached: {name}")
    return out
