"""The Hypothesis stateful model: rules for every operation, job, fault, webhook and clock.

Safety invariants are checked after every rule; the teardown turns faults
off, drains webhooks, jobs and flows to a fixpoint and checks convergence.
Subclass :class:`PaycoreMachine` and override :meth:`PaycoreMachine.make_world`
to run the same rules against your own wiring.
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections import Counter
from typing import Any, ClassVar

import attrs
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from paycore.invariants import Violation

from . import concurrency, dimensions, outages, service_api, stories
from .coverage import Coverage
from .failures import InvariantViolated as InvariantViolated  # importable from here too
from .faults import PROVIDER_FAULTS, STORE_FAULTS, FaultKind
from .stores import MEMORY, WiringFactory
from .world import BANK_OPS, NO_LEAK, QUIET_ROUNDS, WORLD_CHECKS, World


class RunStats:
    """Counts across every example of a run (for the summary and fault coverage)."""

    def __init__(self) -> None:
        self.examples = 0
        self.rules = 0
        self.checks = 0
        self.faults: Counter[FaultKind] = Counter()
        self.counts: Counter[str] = Counter()
        self.coverage = Coverage()
        self.first_violation_at: float | None = None
        self.started = time.perf_counter()

    def absorb(self, world: World) -> None:
        self.faults.update(world.plan.fired)
        self.counts.update(world.counts)
        self.counts["steps"] += world.steps
        self.counts["crashes"] += world.restarts
        world.coverage.read_audit(world.view())
        self.coverage.absorb(world.coverage)


def digits(code: int, *radices: int) -> list[int]:
    """Split one drawn integer into mixed-radix digits, least significant first.

    Each action decodes its arguments from one integer (its offset in the action's block
    of drawn integers, modulo how many it takes), which costs Hypothesis less than one
    draw per argument; digit 0 is the first entry of every table below.
    """
    out = []
    for radix in radices:
        code, digit = divmod(code, radix)
        out.append(digit)
    return out


SESSIONS = 4
PAYMENTS = 5
FLOWS = 8
SHOP_METHODS = (0, 0, 1, 2, 3)  # mostly a card that works; declined, 3-D Secure, processing
REFUND_AMOUNTS = (None, None, 100, 250, 600, 1000)  # None: the rest of the order
WEBHOOK_MODES = (0, 0, 1, 2)  # deliver, deliver, duplicate, forged signature
ENVIRONMENT = ("job", "job", "clock", "merchant", "crash", "race", "service", "service")
ENVIRONMENT_ARGS = 16
#: A clock action's arguments from here on start a provider outage (see ``outages``).
OUTAGE_ARGS = 12
# 3-D Secure or settling (4), then paying again or the bank or dashboard on one of two
# refunds (BANK_OPS each)
CUSTOMER_ACTIONS = 4 + 2 * len(BANK_OPS)
# the ambiguous case (effect applied, answer lost) is the one that matters most
FAULT_KINDS = (FaultKind.RESPONSE_LOST, FaultKind.RESPONSE_LOST, *PROVIDER_FAULTS, *STORE_FAULTS)
FAULT_CALLS = (
    None,
    None,
    "create_intent",
    "create_intent",
    "confirm_intent",
    "cancel_intent",
    "create_refund",
    "retrieve_intent",
)


# Every kind of action: its name, how many integers its argument decoder takes, and how
# many of the drawn integers it gets (its weight: each of them decodes to one of its
# arguments, modulo). The first kinds are in every example; swarm testing may leave any
# of the others out of one.
ALWAYS = (
    ("step", 2 * FLOWS**2, 128),
    ("finish_flow", FLOWS, 48),
    ("checkout", SESSIONS * 2 * 2, 64),
)
ACTIONS = (
    *ALWAYS,
    ("shop", SESSIONS * 2 * 2 * len(SHOP_METHODS), 80),
    ("payment_op", 2 * PAYMENTS * 4, 80),
    ("refund", PAYMENTS * len(REFUND_AMOUNTS) * 3, 90),
    ("customer", PAYMENTS * CUSTOMER_ACTIONS, 90),
    ("deliver_webhook", 6 * len(WEBHOOK_MODES), 72),
    ("environment", len(ENVIRONMENT) * ENVIRONMENT_ARGS, 128),
    ("arm_fault", len(FAULT_KINDS) * len(FAULT_CALLS), 80),
)
assert len(ACTIONS) - len(ALWAYS) <= 7 and all(size <= codes for _, size, codes in ACTIONS)
STARTS = list(itertools.accumulate((codes for _, _, codes in ACTIONS), initial=0))
CODES = STARTS.pop()  # the integers one draw picks from
# Hypothesis leans towards low integers; multiplying by a number prime to CODES spreads
# them over every kind (and still maps 0 to 0: a single step of the first flow).
SPREAD = 379
assert math.gcd(SPREAD, CODES) == 1


#: How each kind's argument code splits into named arguments (mixed-radix digits, least
#: significant first, as its method decodes it) and, where a table names the values,
#: that table; only for printing an action (a kind missing here prints its code).
SIGNATURES: dict[str, tuple[tuple[str, int, tuple[object, ...] | None], ...]] = {
    "step": (("flow", FLOWS, None), ("then", FLOWS, None), ("two", 2, None)),
    "finish_flow": (("flow", FLOWS, None),),
    "checkout": (("session", SESSIONS, None), ("product", 2, None), ("quantity", 2, (1, 2))),
    "shop": (
        ("session", SESSIONS, None),
        ("product", 2, None),
        ("quantity", 2, (1, 2)),
        ("method", len(SHOP_METHODS), SHOP_METHODS),
    ),
    "payment_op": (
        ("op", 2, ("confirm", "cancel")),
        ("payment", PAYMENTS, None),
        ("method", 4, None),
    ),
    "refund": (
        ("payment", PAYMENTS, None),
        ("amount", len(REFUND_AMOUNTS), REFUND_AMOUNTS),
        ("key", 3, ("rk-0", "rk-1", "both")),
    ),
    "customer": (("payment", PAYMENTS, None), ("action", CUSTOMER_ACTIONS, None)),
    "deliver_webhook": (("event", 6, None), ("mode", len(WEBHOOK_MODES), WEBHOOK_MODES)),
    "environment": (("what", len(ENVIRONMENT), ENVIRONMENT), ("arg", ENVIRONMENT_ARGS, None)),
    "arm_fault": (
        ("kind", len(FAULT_KINDS), tuple(k.value for k in FAULT_KINDS)),
        ("call", len(FAULT_CALLS), FAULT_CALLS),
    ),
}


@attrs.frozen(repr=False)
class Action:
    """One drawn action: its kind (an index into ``ACTIONS``) and its argument code.

    It prints as the action it names, ``refund(payment=2, amount=None, key='rk-1')``, so a
    falsifying example reads as what happened. The integer is drawn as it is (mapping the
    strategy to actions would change what Hypothesis generates for a seed).
    """

    kind: int
    offset: int

    @classmethod
    def decode(cls, code: int) -> Action:
        """The action a drawn integer names."""
        code = code * SPREAD % CODES
        kind = bisect.bisect_right(STARTS, code) - 1
        return cls(kind, code - STARTS[kind])

    def __repr__(self) -> str:
        name, size, _ = ACTIONS[self.kind]
        code = self.offset % size
        signature = SIGNATURES.get(name)
        if signature is None:
            return f"{name}(code={code})"
        values = digits(code, *(radix for _, radix, _ in signature))
        shown = [
            f"{arg}={(table[v] if table else v)!r}"
            for (arg, _, table), v in zip(signature, values, strict=True)
        ]
        return f"{name}({', '.join(shown)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How a falsifying example shows it (``hypothesis.note``): a comment above the
        ``state.act(code=...)`` line that runs it, so the example stays runnable Python."""
        printer.text(f"# {self!r}")


