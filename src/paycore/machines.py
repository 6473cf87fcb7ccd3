"""One state machine per aggregate type, defined once, with ``transitions``.

Each table below is the single definition of its aggregate's life cycle. A
``transitions.Machine`` is built from it once per type (``model=None``,
``auto_transitions=False``) and a lookup ``(state, trigger) -> state`` is
precomputed from that machine, so that a status change costs a dict lookup
instead of a trigger call, and no object ever owns a machine.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Generic, TypeVar

from transitions import Machine

from paycore.errors import IllegalTransition
from paycore.status import (
    FlowStatus,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ReservationStatus,
)

S = TypeVar("S", bound=enum.StrEnum)


class StateMachine(Generic[S]):
    """The life cycle of one aggregate type."""

    def __init__(
        self,
        aggregate: str,
        states: type[S],
        initial: S,
        table: list[tuple[str, list[S], S]],
    ) -> None:
        self.aggregate = aggregate
        self.states = states
        self.initial = initial
        self.table = table
        machine = Machine(
            model=None,
            states=[s.value for s in states],
            transitions=[
                {"trigger": t, "source": [s.value for s in src], "dest": dst.value}
                for t, src, dst in table
            ],
            initial=initial.value,
            auto_transitions=False,
        )
        lookup: dict[tuple[S, str], S] = {}
        for name, event in machine.events.items():
            for source, transitions_ in event.transitions.items():
                (only,) = transitions_
                lookup[(states(source), name)] = states(str(only.dest))
        self._lookup: Mapping[tuple[S, str], S] = lookup
        self.triggers = frozenset(name for name, _, _ in table)
        self.terminal = frozenset(s for s in states if not any(src == s for (src, _t) in lookup))
        #: Every legal (from, trigger, to) by status value, creation included as
        #: (None, "create", initial): what an audit entry of this aggregate may record.
        self.recordable = frozenset(
            {(None, "create", initial.value)}
            | {(src.value, t, dst.value) for (src, t), dst in lookup.items()}
        )

    def next(self, state: S, trigger: str) -> S:
        """Return the state ``trigger`` leads to from ``state``, or raise IllegalTransition."""
        try:
            return self._lookup[(state, trigger)]
        except KeyError:
            raise IllegalTransition(
                f"{self.aggregate}: '{trigger}' is not allowed from '{state.value}'",
                aggregate=self.aggregate,
                state=state.value,
                trigger=trigger,
            ) from None

    def allows(self, state: S, trigger: str) -> bool:
        return (state, trigger) in self._lookup

    def edges(self) -> list[tuple[S, str, S]]:
        """Every (source, trigger, destination), in table order."""
        return [(src, t, dst) for t, srcs, dst in self.table for src in srcs]


OS, P, R, F, RF = OrderStatus, PaymentStatus, ReservationStatus, FlowStatus, RefundStatus

ORDER = StateMachine(
    "order",
    OrderStatus,
    OS.PENDING,
    [
        ("pay", [OS.PENDING], OS.PAID),
        ("cancel", [OS.PENDING], OS.CANCELED),
        ("mark_out_of_stock", [OS.PENDING], OS.OUT_OF_STOCK),
        ("refund_part", [OS.PAID, OS.PARTIALLY_REFUNDED], OS.PARTIALLY_REFUNDED),
        ("refund_rest", [OS.PAID, OS.PARTIALLY_REFUNDED], OS.REFUNDED),
    ],
)

PAYMENT = StateMachine(
    "payment",
    PaymentStatus,
    P.CREATING,
    [
        ("intent_created", [P.CREATING], P.OPEN),
        ("creation_failed", [P.CREATING], P.FAILED),
        ("require_action", [P.OPEN, P.PROCESSING], P.REQUIRES_ACTION),
        ("start_processing", [P.OPEN, P.REQUIRES_ACTION], P.PROCESSING),
        ("reopen", [P.REQUIRES_ACTION, P.PROCESSING], P.OPEN),
        ("succeed", [P.OPEN, P.REQUIRES_ACTION, P.PROCESSING], P.SUCCEEDED),
        ("cancel", [P.CREATING, P.OPEN, P.REQUIRES_ACTION, P.PROCESSING], P.CANCELED),
    ],
)

RESERVATION = StateMachine(
    "reservation",
    ReservationStatus,
    R.HELD,
    [
        ("commit", [R.HELD], R.COMMITTED),
        ("release", [R.HELD], R.RELEASED),
        ("expire", [R.HELD], R.EXPIRED),
        # The shop's processing hold ran out (``jobs._maybe_unhold``) while the provider
        # was still processing the payment: the one expiry a payment that can still
        # succeed may see, said on the reservation itself (``stock-kept-for-live-payment``).
        ("expire_processing", [R.HELD], R.EXPIRED),
        ("give_back", [R.COMMITTED], R.RETURNED),
    ],
)

REFUND = StateMachine(
    "refund",
    RefundStatus,
    RF.PENDING,
    [
        ("settle", [RF.PENDING], RF.SUCCEEDED),
        ("fail", [RF.PENDING, RF.SUCCEEDED], RF.FAILED),
        ("cancel", [RF.PENDING], RF.CANCELED),
    ],
)

FLOW = StateMachine(
    "flow",
    FlowStatus,
    F.ACTIVE,
    [
        ("finish", [F.ACTIVE], F.SUCCEEDED),
        ("abort", [F.ACTIVE], F.FAILED),
        ("dead_letter", [F.ACTIVE], F.DEAD),
        ("revive", [F.DEAD], F.ACTIVE),
    ],
)

MACHINES: dict[str, StateMachine[enum.StrEnum]] = {
    m.aggregate: m  # type: ignore[misc]
    for m in (ORDER, PAYMENT, RESERVATION, REFUND, FLOW)
}
