"""The explorer's scenarios and actions: what races, and the moves a schedule is made of."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import attrs

from paycore import schema as s
from paycore.status import FlowStatus

from ..faults import EXPLORED_PROVIDER_FAULTS, STORE_FAULTS, FaultKind
from ..world import METHODS, World

#: The faults a schedule may contain: provider faults in a call, store faults in a commit,
#: and a crash of the worker between two actions.
FAULT_KINDS: tuple[FaultKind, ...] = (*EXPLORED_PROVIDER_FAULTS, *STORE_FAULTS, FaultKind.CRASH)


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


def begin(world: World, op: Op, method: int = 0) -> None:
    if op.kind == "checkout":
        world.begin_checkout(op.session, op.product, 1)
    elif op.kind == "confirm":
        world.begin_confirm(0, method)
    else:
        world.begin_cancel(0)


def apply_action(world: World, ops: Sequence[Op], action: Action) -> bool:
    """Apply ``action``; False when its fault did not fire (the action could not fail so)."""
    fired = sum(world.plan.fired.values())
    if action.fault is not None:
        world.arm(action.fault)
    if action.kind == "begin":
        i, method = action.arg
        begin(world, ops[i], method)
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


def due_in(world: World) -> int | None:
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
