"""The Hypothesis stateful model: rules for every operation, job, fault, webhook and clock.

Safety invariants are checked after every rule; the teardown turns faults
off, drains webhooks, jobs and flows to a fixpoint and checks convergence.
Subclass :class:`PaycoreMachine` and override :meth:`PaycoreMachine.make_world`
to run the same rules against your own wiring.
"""

from __future__ import annotations

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


SESSIONS = st.integers(0, 3)
PAYMENTS = st.integers(0, 4)


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

    def _did(self) -> None:
        self.stats.rules += 1

    # --- operations -------------------------------------------------------------------
    # Few rules with arguments rather than many rules: Hypothesis' cost per step grows
    # with the number of rules, and the arguments shrink just as well.

    @rule(session=SESSIONS, product=st.integers(0, 1), quantity=st.integers(1, 2))
    def checkout(self, session: int, product: int, quantity: int) -> None:
        self._did()
        self.world.begin_checkout(session, product, quantity)

    @rule(
        session=SESSIONS,
        product=st.integers(0, 1),
        quantity=st.integers(1, 2),
        method=st.sampled_from([0, 0, 1, 2, 3]),
    )
    def shop(self, session: int, product: int, quantity: int, method: int) -> None:
        """A whole checkout and confirmation, as production runs them."""
        self._did()
        self.world.shop(session, product, quantity, method)

    @rule(
        op=st.sampled_from(["confirm", "cancel", "refund", "two refunds"]),
        payment=PAYMENTS,
        method=st.integers(0, 3),
        amount=st.sampled_from([None, None, 100, 250, 600, 1000]),
        key=st.integers(0, 2),
    )
    def payment_op(self, op: str, payment: int, method: int, amount: int | None, key: int) -> None:
        """Confirm, cancel or refund a payment, or two refunds at once (first transactions)."""
        self._did()
        if op == "confirm":
            self.world.begin_confirm(payment, method)
        elif op == "cancel":
            self.world.begin_cancel(payment)
        elif op == "refund":
            self.world.begin_refund(payment, amount, key)
        else:  # two support agents refund the same order at once
            self.world.begin_refund(payment, amount, key)
            self.world.begin_refund(payment, amount, key + 1)

    # --- interleaving: which in-flight flow moves next --------------------------------

    @rule(choices=st.lists(st.integers(0, 7), min_size=1, max_size=3))
    def step(self, choices: list[int]) -> None:
        """One to three single steps, each of the flow ``choice`` picks."""
        for choice in choices:
            self._did()
            self.world.step(choice)

    @rule(choice=st.integers(0, 7))
    def finish_flow(self, choice: int) -> None:
        self._did()
        self.world.finish(choice)

    # --- the customer, the provider's webhooks, the shop, time ------------------------

    @rule(payment=PAYMENTS, action=st.integers(0, 3))
    def customer(self, payment: int, action: int) -> None:
        self._did()
        self.world.customer(payment, action)

    @rule(choice=st.integers(0, 5), mode=st.sampled_from([0, 0, 1, 2]))
    def deliver_webhook(self, choice: int, mode: int) -> None:
        self._did()
        self.world.deliver(choice, mode)

    @rule(
        what=st.sampled_from(["job", "job", "clock", "merchant", "crash"]),
        arg=st.integers(0, 6),
    )
    def environment(self, what: str, arg: int) -> None:
        """A background job, a clock jump, a merchant change, or a crash."""
        self._did()
        if what == "job":
            self.world.job(arg)
        elif what == "clock":
            self.world.advance(arg)
        elif what == "merchant":
            self.world.merchant(arg)
        else:
            self.world.crash()

    # --- faults -----------------------------------------------------------------------

    @rule(
        kind=st.sampled_from(
            # the ambiguous case (effect applied, answer lost) is the one that matters most
            (FaultKind.RESPONSE_LOST, FaultKind.RESPONSE_LOST, *PROVIDER_FAULTS, *STORE_FAULTS)
        ),
        call=st.sampled_from(
            [
                None,
                None,
                "create_intent",
                "create_intent",
                "confirm_intent",
                "cancel_intent",
                "create_refund",
                "retrieve_intent",
            ]
        ),
    )
    def arm_fault(self, kind: FaultKind, call: str | None) -> None:
        """Fail the next commit, or the next provider call (of one kind, if ``call``)."""
        self._did()
        self.world.arm(kind, call if kind in PROVIDER_FAULTS else None)

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
