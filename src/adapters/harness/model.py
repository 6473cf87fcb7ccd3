"""The Hypothesis stateful model: rules for every operation, job, fault, webhook and clock.

Safety invariants are checked after every rule; the teardown turns faults
off, drains webhooks, jobs and flows to a fixpoint and checks convergence.
Subclass :class:`PaycoreMachine` and override :meth:`PaycoreMachine.make_world`
to run the same rules against your own wiring.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from paycore.invariants import Violation

from .faults import PROVIDER_FAULTS, STORE_FAULTS, FaultKind
from .world import World


class InvariantViolated(AssertionError):
    """An invariant failed; carries the violations and the run's timeline."""

    def __init__(self, phase: str, violations: list[Violation], timeline: list[str]) -> None:
        self.phase = phase
        self.violations = violations
        self.timeline = list(timeline)
        shown = "\n".join(f"  {v}" for v in violations[:10])
        super().__init__(f"{phase} invariant violated:\n{shown}")


class RunStats:
    """Counts across every example of a run (for the summary and fault coverage)."""

    def __init__(self) -> None:
        self.examples = 0
        self.rules = 0
        self.checks = 0
        self.faults: Counter[FaultKind] = Counter()
        self.counts: Counter[str] = Counter()
        self.first_violation_at: float | None = None
        self.started = time.perf_counter()

    def absorb(self, world: World) -> None:
        self.faults.update(world.plan.fired)
        self.counts.update(world.counts)
        self.counts["steps"] += world.steps
        self.counts["crashes"] += world.restarts


def digits(code: int, *radices: int) -> list[int]:
    """Split one drawn integer into mixed-radix digits, least significant first.

    Each rule draws a single integer and decodes its arguments from it: Hypothesis' cost
    per step grows with the number of draws, and an integer shrinks towards 0, i.e.
    towards the first entry of every table below, just as separate arguments would.
    Every rule's range stays within 256 values, where Hypothesis draws uniformly (beyond
    it, its integers lean towards small values and the high digits would hardly vary).
    """
    out = []
    for radix in radices:
        code, digit = divmod(code, radix)
        out.append(digit)
    return out


def span(*radices: int) -> st.SearchStrategy[int]:
    """The integers that :func:`digits` decodes with these radices."""
    return st.integers(0, math.prod(radices) - 1)


SESSIONS = 4
PAYMENTS = 5
FLOWS = 8
SHOP_METHODS = (0, 0, 1, 2, 3)  # mostly a card that works; declined, 3-D Secure, processing
REFUND_AMOUNTS = (None, None, 100, 250, 600, 1000)  # None: the rest of the order
WEBHOOK_MODES = (0, 0, 1, 2)  # deliver, deliver, duplicate, forged signature
ENVIRONMENT = ("job", "job", "clock", "merchant", "crash")
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


