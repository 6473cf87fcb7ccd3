"""Harness steps per second: paycore's stateful model vs a trivial state machine, in one run.

A *step* is one rule execution of a Hypothesis ``RuleBasedStateMachine``, counted
inside the rule bodies (``RunStats.rules`` for paycore). Two measurements, run
with the same Hypothesis settings (``max_examples``, ``stateful_step_count``,
``database=None``, ``deadline=None``, every phase, every health check
suppressed) and the same seed, each timed with ``time.perf_counter`` around the
whole Hypothesis run:

* **paycore** -- :func:`paycore_adapters.harness.runner.run_chaos` driving
  :class:`paycore_adapters.harness.model.PaycoreMachine`: a fresh ``World`` per
  example, the safety invariants after every rule, a quiesce and the
  convergence invariants in every teardown.
* **trivial** -- :class:`Counter`, a two-rule machine (``inc``, ``dec``) with one
  invariant: what Hypothesis's stateful engine costs on its own. paycore/trivial
  is the share of the ceiling that the harness reaches (goal >= 0.5).

The two are interleaved (the order rotates every round) and the best of the
repeats is kept, so machine noise hits both alike.

Usage::

    .venv/bin/python benchmarks/harness_speed.py [--examples N] [--steps S] [--json]
    .venv/bin/python benchmarks/harness_speed.py --profile   # where paycore's time goes

The exit code is 0 whether or not the goal is met; it is 1 only when a
measurement fails (the paycore run finds a violation or crashes, or a
measurement runs no rules).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import inspect
import io
import json
import platform
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import hypothesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import (
    RULE_MARKER,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from paycore_adapters.harness import model as harness_model
from paycore_adapters.harness import world as harness_world
from paycore_adapters.harness.model import PaycoreMachine
from paycore_adapters.harness.runner import run_chaos

GOAL = 0.5  # paycore steps/s divided by trivial-machine steps/s
DEFAULT_EXAMPLES = 300
DEFAULT_STEPS = 60
DEFAULT_REPEATS = 3
DEFAULT_SEED = 0
KINDS = ("paycore", "trivial")
LABELS = {
    "paycore": "paycore (PaycoreMachine via run_chaos)",
    "trivial": "trivial (2 rules, 1 invariant)",
}


class BenchmarkError(RuntimeError):
    """A measurement failed, or ran no rules."""


# --- the trivial machine -------------------------------------------------------------


class TrivialStats:
    """Counted exactly as paycore's ``RunStats``: once per example, rule and check."""

    def __init__(self) -> None:
        self.examples = 0
        self.rules = 0
        self.checks = 0


class Counter(RuleBasedStateMachine):
    """The cheapest meaningful state machine: a counter and the model of it."""

    stats: ClassVar[TrivialStats] = TrivialStats()

    def __init__(self) -> None:
        super().__init__()
        self.value = 0
        self.expected = 0
        self.stats.examples += 1

    @rule()
    def inc(self) -> None:
        self.stats.rules += 1
        self.value += 1
        self.expected += 1

    @rule()
    def dec(self) -> None:
        self.stats.rules += 1
        self.value -= 1
        self.expected -= 1

    @invariant()
    def agrees(self) -> None:
        self.stats.checks += 1
        assert self.value == self.expected


def harness_settings(examples: int, steps: int) -> settings:
    """The settings ``run_chaos`` uses (shrinking on: it only matters after a failure)."""
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        phases=tuple(Phase),
    )


# --- measurements --------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One timed Hypothesis run and the rules it executed."""

    kind: str
    examples: int  # max_examples asked
    steps: int  # stateful_step_count asked
    examples_run: int
    rules: int
    checks: int
    seconds: float

    @property
    def rate(self) -> float:
        """Rule executions per second."""
        return self.rules / self.seconds if self.seconds > 0 else 0.0

    @property
    def us_per_rule(self) -> float:
        return self.seconds / self.rules * 1e6 if self.rules else float("inf")

    def check(self) -> Measurement:
        if self.rules <= 0 or self.examples_run <= 0:
            raise BenchmarkError(f"{self.kind}: ran {self.rules} rules in {self.examples_run}")
        return self


