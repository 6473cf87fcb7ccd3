"""The explorer's depth-first search over the scenarios' states, and :func:`explore`."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

import attrs

from paycore import schema as s
from paycore.flows.webhooks import ACTED_ON
from paycore.status import FlowStatus

from ..faults import EXPLORED_PROVIDER_FAULTS, STORE_FAULTS, FaultKind
from ..stores import WiringFactory, worlds_on
from ..world import World
from .report import ExploreReport, ExploreViolation
from .scenarios import (
    CUSTOMER,
    FAULT_KINDS,
    Action,
    Op,
    Scenario,
    apply_action,
    begin,
    due_in,
    scenarios,
)
from .state import Node, RowCache, copyable, fingerprint, fork

Method = Literal["fork", "replay"]
#: A schedule longer than this is cut (and the run reported incomplete).
MAX_DEPTH = 400


def quiesce(world: World) -> None:
    """:meth:`World.quiesce` (kept as a function so the search calls it uniformly)."""
    world.quiesce()


# --- the search ---------------------------------------------------------------------


@attrs.frozen
class _Seen:
    """What the search knows of a state it finished: maximal schedules from it, and the
    length of the longest."""

    schedules: int
    longest: int


LEAF = _Seen(1, 0)


class _Search:
    """One depth-first search over the scenarios' states. The seen set is shared between
    scenarios, as TLC shares it between initial states."""

    def __init__(
        self, faults: int, max_states: int, method: Method, stop: bool, wiring: WiringFactory
    ) -> None:
        self.sc = Scenario("-", ())
        self.wiring = wiring
        self.faults = faults
        self.max_states = max_states
        self.method = method
        self.stop = stop
        #: fingerprint -> what is known from the state (None while it is being explored)
        self.seen: dict[bytes, _Seen | None] = {}
        self.rows: RowCache = {}
        self.generated = 0
        self.quiesced = 0
        self.cycles = 0
        self.injected: Counter[str] = Counter()
        self.cut = False
        self.violations: dict[tuple[str, str], ExploreViolation] = {}

    # --- worlds

    def fresh(self) -> World:
        world = World(scarce_stock=1, wiring=self.wiring)
        # Subscribed to the events paycore acts on: the charge.* events it only
        # acknowledges would multiply the schedules without a state to tell apart (the
        # random harness delivers them).
        world.subscribed = ACTED_ON
        for op in self.sc.setup:  # run to completion: flows finished, webhooks delivered
            begin(world, op)
            for _ in range(200):
                world.pull_webhooks()
                if world.runnable():
                    world.step(0)
                elif world.pending:
                    world.deliver(0)
                else:
                    break
        return world

    def child(self, node: Node, action: Action, reuse: bool) -> Node | None:
        """The state ``action`` leads to; None if the action's fault could not fire in it."""
        if reuse:  # the parent's last successor: its world is needed no more
            world = node.world
        elif self.method == "replay":
            world = self.fresh()
            for a in node.path:
                apply_action(world, self.sc.ops, a)
        else:
            world = fork(node.world)
        if not apply_action(world, self.sc.ops, action):
            return None
        left, budget = node.left, node.budget
        if action.kind == "begin":
            left = tuple(i for i in left if i != action.arg[0])
        if action.fault is not None or action.kind == "crash":
            budget -= 1
        return Node(world, left, budget, (*node.path, action))

    # --- what may happen next

    def enabled(self, node: Node) -> list[Action]:
        w, ops = node.world, self.sc.ops
        snap = w.w.store.snapshot()
        payments = sorted(snap.rows(s.PAYMENTS), key=lambda p: p.id)
        out: list[Action] = []
        offered: set[Op] = set()
        for i in node.left:
            op = ops[i]
            if op in offered or (op.kind != "checkout" and not payments):
                continue  # identical operations: beginning either is the same
            offered.add(op)
            methods = op.methods if op.kind == "confirm" else (0,)
            out.extend(Action("begin", (i, m), f"begin {op.label(m)}") for m in methods)
        out.extend(Action("step", fid, f"step {fid}") for fid in w.runnable())
        out.extend(
            Action("deliver", i, f"deliver {d.event.id} {d.event.type} ({d.event.object_id})")
            for i, d in enumerate(w.pending)
        )
        intents = {v.id: v.status for v in w.w.provider.intents()}
        for n, p in enumerate(payments):
            status = intents.get(p.provider_intent_id or "", "")
            out.extend(
                Action("customer", (n, act), f"customer: {p.provider_intent_id} {what}")
                for act, what in CUSTOMER.get(status, ())
            )
        if not out:
            due = due_in(w)
            if due is not None:
                out.append(Action("wait", due, f"wait {due} ms"))
        if out and node.budget > 0:
            out.extend(list(self.faulty(w, out)))
            if any(f.status is FlowStatus.ACTIVE for f in snap.rows(s.FLOWS)):
                out.append(Action("crash", None, "CRASH the worker"))
        return out

    @staticmethod
    def faulty(w: World, actions: list[Action]) -> Iterator[Action]:
        """Each action that can fail, once per way it can: a store fault in its commit, a
        provider fault in its call (only a flow step calls the provider, and not when it
        applies an answer it holds)."""
        for a in actions:
            if a.kind == "step" and not w.engine.has_inflight(a.arg):
                yield from (a.with_fault(f) for f in EXPLORED_PROVIDER_FAULTS)
            if a.kind in ("begin", "step", "deliver"):
                yield from (a.with_fault(f) for f in STORE_FAULTS)

    # --- checks

    def report(self, node: Node, phase: str, found: list[tuple[str, str, str]]) -> None:
        """Keep the shortest trace per scenario and invariant."""
        trace = [f"scenario {self.sc.name}", *(a.label for a in node.path)]
        if phase == "convergence":
            trace.append("quiesce")
        for invariant, subject, detail in found:
            old = self.violations.get((self.sc.name, invariant))
            if old is None or len(trace) < len(old.trace):
                self.violations[self.sc.name, invariant] = ExploreViolation(
                    invariant,
                    subject,
                    detail,
                    phase,
                    self.sc.name,
                    trace,
                    list(node.world.timeline),
                )

    def violated(self, node: Node, phase: str) -> bool:
        kinds: tuple[Any, ...] = ("safety",) if phase == "safety" else ("safety", "convergence")
        bad = node.world.violations(kinds)
        self.report(node, phase, [(v.invariant, v.subject, v.detail) for v in bad])
        return bool(bad)

    def crashed(self, node: Node, phase: str, exc: Exception) -> None:
        """paycore or the harness raised where no error is expected: a finding too."""
        self.report(node, phase, [("unexpected-exception", type(exc).__name__, str(exc))])

    def done(self) -> bool:
        return self.stop and bool(self.violations)

    # --- depth first, counting schedules over the state graph

    def run(self, scenario: Scenario) -> _Seen:
        self.sc = scenario
        try:
            world = self.fresh()
        except Exception as exc:
            self.violations[scenario.name, "unexpected-exception"] = ExploreViolation(
                "unexpected-exception",
                type(exc).__name__,
                str(exc),
                "setup",
                scenario.name,
                [f"scenario {scenario.name}", "setup"],
                [],
            )
            return LEAF
        root = Node(world, tuple(range(len(scenario.ops))), self.faults, ())
        self.generated += 1
        key = fingerprint(root, scenario.ops, self.rows)
        known = self.seen.get(key)
        if known is not None:
            return known
        self.seen[key] = None
        if self.violated(root, "safety"):
            self.seen[key] = LEAF
            return LEAF
        return self.visit(root, key)

    def visit(self, node: Node, key: bytes) -> _Seen:
        actions = self.enabled(node)
        if not actions or len(node.path) >= MAX_DEPTH:
            self.cut = self.cut or bool(actions)
            if not actions:
                self.quiesced += 1
                try:
                    quiesce(node.world)
                    self.violated(node, "convergence")
                except Exception as exc:
                    self.crashed(node, "convergence", exc)
            self.seen[key] = LEAF
            return LEAF
        schedules = longest = 0
        for n, action in enumerate(actions):
            if self.done():
                break
            try:
                nxt = self.child(node, action, reuse=n == len(actions) - 1)
            except Exception as exc:
                self.generated += 1
                schedules += 1
                self.crashed(
                    Node(node.world, node.left, node.budget, (*node.path, action)), "safety", exc
                )
                continue
            if nxt is None:
                continue
            self.generated += 1
            if action.fault is not None or action.kind == "crash":
                self.injected[(action.fault or FaultKind.CRASH).value] += 1
            k = fingerprint(nxt, self.sc.ops, self.rows)
            if k in self.seen:
                known = self.seen[k]
                if known is None:  # back to a state on the current path
                    self.cycles += 1
                    continue
            elif len(self.seen) >= self.max_states:
                self.cut = True
                continue
            else:
                self.seen[k] = None
                known = LEAF if self.violated(nxt, "safety") else self.visit(nxt, k)
                self.seen[k] = known
            schedules += known.schedules
            longest = max(longest, known.longest + 1)
        seen = _Seen(schedules, longest)
        self.seen[key] = seen
        return seen


