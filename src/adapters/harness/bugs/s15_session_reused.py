"""S15: checkout session ids barely validated, and a session reused for any cart.

``checkout.check_session_id`` checks only that an id is there, and ``checkout.begin``
is wrapped so that a known session with another cart re-makes its order from the new
cart (paycore's own ``_snapshot_lines``, ``_hold`` and ``_total``) while the payment
and intent made for the first cart stay as they are; nothing expires a session.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from paycore import schema as s
from paycore.config import Config
from paycore.errors import InvalidCheckoutSession
from paycore.flows import checkout, checkout_begin, sync
from paycore.flows.cart import CartItem
from paycore.schema import Table
from paycore.status import OrderStatus
from paycore.unit import Unit, evolve

from .catalog import seeded
from .support import UnitView, patched

_BEGIN = checkout.begin


def _check_session_id(session_id: object) -> str:
    """The old check: the id is present. No format, no length."""
    if not session_id or not isinstance(session_id, str):
        raise InvalidCheckoutSession("checkoutSessionId is required")
    return session_id


class _Renumbered(UnitView):
    """Reservations made again for an order get ids of their own."""

    def __init__(self, u: Unit, made: int) -> None:
        super().__init__(u)
        self._made = made

    def create(self, table: Table[Any], record: Any, machine: Any = None) -> Any:
        if table.name == s.RESERVATIONS.name:
            record = evolve(record, {"id": f"{record.id}/{self._made + record.line}"})
        return self._u.create(table, record, machine)


def _begin(
    u: Unit,
    config: Config,
    session_id: str,
    cart: Sequence[CartItem],
    owner: str,
    *,
    chain: bool = False,
) -> tuple[str, bool]:
    """A known session is reused whatever cart comes with it and however old it is."""
    existing = u.find(s.ORDERS, "checkout_session_id", session_id)
    if not existing:
        return _BEGIN(u, config, session_id, cart, owner, chain=chain)
    order, fp = existing[0], checkout.fingerprint(cart)
    if order.cart_fingerprint != fp and order.status is OrderStatus.PENDING:
        lines = checkout_begin._snapshot_lines(u, cart)
        sync.release_held(u, order.id)
        view = _Renumbered(u, len(sync.reservations_of(u, order.id)))
        checkout_begin._hold(view.unit(), order.id, lines, order.expires_at)
        total = checkout_begin._total(lines)
        u.save(s.ORDERS, order, lines=tuple(lines), total=total, cart_fingerprint=fp)
    return checkout.flow_id_for(session_id), True


@seeded(
    "S15",
    "checkout session ids are barely validated: any string is accepted, a session is reused "
    "for a different cart (the order is re-made, the intent of the first cart is charged) "
    "and never expires",
    "no-double-charge",
    "amount-matches-order",
    "intent-amount-matches-payment",
    "service-answers",
)
@contextmanager
def _s15() -> Iterator[None]:
    with patched(
        ("paycore.flows.checkout.check_session_id", _check_session_id),
        ("paycore.flows.checkout.begin", _begin),
    ):
        yield