def measure_paycore(examples: int, steps: int, seed: int = DEFAULT_SEED) -> Measurement:
    """paycore's stateful model through ``run_chaos`` (its own ``rules`` and ``elapsed_s``)."""
    gc.collect()
    report = run_chaos(seed=seed, examples=examples, steps=steps)
    if not report.ok:
        found = [f"{v.invariant}: {v.detail}" for v in report.violations] or [str(report.error)]
        raise BenchmarkError(f"paycore: the run was not clean: {found[:3]}")
    return Measurement(
        "paycore",
        examples,
        steps,
        report.examples_run,
        report.rules,
        report.checks,
        report.elapsed_s,
    ).check()


def measure_trivial(examples: int, steps: int, seed: int = DEFAULT_SEED) -> Measurement:
    """The two-rule counter, set up and timed exactly as ``run_chaos`` runs paycore."""
    stats = TrivialStats()

    class Run(Counter):
        pass

    Run.stats = stats
    hypothesis_seed(seed)(Run)
    gc.collect()
    started = time.perf_counter()
    run_state_machine_as_test(Run, settings=harness_settings(examples, steps))
    elapsed = time.perf_counter() - started
    return Measurement(
        "trivial", examples, steps, stats.examples, stats.rules, stats.checks, elapsed
    ).check()


MEASURES: dict[str, Callable[[int, int, int], Measurement]] = {
    "paycore": measure_paycore,
    "trivial": measure_trivial,
}


class Shapes(RuleBasedStateMachine):
    """Base of :func:`shapes_machine`: counts examples and checks like :class:`Counter`."""

    stats: ClassVar[TrivialStats] = TrivialStats()

    def __init__(self) -> None:
        super().__init__()
        self.stats.examples += 1

    @invariant()
    def cheap(self) -> None:
        self.stats.checks += 1


def shapes_machine(machine: type[RuleBasedStateMachine] = PaycoreMachine) -> type[Shapes]:
    """A machine with ``machine``'s rules (names, argument strategies) and empty bodies.

    Timing it isolates what Hypothesis itself costs per step for paycore's rule set:
    choosing among the rules, drawing their arguments, recording the choices.
    """
    ns: dict[str, Any] = {}
    for klass in reversed(machine.__mro__):
        for name, fn in vars(klass).items():
            spec: Any = getattr(fn, RULE_MARKER, None)
            if spec is None:
                continue

            def body(self: Shapes, **_: Any) -> None:
                self.stats.rules += 1

            body.__name__ = body.__qualname__ = name
            arguments: dict[str, Any] = spec.arguments
            wrap: Callable[[Callable[..., None]], Callable[..., None]] = rule(**arguments)
            ns[name] = wrap(body)
    return type(f"{machine.__name__}Shapes", (Shapes,), ns)


def measure_shapes(examples: int, steps: int, seed: int = DEFAULT_SEED) -> Measurement:
    """Hypothesis alone, on PaycoreMachine's rules with their strategies and no-op bodies."""
    stats = TrivialStats()
    run_cls = type("Run", (shapes_machine(),), {"stats": stats})
    hypothesis_seed(seed)(run_cls)
    gc.collect()
    started = time.perf_counter()
    run_state_machine_as_test(run_cls, settings=harness_settings(examples, steps))
    elapsed = time.perf_counter() - started
    return Measurement(
        "shapes", examples, steps, stats.examples, stats.rules, stats.checks, elapsed
    ).check()


# --- the report ----------------------------------------------------------------------