def explore(
    flows: int = 2,
    faults: int = 1,
    bug: str | None = None,
    max_states: int = 200_000,
    *,
    only: Sequence[str] | None = None,
    method: Method = "fork",
    stop_at_first: bool = False,
    store: str = "memory",
    server: str | None = None,
) -> ExploreReport:
    """Explore every schedule of the scenarios of ``flows`` operations with up to
    ``faults`` faults; return the counts and what was violated (never raising for it).

    Args:
        flows: concurrent operations per scenario (see :func:`scenarios`).
        faults: how many faults (armed provider or store faults, crashes) a schedule may have.
        bug: a seeded bug (``bugs.BUGS``) switched on for the run.
        max_states: stop at this many distinct states (then ``complete=False``).
        only: explore only the scenarios with these names.
        method: ``"fork"`` copies a parent's world per successor, ``"replay"``
            rebuilds it (slower; the reference); the last takes the parent's world.
        stop_at_first: stop at the first violation (the report is then incomplete).
        store: ``memory``, ``sqlite`` (a file per state) or ``postgresql`` (a database
            per world on ``server``; with ``method="replay"``: no database is copied).

    Example:
        >>> explore(flows=2, faults=0).violations
        []
    """
    if faults < 0:
        raise ValueError("faults must be at least 0")
    chosen = _chosen(flows, only)
    started = time.perf_counter()
    schedules = depth = 0
    with _bug(bug), copyable(), worlds_on(store, server) as wiring:
        search = _Search(faults, max_states, method, stop_at_first, wiring)
        for sc in chosen:
            root = search.run(sc)
            schedules += root.schedules
            depth = max(depth, root.longest)
            if search.done():
                break
    return ExploreReport(
        flows=flows,
        faults=faults,
        bug=bug,
        scenarios=[sc.name for sc in chosen],
        states_generated=search.generated,
        distinct_states=len(search.seen),
        schedules=schedules,
        quiesced=search.quiesced,
        depth=depth,
        cycles=search.cycles,
        faults_injected={k.value: search.injected[k.value] for k in FAULT_KINDS} if faults else {},
        elapsed_s=time.perf_counter() - started,
        complete=not search.cut and not search.done(),
        violations=list(search.violations.values()),
    )


def _chosen(flows: int, only: Sequence[str] | None) -> list[Scenario]:
    chosen = [sc for sc in scenarios(flows) if only is None or sc.name in only]
    if only is not None and len(chosen) != len(set(only)):
        known = ", ".join(sc.name for sc in scenarios(flows))
        raise ValueError(f"unknown scenario in {list(only)}; known: {known}")
    return chosen


def _bug(bug_id: str | None) -> AbstractContextManager[None]:
    if bug_id is None:
        return nullcontext()
    from ..bugs import switched_on

    return switched_on(bug_id)
