"""A bounded exhaustive explorer, TLC-style: every schedule of a few small scenarios.

Each scenario (:func:`scenarios`) is a :class:`World` with one scarce SKU
(stock 1) and ``flows`` operations that race: sessions checking out the last
unit, one session submitted twice (S8), a confirm against a cancel (S9), a
checkout whose confirm starts as soon as its payment exists, the provider's
webhooks racing them all (S10). From the scenario's initial state the
explorer tries, depth first, every enabled action:

- begin an operation not begun yet (a confirm or cancel once its payment exists;
  a confirm once per card it may be paid with);
- advance any runnable flow by one step;
- deliver any webhook the provider sent, in any order;
- act as the customer at the provider (3-D Secure, settlement) when an intent waits for it;
- when nothing else can move, wait: the clock jumps to when the next flow is due
  (a retry's backoff, a dead worker's lease);
- while the fault budget lasts, the same actions failing in every way they can (a
  provider fault in a flow step's call, a store fault in any commit), and a crash of
  the worker while a flow is active.

A fault is armed just before the action it hits, and the successor is dropped if
it did not fire there: arming earlier would only add states that differ by an
armed flag no invariant reads.

Safety invariants are checked on every new state; a state where nothing is
enabled ends a schedule: it is made quiet (:meth:`World.quiesce`) and checked
for convergence too. States are identified by :func:`fingerprint`, a digest of
everything that decides what can happen next (what the explorer has still to
do included); a state seen before is not explored again. Counts follow TLC:
states generated (every action applied), distinct states, and the schedules
covered (maximal paths through the state graph, counted over it, not walked).

The world holds locks and cannot be deep-copied as is: :func:`fork` copies it
sharing what is immutable, locks made fresh (``method="fork"``);
``method="replay"`` rebuilds every state from a fresh world by replaying its
path instead, slower, and the reference the fork is checked against.
"""

from __future__ import annotations

import copy
import copyreg
import enum
import hashlib
import io
import pickle
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Literal

import attrs

from paycore import schema as s
from paycore.status import FlowStatus

from .faults import PROVIDER_FAULTS, STORE_FAULTS, FaultKind
from .world import METHODS, World

Method = Literal["fork", "replay"]
#: The faults a schedule may contain: provider faults in a call, store faults in a commit,
#: and a crash of the worker between two actions.
FAULT_KINDS: tuple[FaultKind, ...] = (*PROVIDER_FAULTS, *STORE_FAULTS, FaultKind.CRASH)
#: A schedule longer than this is cut (and the run reported incomplete).
MAX_DEPTH = 400


# --- scenarios ------------------------------------------------------------------------


@attrs.frozen
class Op:
    """One operation a scenario starts; beginning it (its first transaction) is one action.

    A confirm is begun with each of ``methods`` in turn (one branch each).
    """

    kind: Literal["checkout", "confirm", "cancel"]
    session: int = 0
    product: int = 0  # 0: the scarce product (one unit), 1: a plentiful one
    methods: tuple[int, ...] = (0,)

    def label(self, method: int = 0) -> str:
        if self.kind == "checkout":
            what = ("the last scarce unit", "a plentiful product")[self.product]
            return f"checkout session {self.session} of {what}"
        if self.kind == "confirm":
            return f"confirm payment 0 with {METHODS[method]}"
        return "cancel payment 0"


@attrs.frozen
class Scenario:
    """Operations begun in any order; ``setup`` runs to completion before exploring."""

    name: str
    ops: tuple[Op, ...]
    setup: tuple[Op, ...] = ()


CHECKOUT, CONFIRM, CANCEL = Op("checkout"), Op("confirm"), Op("cancel")
#: A confirm with a card that succeeds, and with one that is declined. (A 3-D Secure
#: card against a cancel brings the customer and two more webhooks into that race: too
#: large a space to be exhaustive here; the "3ds" scenario confirms with one alone.)
CONFIRM_EITHER = Op("confirm", methods=(0, 1))