@dataclass
class Report:
    examples: int
    steps: int
    seed: int
    repeats: int
    runs: dict[str, list[Measurement]]

    def best(self, kind: str) -> Measurement:
        return min(self.runs[kind], key=lambda m: m.seconds / m.rules)

    @property
    def ratio(self) -> float:
        trivial = self.best("trivial").rate
        return self.best("paycore").rate / trivial if trivial > 0 else 0.0

    @property
    def goal_met(self) -> bool:
        return self.ratio >= GOAL

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "examples": self.examples,
            "steps": self.steps,
            "seed": self.seed,
            "repeats": self.repeats,
            "python": platform.python_version(),
            "hypothesis": hypothesis.__version__,
        }
        for kind in KINDS:
            best = self.best(kind)
            out[kind] = {
                **asdict(best),
                "steps_per_second": round(best.rate, 1),
                "us_per_step": round(best.us_per_rule, 2),
                "all_steps_per_second": [round(m.rate, 1) for m in self.runs[kind]],
                "all_seconds": [round(m.seconds, 4) for m in self.runs[kind]],
            }
        out["ratio_paycore_trivial"] = round(self.ratio, 4)
        out["goal_paycore_trivial"] = GOAL
        out["goal_met"] = self.goal_met
        return out


def run(
    examples: int,
    steps: int,
    repeats: int = DEFAULT_REPEATS,
    seed: int = DEFAULT_SEED,
    progress: bool = False,
) -> Report:
    """One discarded warm-up round, then ``repeats`` interleaved timed rounds."""
    for kind in KINDS:  # imports, caches, the allocator; discarded
        MEASURES[kind](min(examples, 10), min(steps, 10), seed)
    runs: dict[str, list[Measurement]] = {k: [] for k in KINDS}
    for r in range(repeats):
        order = KINDS[r % len(KINDS) :] + KINDS[: r % len(KINDS)]  # rotate who goes first
        for kind in order:
            m = MEASURES[kind](examples, steps, seed)
            runs[kind].append(m)
            if progress:
                print(
                    f"  round {r + 1}/{repeats} {kind:<8} {m.rules:>7} rules "
                    f"{m.seconds:7.3f} s {m.rate:>9,.0f} steps/s",
                    file=sys.stderr,
                )
    return Report(examples, steps, seed, repeats, runs)


def render(report: Report) -> str:
    lines = [
        f"harness speed: {report.examples} examples x up to {report.steps} steps, seed "
        f"{report.seed}, best of {report.repeats} interleaved repeats",
        f"python {platform.python_version()}, hypothesis {hypothesis.__version__}, "
        f"{platform.machine()}",
        "",
        f"{'':<40}{'examples':>9}{'rules':>8}{'best s':>9}{'steps/s':>10}{'us/step':>9}"
        "   all repeats (steps/s)",
    ]
    for kind in KINDS:
        b = report.best(kind)
        every = " ".join(f"{m.rate:,.0f}" for m in report.runs[kind])
        lines.append(
            f"{LABELS[kind]:<40}{b.examples_run:>9}{b.rules:>8}{b.seconds:>9.3f}"
            f"{b.rate:>10,.0f}{b.us_per_rule:>9.1f}   {every}"
        )
    verdict = "PASS" if report.goal_met else "BELOW GOAL"
    lines += ["", f"ratio paycore/trivial: {report.ratio:.3f}  (goal >= {GOAL})  {verdict}"]
    if not report.goal_met:
        lines.append("run with --profile to see where paycore's harness time goes")
    return "\n".join(lines)


# --- the profile ---------------------------------------------------------------------

StatKey = tuple[str, int, str]


def _rule_names(machine: type[RuleBasedStateMachine]) -> set[str]:
    return {
        name
        for klass in machine.__mro__
        for name, fn in vars(klass).items()
        if getattr(fn, RULE_MARKER, None) is not None
    }


