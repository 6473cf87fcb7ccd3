"""S12: order lines read from the live product instead of the order's snapshot.

The ``check_seller`` step's answer is always applied (the create is never made at once)
and wrapped to price the charge from the live products, and the ``create`` step charges
that price (paycore's ``_create`` given the live amount, adopting what it made
unchecked); a success commits, and a cancellation gives back, only the lines whose
product the live catalog still sells (``sync._on_paid`` and ``sync._on_canceled``
wrapped).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from paycore import schema as s
from paycore.flows import checkout, sync
from paycore.flows.engine import Advance, Remote
from paycore.flows.steps import CheckoutStep
from paycore.machines import ORDER, RESERVATION
from paycore.ports import AccountView, IntentView
from paycore.records import Flow, Order, Payment
from paycore.schema import Table
from paycore.status import OrderStatus, ReservationStatus
from paycore.unit import Unit

from .catalog import seeded
from .support import UnitView, force_stock, patched, steps_patched

_AFTER_CHECK = checkout._after_check
_CREATE = checkout._create
_ON_PAID = sync._on_paid
_ON_CANCELED = sync._on_canceled


def _active_lines(u: Unit, order: Order) -> set[int]:
    """The order's lines whose product the live catalog still sells."""
    out: set[int] = set()
    for i, line in enumerate(order.lines):
        product = u.get(s.PRODUCTS, line.product_id)
        if product is not None and not product.deleted:
            out.add(i)
    return out


def _after_check(u: Unit, flow: Flow, account: AccountView) -> Advance:
    """Price the charge from the live products, not from the order's snapshot."""
    adv = _AFTER_CHECK(u, flow, account)
    if adv.to != CheckoutStep.CREATE:
        return adv
    order = u.get(s.ORDERS, checkout._prm(flow).order_id)
    assert order is not None
    amount = 0
    for line in order.lines:
        product = u.get(s.PRODUCTS, line.product_id)
        price = product.price.amount if product is not None else line.unit_price.amount
        amount += price * line.quantity
    return Advance(to=CheckoutStep.CREATE, data={**adv.data, "live_amount": amount})


def _applied(account: AccountView) -> None:
    """The seller check's answer is applied in a transaction of its own."""
    return None


def _create(flow: Flow) -> Remote[IntentView]:
    """``checkout._create`` charging the live amount, adopting what it made unchecked."""
    live = flow.data.get("live_amount", checkout._prm(flow).amount)
    priced = attrs.evolve(flow, params={**flow.params, "amount": live})
    return attrs.evolve(_CREATE(priced), apply=_adopt_unchecked)


def _adopt_unchecked(u: Unit, flow: Flow, view: IntentView) -> Advance:
    """What the provider made is adopted as it is, without asking whose it is."""
    return checkout._adopt(u, flow, view, checkout._payment(u, flow))


class _LiveLines(UnitView):
    """An order's reservations as the live catalog shows them: a line whose product was
    deleted is no longer sold, so its reservation is not seen."""

    def find(self, table: Table[Any], field: str, value: object) -> list[Any]:
        found = self._u.find(table, field, value)
        if table.name != s.RESERVATIONS.name or field != "order_id":
            return found
        order = self._u.get(s.ORDERS, str(value))
        active = _active_lines(self._u, order) if order is not None else set()
        return [r for r in found if r.line in active]


def _on_paid(u: Unit, payment: Payment) -> None:
    """Commit the order's lines as the live catalog shows them: a deleted product's line
    is dropped and its stock never committed."""
    order = sync.order_of(u, payment)
    active = _active_lines(u, order)
    if order.status is not OrderStatus.PENDING or len(active) == len(order.lines):
        _ON_PAID(u, payment)
        return
    for r in _LiveLines(u).find(s.RESERVATIONS, "order_id", order.id):
        if r.status is ReservationStatus.HELD:
            u.move(s.RESERVATIONS, r, RESERVATION, "commit")
            force_stock(u, r.seller_id, r.sku, held=-r.quantity, committed=r.quantity)
    u.move(s.ORDERS, order, ORDER, "pay")
    u.notify(order.id, "order_paid", amount=payment.amount.amount)


def _on_canceled(u: Unit, payment: Payment, release_as: str) -> None:
    """Release the order's lines as the live catalog shows them: the stock of a product
    deleted meanwhile is never given back."""
    _ON_CANCELED(_LiveLines(u).unit(), payment, release_as)


@seeded(
    "S12",
    "order lines are read from the live product instead of the order's snapshot: a product "
    "changed or deleted mid-payment changes what is charged and what stock is committed or "
    "given back",
    "hold-tied-to-payment",
    "no-double-charge",
    "amount-matches-order",
    "intent-amount-matches-payment",
)
@contextmanager
def _s12() -> Iterator[None]:
    with (
        patched(
            ("paycore.flows.checkout._go_on", _applied),
            ("paycore.flows.checkout._after_check", _after_check),
            ("paycore.flows.sync._on_paid", _on_paid),
            ("paycore.flows.sync._on_canceled", _on_canceled),
        ),
        steps_patched(checkout.DEF, replace={CheckoutStep.CREATE: _create}),
    ):
        yield