class PaycoreMachine(RuleBasedStateMachine):
    """paycore under concurrent, failing, crashing, late and duplicated everything."""

    stats: ClassVar[RunStats] = RunStats()

    def __init__(self) -> None:
        super().__init__()
        self.world = self.make_world()
        self.stats.examples += 1

    def make_world(self) -> World:
        """Override to drive your own wiring."""
        return World()

    # --- operations -------------------------------------------------------------------
    # Few rules, each drawing one integer (see ``digits``): Hypothesis' cost per step
    # grows with the number of rules and of draws, and the integers shrink just as well.

    @rule(code=span(SESSIONS, 2, 2))
    def checkout(self, code: int) -> None:
        """A checkout's first transaction: a session, a product, a quantity of 1 or 2."""
        self.stats.rules += 1
        session, product, quantity = digits(code, SESSIONS, 2, 2)
        self.world.begin_checkout(session, product, quantity + 1)

    @rule(code=span(SESSIONS, 2, 2, len(SHOP_METHODS)))
    def shop(self, code: int) -> None:
        """A whole checkout and confirmation, as production runs them."""
        self.stats.rules += 1
        session, product, quantity, method = digits(code, SESSIONS, 2, 2, len(SHOP_METHODS))
        self.world.shop(session, product, quantity + 1, SHOP_METHODS[method])

    @rule(code=span(2, PAYMENTS, 4))
    def payment_op(self, code: int) -> None:
        """Confirm a payment with one of the methods, or cancel it (first transactions)."""
        self.stats.rules += 1
        op, payment, method = digits(code, 2, PAYMENTS, 4)
        if op == 0:
            self.world.begin_confirm(payment, method)
        else:
            self.world.begin_cancel(payment)

    @rule(code=span(PAYMENTS, len(REFUND_AMOUNTS), 3, 2))
    def refund(self, code: int) -> None:
        """Refund a payment (first transaction), or two support agents refund it at once."""
        self.stats.rules += 1
        payment, amount_no, key, twice = digits(code, PAYMENTS, len(REFUND_AMOUNTS), 3, 2)
        amount = REFUND_AMOUNTS[amount_no]
        self.world.begin_refund(payment, amount, key)
        if twice:
            self.world.begin_refund(payment, amount, key + 1)

    # --- interleaving: which in-flight flow moves next --------------------------------

    @rule(code=st.integers(0, 2 * FLOWS**2 - 1))
    def step(self, code: int) -> None:
        """One single step (half the codes) or two, each of the flow its choice picks;
        safety is checked after each of them."""
        self.stats.rules += 1
        one, rest = divmod(code, FLOWS**2)
        choices = [rest % FLOWS] if one == 0 else digits(rest, FLOWS, FLOWS)
        for n, choice in enumerate(choices):
            if n:
                self.safety()
            self.world.step(choice)

    @rule(choice=st.integers(0, FLOWS - 1))
    def finish_flow(self, choice: int) -> None:
        """One flow runs until it ends or must wait, as production runs it."""
        self.stats.rules += 1
        self.world.finish(choice)

    # --- the customer, the provider's webhooks, the shop, time ------------------------

    @rule(code=span(PAYMENTS, 4))
    def customer(self, code: int) -> None:
        self.stats.rules += 1
        payment, action = digits(code, PAYMENTS, 4)
        self.world.customer(payment, action)

    @rule(code=span(6, len(WEBHOOK_MODES)))
    def deliver_webhook(self, code: int) -> None:
        self.stats.rules += 1
        choice, mode = digits(code, 6, len(WEBHOOK_MODES))
        self.world.deliver(choice, WEBHOOK_MODES[mode])

    @rule(code=span(len(ENVIRONMENT), 8))
    def environment(self, code: int) -> None:
        """A background job, a clock jump, a merchant change, or a crash."""
        self.stats.rules += 1
        what, arg = digits(code, len(ENVIRONMENT), 8)
        if ENVIRONMENT[what] == "job":
            self.world.job(arg)
        elif ENVIRONMENT[what] == "clock":
            self.world.advance(arg)
        elif ENVIRONMENT[what] == "merchant":
            self.world.merchant(arg)
        else:
            self.world.crash()

    # --- faults -----------------------------------------------------------------------

    @rule(code=span(len(FAULT_KINDS), len(FAULT_CALLS)))
    def arm_fault(self, code: int) -> None:
        """Fail the next commit, or the next provider call (of one kind, if its call is set)."""
        self.stats.rules += 1
        kind_no, call_no = digits(code, len(FAULT_KINDS), len(FAULT_CALLS))
        kind = FAULT_KINDS[kind_no]
        self.world.arm(kind, FAULT_CALLS[call_no] if kind in PROVIDER_FAULTS else None)

    # --- checks -----------------------------------------------------------------------

    @invariant()
    def safety(self) -> None:
        # Safety depends only on the store and the provider: when neither changed since
        # the last check (a refused operation, nothing to step), the verdict is the same.
        marker = self.world.progress()
        if marker == getattr(self, "_checked", None):
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
            self.world.quiesce()
            self.stats.checks += 1
            bad = self.world.violations(("safety", "convergence"))
            if bad:
                self._fail("convergence", bad)
        finally:
            self.stats.absorb(self.world)

    def _fail(self, phase: str, bad: list[Violation]) -> None:
        self.failed = True
        if self.stats.first_violation_at is None:
            self.stats.first_violation_at = time.perf_counter()
        raise InvariantViolated(phase, bad, self.world.timeline)
