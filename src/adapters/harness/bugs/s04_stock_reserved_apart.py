"""S4: stock reserved apart from the order, without an atomic availability check.

The checkout's first transaction runs with a unit whose stock counts show nothing
held by other checkouts and which drops the holds and reservations; the checkout
starts at a ``reserve`` step of the bug's own, which takes the holds with paycore's
``checkout_begin._hold`` through a unit that checks nothing and writes the counters
unchecked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from paycore import schema as s
from paycore.config import Config
from paycore.flows import checkout, checkout_begin
from paycore.flows.cart import CartItem
from paycore.flows.engine import Advance, Local, create_flow, step
from paycore.flows.steps import CheckoutStep
from paycore.records import Flow, Stock
from paycore.unit import Unit, evolve

from .catalog import seeded
from .support import BugStep, Unchecked, UnitView, patched, steps_patched

_BEGIN = checkout.begin
_CREATE_FLOW = create_flow


class _BlindCount(UnitView):
    """The availability check reads a count that does not see what other checkouts
    hold (what a concurrent request read before their holds landed)."""

    def stock(self, seller_id: str, sku: str) -> Stock:
        return evolve(self._u.stock(seller_id, sku), {"held": 0})


def _begin(
    u: Unit,
    config: Config,
    session_id: str,
    cart: Sequence[CartItem],
    owner: str,
    *,
    chain: bool = False,
) -> tuple[str, bool]:
    view = _BlindCount(u, skip=frozenset({s.RESERVATIONS.name}), no_stock=True)
    return _BEGIN(view.unit(), config, session_id, cart, owner, chain=chain)


def _create_flow(
    u: Unit, flow_id: str, kind: str, step: str, params: object = None, **lease: Any
) -> Flow:
    """The checkout starts with a ``reserve`` step of its own."""
    if kind == "checkout" and step == CheckoutStep.CHECK_SELLER:
        step = BugStep.RESERVE
    return _CREATE_FLOW(u, flow_id, kind, step, params, **lease)


def _reserve(u: Unit, flow: Flow) -> Advance:
    """``reserveStock``, apart from the order: every line is held, unconditionally, on the
    strength of the check made when the order was written."""
    order = u.get(s.ORDERS, checkout._prm(flow).order_id)
    assert order is not None
    checkout_begin._hold(Unchecked(u).unit(), order.id, order.lines, order.expires_at)
    return Advance(to=CheckoutStep.CHECK_SELLER)


@seeded(
    "S4",
    "stock is reserved apart from the order and without an atomic availability check: the "
    "check made with the order does not see other checkouts' holds (as two concurrent "
    "requests would not), and the hold is taken in a later step without checking again, so "
    "several buyers hold the last unit",
    "no-oversell",
    "stock-conserved",
)
@contextmanager
def _s4() -> Iterator[None]:
    with (
        patched(
            ("paycore.flows.checkout.begin", _begin),
            ("paycore.flows.checkout_begin.create_flow", _create_flow),
        ),
        steps_patched(
            checkout.DEF,
            add={BugStep.RESERVE: step(lambda flow: Local(_reserve), CheckoutStep.CHECK_SELLER)},
        ),
    ):
        yield
