"""Run the stateful model: profiles, seeds, seeded bugs, fault coverage, a report.

``run_chaos`` is what ``paycore chaos`` and the test suite call. A run is
reproducible through Hypothesis' public settings alone (a seed, no example
database, no deadline, fixed phases): the same seed, profile, examples, steps and
bug give the same examples, so the replay command printed with a counterexample
replays it. ``docs/harness.md`` ("Replaying") says what a seed guarantees.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import attrs
from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import run_state_machine_as_test

from . import stories
from .collector import collection_for_a_run
from .coverage import gaps
from .faces import faced
from .failures import InvariantViolated
from .faults import FaultKind
from .model import PaycoreMachine, RunStats
from .stores import worlds_on


@attrs.frozen
class Profile:
    examples: int
    steps: int


#: ``default`` keeps the whole test suite well inside CI's budget; ``nightly`` digs deeper.
PROFILES = {
    "default": Profile(examples=400, steps=60),
    "nightly": Profile(examples=5000, steps=120),
    "quick": Profile(examples=60, steps=40),
}
PROFILE_ENV = "PAYCORE_PROFILE"
#: No ``reuse`` (there is no example database) and no ``target`` (the model targets
#: nothing): what a seeded run does depends on the seed and its arguments alone.
PHASES = (Phase.explicit, Phase.generate, Phase.shrink, Phase.explain)


def profile_named(name: str | None) -> Profile:
    name = name or os.environ.get(PROFILE_ENV) or "default"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: use one of {', '.join(PROFILES)}")
    return PROFILES[name]


@attrs.frozen
class ViolationReport:
    invariant: str
    subject: str
    detail: str
    phase: str
    timeline: list[str]


@attrs.frozen
class ChaosReport:
    seed: int
    examples: int
    steps: int
    bug: str | None
    elapsed_s: float
    rules: int
    checks: int
    examples_run: int
    faults: dict[str, int]
    counts: dict[str, int]
    #: how often each flow step ran, and each state-machine transition was recorded
    steps_reached: dict[str, int]
    transitions_reached: dict[str, int]
    #: what was never reached and no table explains (see ``coverage``)
    coverage_gaps: list[str]
    violations: list[ViolationReport]
    error: str | None
    time_to_detection_s: float | None
    replay: str
    #: the first violation as raised, its timeline and replay command in its notes
    failure: InvariantViolated | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def steps_per_second(self) -> float:
        return self.rules / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def missing_faults(self) -> list[str]:
        return [k.value for k in FaultKind if self.faults.get(k.value, 0) == 0]

    @property
    def ok(self) -> bool:
        return not self.violations and self.error is None

    def check(self) -> None:
        """Raise the run's first violation (its notes hold the timeline and the replay
        command, which pytest prints), or an AssertionError for an unexpected error."""
        if self.failure is not None:
            raise self.failure
        if self.error is not None:
            err = AssertionError(f"the run crashed: {self.error}")
            err.add_note(f"replay: {self.replay}")
            raise err

    def as_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "examples": self.examples,
            "steps": self.steps,
            "bug": self.bug,
            "elapsed_s": round(self.elapsed_s, 3),
            "rules": self.rules,
            "steps_per_second": round(self.steps_per_second, 1),
            "invariant_checks": self.checks,
            "examples_run": self.examples_run,
            "faults": self.faults,
            "missing_faults": self.missing_faults,
            "counts": self.counts,
            "steps_reached": self.steps_reached,
            "transitions_reached": self.transitions_reached,
            "coverage_gaps": self.coverage_gaps,
            "violations": [attrs.asdict(v) for v in self.violations],
            "error": self.error,
            "time_to_detection_s": self.time_to_detection_s,
            "replay": self.replay,
        }


def _progress(total: int) -> Callable[[int], None]:
    if not sys.stderr.isatty():
        return lambda n: None

    def show(n: int) -> None:
        done = min(n, total)
        bar = "#" * (30 * done // max(total, 1))
        sys.stderr.write(f"\r[{bar:<30}] {done}/{total} examples")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def run_chaos(
    seed: int = 0,
    examples: int | None = None,
    steps: int | None = None,
    bug: str | None = None,
    profile: str | None = None,
    machine: type[PaycoreMachine] = PaycoreMachine,
    progress: bool = False,
    shrink: bool = True,
    store: str = "memory",
    server: str | None = None,
    provider: str = "fake",
    with_stories: bool = True,
    stop_at: Collection[str] = (),
) -> ChaosReport:
    """Run the model; return what it found, never raising for a violation. ``shrink=False``
    reports the first counterexample as found; ``store``: memory, sqlite or postgresql (on
    ``server``); ``provider``: fake or emulator (:mod:`.faces`); ``with_stories``: tell any.
    ``stop_at``: invariant ids; a story that finds one of them violated ends the run, the
    stories after it and the random examples not run (a hunt for a seeded bug asks only
    whether a run finds what the bug breaks; the random examples stop at their first
    failing one anyway)."""
    prof = profile_named(profile)
    n_examples = examples or prof.examples
    n_steps = steps or prof.steps
    replay = _replay_command(seed, n_examples, n_steps, bug, store, provider, with_stories)
    replay = replay if machine is PaycoreMachine else _python_replay(replay, machine)
    stats = RunStats()
    run = _seeded_machine(machine, seed, stats, replay, progress, n_examples, with_stories)
    _load_project_modules()  # before the clock starts: imports are not the run's time
    started = time.perf_counter()
    with (
        collection_for_a_run(),
        _bug(bug),
        worlds_on(store, server) as on_store,
        faced(provider, on_store, seed, stats.counts) as (wiring, wire_faults_on),
    ):
        run.wiring = wiring
        found = _prologue(run, stop_at)
        wire_faults_on()
        error = None if _hit(found, stop_at) else _examples(run, found, n_examples, n_steps, shrink)
    elapsed = time.perf_counter() - started
    asked = {"seed": seed, "examples": n_examples, "steps": n_steps, "bug": bug}
    return _report({**asked, "elapsed_s": elapsed, "replay": replay}, stats, found, error)


def _report(
    head: dict[str, Any], stats: RunStats, found: list[InvariantViolated], error: str | None
) -> ChaosReport:
    """The report: ``head`` (what the run was asked, its time and replay command), then
    what it did and found."""
    first = stats.first_violation_at
    detected = first - stats.started if first is not None else None
    return ChaosReport(
        **head,
        rules=stats.rules,
        checks=stats.checks,
        examples_run=stats.examples,
        faults={k.value: stats.faults.get(k, 0) for k in FaultKind},
        counts=dict(stats.counts),
        steps_reached=dict(sorted(stats.coverage.steps.items())),
        transitions_reached=dict(sorted(stats.coverage.transitions.items())),
        coverage_gaps=gaps(
            stats.coverage.steps, stats.coverage.transitions, stats.coverage.known_steps
        ),
        violations=_violation_reports(found),
        error=error,
        time_to_detection_s=detected,
        failure=found[0] if found else None,
    )


def _violation_reports(found: list[InvariantViolated]) -> list[ViolationReport]:
    return [
        ViolationReport(v.invariant, v.subject, v.detail, exc.phase, exc.timeline)
        for exc in found
        for v in exc.violations
    ]


def _replay_command(
    seed: int,
    examples: int,
    steps: int,
    bug: str | None,
    store: str,
    provider: str,
    with_stories: bool,
) -> str:
    """The command line that runs this run again."""
    replay = f"paycore chaos --seed {seed} --examples {examples} --steps {steps}"
    replay += f" --bug {bug}" if bug else ""
    replay += "" if with_stories else " --no-stories"
    replay += f" --store {store}" if store != "memory" else ""
    # The server's address may hold a password: the line names where to give it.
    replay += ' --server "$PAYCORE_HARNESS_POSTGRES"' if store == "postgresql" else ""
    return replay + (f" --provider {provider}" if provider != "fake" else "")


def _python_replay(command: str, machine: type[PaycoreMachine]) -> str:
    """A run on a machine of its own replays in Python (the command runs the default's)."""
    opts = command.split()[2:]  # after "paycore chaos": pairs of --name value, and flags
    args = [f"machine={machine.__name__}"]
    while opts:
        name = opts.pop(0).removeprefix("--").replace("-", "_")
        if name == "no_stories":
            args.append("with_stories=False")
        elif name == "server":
            args.append('server=os.environ["PAYCORE_HARNESS_POSTGRES"]')
            opts.pop(0)
        else:
            value = opts.pop(0)
            args.append(f"{name}={value if value.isdigit() else repr(value)}")
    where, importable = machine.__module__, "<locals>" not in machine.__qualname__
    code = (
        f"import os; from {where} import {machine.__name__}; "
        "from paycore_adapters.harness.runner import run_chaos; "
        f"run_chaos({', '.join(args)}).check()"
    )
    if importable and where != "__main__":
        return f"python -c '{code}'"
    return f"{code}  ({machine.__qualname__} must be importable from its module to replay)"


def _seeded_machine(
    machine: type[PaycoreMachine],
    seed: int,
    stats: RunStats,
    replay: str,
    progress: bool,
    n_examples: int,
    with_stories: bool = True,
) -> type[PaycoreMachine]:
    """A subclass of ``machine`` for one run: its stats, its replay command, its seed,
    whether it tells stories, and a progress bar that moves with each example."""
    show = _progress(n_examples) if progress else (lambda n: None)

    class Run(machine):  # type: ignore[valid-type, misc]
        pass

    Run.stats = stats
    Run.replay = replay
    Run.with_stories = with_stories
    original_init = Run.__init__

    def counting_init(self: PaycoreMachine) -> None:
        original_init(self)
        show(stats.examples)

    Run.__init__ = counting_init  # type: ignore[method-assign, assignment]
    hypothesis_seed(seed)(Run)
    return Run


def _examples(
    run: type[PaycoreMachine],
    found: list[InvariantViolated],
    n_examples: int,
    n_steps: int,
    shrink: bool,
) -> str | None:
    """Run the random examples; add their violations to ``found``; return a crash, if any."""
    try:
        run_state_machine_as_test(
            run,
            settings=settings(
                max_examples=n_examples,
                stateful_step_count=n_steps,
                deadline=None,
                database=None,
                print_blob=False,
                suppress_health_check=list(HealthCheck),
                phases=PHASES if shrink else PHASES[:2],
            ),
        )
    except InvariantViolated as exc:
        found.append(exc)
    except BaseExceptionGroup as group:
        matched, rest = group.split(InvariantViolated)
        found.extend(_flatten(matched))
        if rest is not None:
            return f"{type(rest).__name__}: {rest}"
    except Exception as exc:  # a crash inside paycore or the harness is a finding too
        return f"{type(exc).__name__}: {exc}"
    return None


def _prologue(machine: type[PaycoreMachine], stop_at: Collection[str]) -> list[InvariantViolated]:
    """Every story once, before the random examples: a run must reach their paths
    however Hypothesis happens to draw (coverage), and check them like any example
    (the stories after one that found a violation of ``stop_at`` are not told)."""
    found: list[InvariantViolated] = []
    for n in range(len(stories.STORIES) if machine.with_stories else 0):
        if _hit(found, stop_at):
            break
        example = machine()
        try:
            stories.tell(example.world, n)
            example.safety()
            example.teardown()
        except InvariantViolated as exc:
            found.append(exc)
    return found


def _hit(found: list[InvariantViolated], stop_at: Collection[str]) -> bool:
    """Whether ``found`` has a violation of one of the invariants ``stop_at`` names."""
    return any(v.invariant in stop_at for exc in found for v in exc.violations)


def _flatten(group: BaseExceptionGroup[InvariantViolated] | None) -> Iterator[InvariantViolated]:
    if group is None:
        return
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _flatten(exc)
        else:
            yield exc


def _bug(bug_id: str | None) -> AbstractContextManager[None]:
    if bug_id is None:
        return nullcontext()
    from .bugs import switched_on

    return switched_on(bug_id)


def _load_project_modules() -> None:
    """Import every module of paycore and paycore_adapters, so that a seed means one run.

    Hypothesis now and then draws an integer it found in the source of a loaded module
    that is not a library or a test (its documented "interesting constants"), from the
    union of every such module loaded so far. Which of this project's modules happen to
    be loaded differs between the command line and a test session (importing the
    explorer was enough), so one seed used to give two runs. With all of them loaded
    before the first example, the pool is the same wherever a run starts. A module that
    needs an optional extra which is not installed is left out.
    """
    for name in ("paycore", __name__.partition(".")[0]):
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            try:
                importlib.import_module(info.name)
            except ImportError:
                continue
