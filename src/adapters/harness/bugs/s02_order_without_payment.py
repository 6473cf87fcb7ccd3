"""S2: order and payment written in separate transactions.

The checkout's first transaction runs with a unit that drops the payment's insert;
the payment is written when the checkout first needs it (``checkout._payment``, in a
later transaction), and the janitor steps over an order that has no payment yet
(``jobs._end_expired``) instead of failing on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.flows import checkout, checkout_begin
from paycore.flows.cart import CartItem
from paycore.flows.engine import Engine
from paycore.machines import PAYMENT
from paycore.records import Flow, Order, Payment
from paycore.unit import Unit

from .catalog import seeded
from .support import UnitView, patched

_BEGIN = checkout.begin
_PAYMENT = checkout._payment
_END_EXPIRED = jobs._end_expired


def _begin(
    u: Unit,
    config: Config,
    session_id: str,
    cart: Sequence[CartItem],
    owner: str,
    *,
    chain: bool = False,
) -> tuple[str, bool]:
    """``createOrder`` commits the order, its lines and reservations; the payment record
    is not part of that transaction."""
    view = UnitView(u, skip=frozenset({s.PAYMENTS.name}))
    return _BEGIN(view.unit(), config, session_id, cart, owner, chain=chain)


def _payment(u: Unit, flow: Flow) -> Payment:
    """``storePaymentIntent``: the payment is written when the checkout first needs it."""
    if u.get(s.PAYMENTS, checkout._prm(flow).payment_id) is None:
        prm = checkout._prm(flow)
        order, seller = u.get(s.ORDERS, prm.order_id), u.get(s.SELLERS, prm.seller_id)
        assert order is not None and seller is not None
        u.create(s.PAYMENTS, checkout_begin._payment(u, order, seller, prm.reference), PAYMENT)
    return _PAYMENT(u, flow)


def _end_expired(engine: Engine, u: Unit, order: Order) -> str | None:
    """An order with no payment has nothing to cancel at the provider: stepped over."""
    if u.get(s.PAYMENTS, order.payment_id) is None:
        return None
    return _END_EXPIRED(engine, u, order)


@seeded(
    "S2",
    "order and payment are written in separate transactions: the order (with its lines and "
    "stock holds) commits first, the payment record only once the intent is recorded, so "
    "until then, or forever if that write never happens, the order has no payment",
    "one-order-per-session",
    "hold-tied-to-payment",
)
@contextmanager
def _s2() -> Iterator[None]:
    with patched(
        ("paycore.flows.checkout.begin", _begin),
        ("paycore.flows.checkout._payment", _payment),
        ("paycore.jobs._end_expired", _end_expired),
    ):
        yield