def scenarios(flows: int) -> tuple[Scenario, ...]:
    """The scenarios: ``flows`` operations racing in each (the 3-D Secure one races the
    customer and webhooks with a single confirm), on one unit of stock."""
    if flows < 1:
        raise ValueError("flows must be at least 1")
    n = flows
    racers = (CONFIRM_EITHER, CANCEL, CONFIRM, CANCEL)
    return (
        # Sessions race for the last unit; a loser may still win if the winner aborts.
        Scenario("last-unit", tuple(Op("checkout", session=i) for i in range(n))),
        # One session submitted n times (a double click, a retry): one order (S8). The
        # product is plentiful: with one unit, the copy is turned away as out of stock
        # before the missing duplicate check could matter.
        Scenario("one-session", (Op("checkout", product=1),) * n),
        # An open payment confirmed (its card succeeds or is declined) and canceled at
        # once (S9), the provider's webhooks racing both (S10).
        Scenario("confirm-cancel", tuple(racers[i % len(racers)] for i in range(n)), (CHECKOUT,)),
        # A checkout whose confirm starts as soon as its payment exists, against the
        # checkout's own steps and webhooks (S10); n - 2 more sessions want the unit.
        Scenario(
            "checkout-pay",
            (CHECKOUT, CONFIRM, *(Op("checkout", session=i) for i in range(1, n - 1))),
        ),
        # A confirm that needs 3-D Secure: the customer passes or fails it while the
        # webhooks for each status (requires_action, then succeeded or payment_failed)
        # arrive in any order against the client's own answer.
        Scenario("3ds", (Op("confirm", methods=(2,)),), (CHECKOUT,)),
    )


# --- actions ------------------------------------------------------------------------


@attrs.frozen
class Action:
    kind: Literal["begin", "step", "deliver", "customer", "wait", "crash"]
    #: (op index, method); the flow id; the delivery's index; (payment, customer action);
    #: the wait in ms
    arg: Any
    label: str
    #: A provider or store fault armed just before the action, which must fire in it.
    fault: FaultKind | None = None

    def with_fault(self, fault: FaultKind) -> Action:
        return Action(self.kind, self.arg, f"{self.label} [{fault.value}]", fault)


#: What the customer (or the card network) may do to an intent in each status.
CUSTOMER = {
    "requires_action": ((0, "passes 3-D Secure"), (1, "fails 3-D Secure")),
    "processing": ((2, "payment settles"), (3, "payment fails to settle")),
}


def _begin(world: World, op: Op, method: int = 0) -> None:
    if op.kind == "checkout":
        world.begin_checkout(op.session, op.product, 1)
    elif op.kind == "confirm":
        world.begin_confirm(0, method)
    else:
        world.begin_cancel(0)


def _apply(world: World, ops: Sequence[Op], action: Action) -> bool:
    """Apply ``action``; False when its fault did not fire (the action could not fail so)."""
    fired = sum(world.plan.fired.values())
    if action.fault is not None:
        world.arm(action.fault)
    if action.kind == "begin":
        i, method = action.arg
        _begin(world, ops[i], method)
    elif action.kind == "step":
        world.step(world.runnable().index(action.arg))
    elif action.kind == "deliver":
        world.deliver(action.arg)
    elif action.kind == "customer":
        world.customer(*action.arg)
    elif action.kind == "wait":
        world.w.clock.advance(action.arg)
        world.say(f"clock +{action.arg} ms (waiting for the next due flow)")
    else:
        world.crash()
    world.pull_webhooks()
    if action.fault is None or sum(world.plan.fired.values()) > fired:
        return True
    world.plan.disarm_all()
    return False


def _due_in(world: World) -> int | None:
    """Milliseconds until the next active flow that cannot run now may run, if any."""
    now, me = world.w.clock.now(), world.engine.worker_id
    waits = []
    for flow in world.w.store.snapshot().rows(s.FLOWS):
        if flow.status is not FlowStatus.ACTIVE:
            continue
        at = flow.next_run_at
        if flow.lease_owner not in (None, me):
            at = max(at, flow.lease_until)
        waits.append(max(at - now, 1))
    return min(waits) if waits else None


# --- states -------------------------------------------------------------------------


@attrs.define
class Node:
    """A state: the world, what is left to begin, the fault budget, and how we got here."""

    world: World
    left: tuple[int, ...]  # indexes of operations not begun yet
    budget: int
    path: tuple[Action, ...]


#: Attributes that only record what happened (logs, counters) and never decide what
#: happens next: left out of the fingerprint.
_LOG_ONLY = {
    "provider": {"_lock", "_clock", "calls", "_events"},
    "plan": {"_now", "fired", "log"},
}