def _find(stats: dict[StatKey, Any], module: Any, qualname: str) -> list[StatKey]:
    """pstats keys of the function ``qualname`` (``Class.method``) defined in ``module``."""
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    code = inspect.unwrap(obj).__code__
    return [k for k in stats if k[0] == code.co_filename and k[1] == code.co_firstlineno]


def _via(
    stats: dict[StatKey, Any], keys: list[StatKey], callers: list[StatKey]
) -> tuple[float, int]:
    """Cumulative seconds and calls of ``keys`` when called directly from ``callers``."""
    sec, calls = 0.0, 0
    for k in keys:
        for c in callers:
            if c in stats[k][4]:
                sec += stats[k][4][c][3]
                calls += stats[k][4][c][0]
    return sec, calls


def _cum(stats: dict[StatKey, Any], keys: list[StatKey]) -> tuple[float, int]:
    """Cumulative seconds and primitive calls of ``keys`` (none of them calls another)."""
    return sum(stats[k][3] for k in keys), sum(stats[k][0] for k in keys)


@dataclass(frozen=True)
class Share:
    label: str
    seconds: float
    calls: int
    share: float


def breakdown(prof: cProfile.Profile) -> tuple[float, list[Share]]:
    """Split one profiled ``run_chaos`` into where the time goes.

    The top-level parts are disjoint: rule bodies, the safety invariant after every
    rule, the teardown (quiesce and the final check), World set-up per example, and
    Hypothesis (everything else: generating and recording choices, rule selection,
    the example loop). Indented parts are inside the part above them.
    """
    ps = pstats.Stats(prof)
    stats: dict[StatKey, Any] = ps.stats  # type: ignore[attr-defined]
    total: float = ps.total_tt  # type: ignore[attr-defined]
    model_file = inspect.getsourcefile(harness_model)
    rules = _rule_names(PaycoreMachine)
    rule_keys = [k for k in stats if k[0] == model_file and k[2] in rules]
    parts: list[tuple[str, float, int]] = []

    def add(label: str, keys: list[StatKey]) -> float:
        sec, calls = _cum(stats, keys)
        parts.append((label, sec, calls))
        return sec

    from paycore import invariants
    from paycore_adapters import memory_store

    top = add(f"rule bodies ({len(rules)} rules: paycore flows, jobs, World)", rule_keys)
    for name in sorted(rules):
        sec, calls = _cum(stats, [k for k in rule_keys if k[2] == name])
        parts.append((f"  rule {name}", sec, calls))
    for action in sorted(name for name, *_ in harness_model.ACTIONS):  # what `act` ran
        keys = [k for k in stats if k[0] == model_file and k[2] == action]
        sec, calls = _cum(stats, keys)
        parts.append((f"    action {action}", sec, calls))
    safety = _find(stats, harness_model, "PaycoreMachine.safety")
    top += add("safety invariant after every rule", safety)
    violations = _find(stats, harness_world, "World.violations")
    parts.append(
        ("  World.violations (snapshot + ledger + check)", *_via(stats, violations, safety))
    )
    top += add(
        "teardown (quiesce, then safety + convergence)",
        _find(stats, harness_model, "PaycoreMachine.teardown"),
    )
    add("  World.quiesce", _find(stats, harness_world, "World.quiesce"))
    add("    World.progress", _find(stats, harness_world, "World.progress"))
    add("      MemoryStore.fingerprint", _find(stats, memory_store, "MemoryStore.fingerprint"))
    top += add("World set-up per example", _find(stats, harness_world, "World.__init__"))
    parts.append(("Hypothesis and the rest (total - the above)", total - top, 0))
    parts.append(("across all parts:", 0.0, 0))
    add("  invariants.check (safety and teardown)", _find(stats, invariants, "check"))
    add(
        "  MemoryStore.snapshot (rules, World, checks)",
        _find(stats, memory_store, "MemoryStore.snapshot"),
    )
    return total, [
        Share(label, sec, calls, sec / total if total else 0.0) for label, sec, calls in parts
    ]