#: The action each drawn integer names (decoded once, not at every step).
DRAWN_ACTIONS = tuple(Action.decode(code) for code in range(CODES))


#: Checks of the harness itself, reported like invariants: a service answer contradicting the
#: store, units lost by a race, an unsettled quiet phase, a secret in a port error; world_checks'.
HARNESS_CHECKS = WORLD_CHECKS | {"service-answers", "no-lost-update", "quiet-within-bound", NO_LEAK}


def unsettled(world: World) -> Violation:
    """The quiet phase's own check: jobs kept changing things past the bound."""
    detail = f"still changing after {QUIET_ROUNDS} rounds of every job past every timer"
    return Violation("quiet-within-bound", "quiet phase", detail)


MASKS = 256  # swarm masks: the high bit turns every kind on, each other bit leaves one out

#: Shops other than the default one an example may start in: dimensions, then stories.
SHOPS = len(dimensions.DRAWN) - 1 + len(stories.STORIES)
assert 3 * SHOPS < 100, "Hypothesis draws the source's numbers in a dimension range >= 100"


class PaycoreMachine(RuleBasedStateMachine):
    """paycore under concurrent, failing, crashing, late and duplicated everything."""

    stats: ClassVar[RunStats] = RunStats()
    #: The command that replays this run, noted on a violation (``run_chaos`` sets it).
    replay: ClassVar[str | None] = None
    wiring: ClassVar[WiringFactory] = MEMORY  # what builds each example's system
    with_stories: ClassVar[bool] = True  # False: a story's shop is the default shop

    def __init__(self) -> None:
        super().__init__()
        self.world = self.make_world()
        self.stats.examples += 1
        self._checked: tuple[int, ...] | None = None  # progress at the last safety check

    def make_world(self) -> World:
        """Override to drive your own wiring."""
        return World(wiring=type(self).wiring)  # off the class: a function binds to self

    # --- the one rule -----------------------------------------------------------------
    # Hypothesis' cost per step grows with the number of rules and of draws (ten
    # one-argument rules cost it about 1.6 times what one rule with one argument does),
    # so there is a single rule drawing a single integer: which action, with which
    # arguments (see ``digits``). It shrinks towards 0: a single step of the first flow.

    @initialize(negated_mask=st.integers(1 - MASKS, 0))
    def swarm(self, negated_mask: int) -> None:
        """Swarm testing: half the examples leave some kinds of action out (the bits of the
        mask), so that bugs hidden by, say, the janitor always cleaning up show; an action
        of a kind left out becomes a step. The mask is drawn negated, where the project's
        source has no number for Hypothesis to draw instead (docs/harness.md, Replaying)."""
        mask = -negated_mask
        self.enabled = [
            mask >= 128 or i < len(ALWAYS) or not mask >> (i - len(ALWAYS)) & 1
            for i in range(len(ACTIONS))
        ]

    @initialize(dimension=st.integers(0, 3 * SHOPS))
    def dimension(self, dimension: int) -> None:
        """The shop this example runs in: a dimension (configuration, catalog, adapters:
        see ``dimensions``) or a scripted opening (see ``stories``) for ``dimension`` in
        1..SHOPS; the default shop for 0 (what shrinking leads to) and above (two thirds
        of the examples)."""
        if dimension == 0 or dimension > SHOPS:
            return
        if dimension < len(dimensions.DRAWN):
            dimensions.apply(self.world, dimensions.DRAWN[dimension])
        elif self.with_stories:
            stories.tell(self.world, dimension - len(dimensions.DRAWN))

    @rule(code=st.integers(0, CODES - 1))
    def act(self, code: int) -> None:
        """One action: ``code`` names the kind and the arguments (see ``Action``). A
        falsifying example shows each one by name, in a comment above its line."""
        self.stats.rules += 1
        action = DRAWN_ACTIONS[code]
        if not self.enabled[action.kind]:
            action = Action(0, action.offset)
        note(action)
        name, size, _ = ACTIONS[action.kind]
        getattr(self, name)(action.offset % size)

    # --- operations -------------------------------------------------------------------

    def checkout(self, code: int) -> None:
        """A checkout's first transaction: a session, a product, a quantity of 1 or 2."""
        session, product, quantity = digits(code, SESSIONS, 2, 2)
        self.world.begin_checkout(session, product, quantity + 1)

    def shop(self, code: int) -> None:
        """A whole checkout and confirmation, as production runs them."""
        session, product, quantity, method = digits(code, SESSIONS, 2, 2, len(SHOP_METHODS))
        self.world.shop(session, product, quantity + 1, SHOP_METHODS[method])

    def payment_op(self, code: int) -> None:
        """Confirm a payment with one of the methods, or cancel it (first transactions)."""
        op, payment, method = digits(code, 2, PAYMENTS, 4)
        if op == 0:
            self.world.begin_confirm(payment, method)
        else:
            self.world.begin_cancel(payment)

    def refund(self, code: int) -> None:
        """Refund a payment (first transaction) with one of two keys, or two support
        agents refund it at once. A refund of the rest under the second key says the
        goods came back (restock)."""
        payment, amount_no, key = digits(code, PAYMENTS, len(REFUND_AMOUNTS), 3)
        amount = REFUND_AMOUNTS[amount_no]
        self.world.begin_refund(payment, amount, key % 2, restock=amount is None and key == 1)
        if key == 2:
            self.world.begin_refund(payment, amount, 1, restock=amount is None)

    # --- interleaving: which in-flight flow moves next --------------------------------

    def step(self, code: int) -> None:
        """One single step (half the codes) or two, each of the flow its choice picks;
        safety is checked after each of them."""
        one, rest = divmod(code, FLOWS**2)
        choices = [rest % FLOWS] if one == 0 else digits(rest, FLOWS, FLOWS)
        for n, choice in enumerate(choices):
            if n:
                self.safety()
            self.world.step(choice)

    def finish_flow(self, choice: int) -> None:
        """One flow runs until it ends or must wait, as production runs it."""
        self.world.finish(choice)

    # --- the customer, the provider's webhooks, the shop, time ------------------------

    def customer(self, code: int) -> None:
        """The customer (3-D Secure, settling, paying again), or the bank on a refund."""
        payment, action = digits(code, PAYMENTS, CUSTOMER_ACTIONS)
        self.world.customer(payment, action)

    def deliver_webhook(self, code: int) -> None:
        choice, mode = digits(code, 6, len(WEBHOOK_MODES))
        self.world.deliver(choice, WEBHOOK_MODES[mode])

    def environment(self, code: int) -> None:
        """A background job, a clock jump or a provider outage, a merchant change, a crash,
        a race of several workers in threads, or a call of the public service API (its
        answer checked)."""
        what, arg = digits(code, len(ENVIRONMENT), ENVIRONMENT_ARGS)
        if ENVIRONMENT[what] == "race":
            concurrency.run_race(self.world, concurrency.RACES.index("restock"))
        elif ENVIRONMENT[what] == "service":
            service_api.call(self.world, arg)
        elif ENVIRONMENT[what] == "job":
            self.world.job(arg)
        elif ENVIRONMENT[what] == "clock" and arg >= OUTAGE_ARGS:
            outages.start(self.world, arg - OUTAGE_ARGS)
        elif ENVIRONMENT[what] == "clock":
            self.world.advance(arg)
        elif ENVIRONMENT[what] == "merchant":
            self.world.merchant(arg)
        else:
            self.world.crash()

    # --- faults -----------------------------------------------------------------------

    def arm_fault(self, code: int) -> None:
        """Fail the next commit, or the next provider call (of one kind, if its call is set)."""
        kind_no, call_no = digits(code, len(FAULT_KINDS), len(FAULT_CALLS))
        kind = FAULT_KINDS[kind_no]
        self.world.arm(kind, FAULT_CALLS[call_no] if kind in PROVIDER_FAULTS else None)

    # --- checks -----------------------------------------------------------------------

    @invariant()
    def safety(self) -> None:
        # Safety depends only on the store and the provider: when neither changed since
        # the last check (a refused operation, nothing to step), the verdict is the same.
        if self.world.findings:
            self._fail("safety", list(self.world.findings))
        marker = self.world.progress()
        if marker == self._checked:
            return
        self._checked = marker
        self.stats.checks += 1
        bad = self.world.violations(("safety",))
        if bad:
            self._fail("safety", bad)

    def teardown(self) -> None:
        if getattr(self, "failed", False):
            self.stats.absorb(self.world)
            return  # keep the state (and timeline) of the violation as it was found
        try:
            settled = self.world.quiesce()
            self.stats.checks += 1
            bad = self.world.violations(("safety", "convergence"))
            if not settled:
                bad.append(unsettled(self.world))
            if bad:
                self._fail("convergence", bad)
        finally:
            self.stats.absorb(self.world)

    def _fail(self, phase: str, bad: list[Violation]) -> None:
        self.failed = True
        if self.stats.first_violation_at is None:
            self.stats.first_violation_at = time.perf_counter()
        raise InvariantViolated(phase, bad, self.world.timeline, self.replay)