def fingerprint(node: Node, ops: Sequence[Op], cache: RowCache | None = None) -> bytes:
    """A digest of everything that decides what can happen next.

    Store rows (in insertion order: ``find`` returns them in that order) and
    sequences; the provider's whole state (intents, refunds, saved idempotency
    answers, undelivered events, id counters); the clock; the worker's id and
    the answers it holds in memory; armed faults and keys whose saved answer is a
    500; queued webhooks; and what the explorer has still to do (operations not
    begun, as a multiset, and the fault budget). Logs and counters are left out.

    ``cache`` keeps each stored record's digest: records are immutable and shared
    between a state and its successors, so most are digested once per search.
    """
    w = node.world
    store, provider, eng = w.w.store, w.w.provider, w.engine
    inflight = [
        (fid, version, remote.call_name, remote.apply.__qualname__, outcome.value, outcome.error)
        for fid, (version, remote, outcome) in sorted(eng._inflight.items())
    ]
    state = (
        _rows(store, {} if cache is None else cache),
        sorted(store._seqs.items()),
        {k: v for k, v in vars(provider).items() if k not in _LOG_ONLY["provider"]},
        w.w.clock.now(),
        eng.worker_id,
        eng.outbox_pending,
        inflight,
        {k: v for k, v in vars(w.plan).items() if k not in _LOG_ONLY["plan"]},
        [(d.event, d.payload, d.header) for d in w.pending],
        list(w.sessions),
        sorted(attrs.astuple(ops[i]) for i in node.left),
        node.budget,
    )
    return _digest(state)


#: id of a record -> (the record, kept alive so that its id is not reused; its digest)
RowCache = dict[int, tuple[Any, bytes]]


def _rows(store: Any, cache: RowCache) -> list[tuple[str, list[str], list[bytes]]]:
    out = []
    for name, table in sorted(store._tables.items()):
        digests = []
        for row in table.rows.values():
            hit = cache.get(id(row))
            if hit is None or hit[0] is not row:
                hit = cache[id(row)] = (row, _digest(row))
            digests.append(hit[1])
        out.append((name, list(table.rows), digests))
    return out