def decompose(examples: int, steps: int, seed: int = DEFAULT_SEED, repeats: int = 3) -> str:
    """Unprofiled, interleaved: trivial, Hypothesis alone on paycore's rules, paycore."""
    kinds: dict[str, Callable[[int, int, int], Measurement]] = {
        "trivial": measure_trivial,
        "shapes": measure_shapes,
        "paycore": measure_paycore,
    }
    best: dict[str, Measurement] = {}
    for _ in range(repeats):
        for kind, measure in kinds.items():
            m = measure(examples, steps, seed)
            if kind not in best or m.rate > best[kind].rate:
                best[kind] = m
    trivial, shapes, paycore = best["trivial"], best["shapes"], best["paycore"]
    labels = {
        "trivial": "trivial (2 rules, no arguments)",
        "shapes": f"paycore's {len(_rule_names(PaycoreMachine))} rules + strategies, empty bodies",
        "paycore": "paycore (run_chaos)",
    }
    lines = [
        f"=== where a paycore step's time goes: unprofiled, best of {repeats} interleaved ===",
        f"{'':<48}{'rules':>8}{'seconds':>9}{'steps/s':>10}{'us/step':>9}{'vs trivial':>12}",
    ]
    for kind, m in best.items():
        lines.append(
            f"{labels[kind]:<48}{m.rules:>8}{m.seconds:>9.3f}{m.rate:>10,.0f}"
            f"{m.us_per_rule:>9.1f}{m.rate / trivial.rate:>12.3f}"
        )
    hyp = shapes.us_per_rule
    own = paycore.us_per_rule - hyp
    lines += [
        f"Hypothesis per paycore step: {hyp:.1f} us ({hyp / paycore.us_per_rule:.0%}); "
        f"paycore's own work (rules, invariants, quiesce, set-up): {own:.1f} us "
        f"({own / paycore.us_per_rule:.0%})",
        f"ceiling if paycore's own work were free: ratio {shapes.rate / trivial.rate:.3f}",
    ]
    return "\n".join(lines) + "\n"


def profile(examples: int, steps: int, seed: int = DEFAULT_SEED, top: int = 25) -> str:
    """cProfile one ``run_chaos``: the breakdown, then the top functions by own time."""
    prof = cProfile.Profile()
    report = prof.runcall(run_chaos, seed=seed, examples=examples, steps=steps)
    total, shares = breakdown(prof)
    out = io.StringIO()
    out.write(
        f"=== paycore run_chaos under cProfile: seed {seed}, {examples} examples x {steps} "
        f"steps, {report.rules} rules, {report.examples_run} examples, {total:.2f} s ===\n"
        "(cProfile inflates small Python calls, Hypothesis's most: read the shares, not the "
        "seconds)\n\n"
        f"{'':<58}{'seconds':>9}{'share':>8}{'calls':>9}{'us/call':>10}\n"
    )
    for sh in shares:
        per = f"{sh.seconds / sh.calls * 1e6:10.0f}" if sh.calls else f"{'':>10}"
        out.write(f"{sh.label:<58}{sh.seconds:>9.2f}{sh.share:>7.1%}{sh.calls or '':>9}{per}\n")
    out.write(f"\n=== top {top} functions by own time ===\n")
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, metavar="N")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, metavar="S")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, metavar="R")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--profile", action="store_true", help="cProfile paycore instead")
    args = parser.parse_args(argv)
    if args.examples < 1 or args.steps < 1 or args.repeats < 1:
        parser.error("--examples, --steps and --repeats must be >= 1")
    try:
        if args.profile:
            print(profile(args.examples, args.steps, args.seed))
            print(decompose(args.examples, args.steps, args.seed, args.repeats))
            return 0
        report = run(args.examples, args.steps, args.repeats, args.seed, progress=not args.json)
    except BenchmarkError as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.as_json(), indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