def _digest(state: object) -> bytes:
    """Hash a state by value: the pickler's memo is off, so two equal states digest alike
    however their objects happen to be shared."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=5)
    pickler.fast = True
    pickler.dump(state)
    return hashlib.blake2b(buf.getbuffer(), digest_size=16).digest()


def _read_only(d: dict[Any, Any]) -> types.MappingProxyType[Any, Any]:
    return types.MappingProxyType(d)


def quiesce(world: World) -> None:
    """:meth:`World.quiesce` (kept as a function so the search calls it uniformly)."""
    world.quiesce()


_REDUCERS: dict[type[Any], Callable[[Any], Any]] = {
    type(threading.Lock()): lambda _: (threading.Lock, ()),
    type(threading.RLock()): lambda _: (threading.RLock, ()),
    types.MappingProxyType: lambda m: (_read_only, (dict(m),)),
}


@contextmanager
def copyable() -> Iterator[None]:
    """Let deepcopy and pickle handle a world: a lock copies as a fresh lock, a read-only
    mapping as a read-only copy. Undone on exit."""
    table = copyreg.dispatch_table
    added = {t: r for t, r in _REDUCERS.items() if t not in table}
    table.update(added)
    try:
        yield
    finally:
        for t in added:
            table.pop(t, None)


def fork(world: World) -> World:
    """An independent copy of ``world`` (inside :func:`copyable`): what ``copy.deepcopy``
    makes, made faster by sharing what is immutable.

    paycore's records, the provider's views and events, the configuration and the
    schema are frozen attrs instances: the store already hands the same record to
    every snapshot, so a copy may share them too. Everything else is copied.
    """
    return _clone(world, {})  # type: ignore[no-any-return]


_ATOMIC: set[type[Any]] = {str, int, float, bool, type(None), bytes, type, types.FunctionType}
_HOW: dict[type[Any], str] = {}  # how each other type is copied: "dict", "attrs" or "deep"
_OBJECT_STATE: tuple[Any, ...] = (
    object.__reduce_ex__,
    object.__reduce__,
    getattr(object, "__getstate__", None),
)


def _how(t: type[Any]) -> str:
    """Share an enum or a frozen attrs instance; copy a plain object by its ``__dict__``,
    a mutable attrs instance by its fields, anything else (custom copying or pickling,
    slots, containers' subclasses) with ``copy.deepcopy``."""
    frozen = attrs.has(t) and getattr(t.__setattr__, "__name__", "") == "_frozen_setattrs"
    if issubclass(t, enum.Enum) or frozen:
        _ATOMIC.add(t)
        return "atomic"
    custom = (
        hasattr(t, "__deepcopy__")
        or (hasattr(t, "__setstate__") and not attrs.has(t))
        or t in copyreg.dispatch_table
        or issubclass(t, dict | list | tuple | set | frozenset)
    )
    if custom:
        return "deep"
    if attrs.has(t):
        return "attrs"
    own: tuple[Any, ...] = (t.__reduce_ex__, t.__reduce__, getattr(t, "__getstate__", None))
    slotted = any("__slots__" in vars(c) for c in t.__mro__[:-1])
    return "dict" if own == _OBJECT_STATE and not slotted else "deep"


def _clone(x: Any, memo: dict[int, Any]) -> Any:
    t = type(x)
    if t in _ATOMIC:
        return x
    got = memo.get(id(x), memo)
    if got is not memo:
        return got
    atomic = _ATOMIC
    if t is dict:
        y: Any = {}
        memo[id(x)] = y
        for k, v in x.items():
            if type(k) not in atomic:
                k = _clone(k, memo)
            y[k] = v if type(v) in atomic else _clone(v, memo)
        return y
    if t is list:
        y = memo[id(x)] = []
        y.extend(v if type(v) in atomic else _clone(v, memo) for v in x)
        return y
    if t is tuple:
        items = [v if type(v) in atomic else _clone(v, memo) for v in x]
        y = x if all(a is b for a, b in zip(items, x, strict=True)) else tuple(items)
        memo[id(x)] = y
        return y
    how = _HOW.get(t) or _HOW.setdefault(t, _how(t))
    if how == "atomic":
        return x
    if how == "deep":
        return copy.deepcopy(x, memo)
    y = object.__new__(t)
    memo[id(x)] = y
    if how == "dict":
        y.__dict__.update(_clone(x.__dict__, memo))
    else:
        for a in attrs.fields(t):
            if hasattr(x, a.name):
                object.__setattr__(y, a.name, _clone(getattr(x, a.name), memo))
    return y


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

    def __init__(self, faults: int, max_states: int, method: Method, stop: bool) -> None:
        self.sc = Scenario("-", ())
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
        world = World(scarce_stock=1)
        for op in self.sc.setup:  # run to completion: flows finished, webhooks delivered
            _begin(world, op)
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
        if self.method == "replay":
            world = self.fresh()
            for a in node.path:
                _apply(world, self.sc.ops, a)
        else:
            world = node.world if reuse else fork(node.world)
        if not _apply(world, self.sc.ops, action):
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
            due = _due_in(w)
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
                yield from (a.with_fault(f) for f in PROVIDER_FAULTS)
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
) -> ExploreReport:
    """Explore every schedule of the scenarios of ``flows`` operations with up to
    ``faults`` faults; return the counts and what was violated (never raising for it).

    Args:
        flows: concurrent operations per scenario (see :func:`scenarios`).
        faults: how many faults (armed provider or store faults, crashes) a schedule may have.
        bug: a seeded bug (``bugs.BUGS``) switched on for the run.
        max_states: stop once this many distinct states were found (the report then
            says ``complete=False``).
        only: explore only the scenarios with these names.
        method: ``"fork"`` copies a parent's world per successor; ``"replay"``
            rebuilds it from scratch (slower; the reference).
        stop_at_first: stop at the first violation (the report is then incomplete).

    Example:
        >>> explore(flows=2, faults=0).violations
        []
    """
    if faults < 0:
        raise ValueError("faults must be at least 0")
    chosen = [sc for sc in scenarios(flows) if only is None or sc.name in only]
    if only is not None and len(chosen) != len(set(only)):
        known = ", ".join(sc.name for sc in scenarios(flows))
        raise ValueError(f"unknown scenario in {list(only)}; known: {known}")
    started = time.perf_counter()
    search = _Search(faults, max_states, method, stop_at_first)
    schedules = depth = 0
    with _bug(bug), copyable():
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


def _bug(bug_id: str | None) -> AbstractContextManager[None]:
    if bug_id is None:
        return nullcontext()
    from .bugs import switched_on

    return switched_on(bug_id)
