"""S14: reservation expiry is not coordinated with the payment.

The janitor releases the holds of expired orders on their clock alone, without
canceling the intent or closing the order (``jobs.janitor`` replaced); a new
checkout does not count holds past their TTL (``checkout.begin`` wrapped); and a
success commits the order's stock whether or not it is still held for it: paycore's
``sync._on_paid`` runs on a unit whose stock never runs out, so a line whose hold
expired takes its units back even if they were sold meanwhile.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from paycore import schema as s
from paycore.config import Config
from paycore.flows import checkout, sync
from paycore.flows.cart import CartItem
from paycore.flows.engine import Engine
from paycore.records import Payment
from paycore.status import OrderStatus, ReservationStatus
from paycore.unit import Unit

from .catalog import seeded
from .support import Unchecked, force_stock, patched

_BEGIN = checkout.begin
_ON_PAID = sync._on_paid


def _expired_holds(u: Unit) -> Counter[tuple[str, str, str]]:
    """Units still held by pending orders past their TTL, by order, seller and SKU."""
    held: Counter[tuple[str, str, str]] = Counter()
    for order in u.find(s.ORDERS, "status", OrderStatus.PENDING):
        if order.expires_at <= u.now:
            for r in sync.reservations_of(u, order.id):
                if r.status is ReservationStatus.HELD:
                    held[order.id, r.seller_id, r.sku] += r.quantity
    return held


def _janitor(engine: Engine) -> list[str]:
    """Release the holds of expired orders, on their clock alone: the payment is not
    canceled at the provider and the order stays open, so the customer can still pay.
    No flow is started."""

    def body(u: Unit) -> None:
        orders = sorted({order_id for order_id, _, _ in _expired_holds(u)})
        for order_id in orders[: engine.config.job_batch]:
            sync.release_held(u, order_id, "expire")

    engine.transact(body)
    return []


def _begin(
    u: Unit,
    config: Config,
    session_id: str,
    cart: Sequence[CartItem],
    owner: str,
    *,
    chain: bool = False,
) -> tuple[str, bool]:
    """A hold counts only until its TTL (``expirationMinutes``): stock still held for a
    payment that can succeed is sold again once the clock has passed."""
    stale = _expired_holds(u)
    for (_, seller, sku), n in stale.items():
        force_stock(u, seller, sku, held=-n)  # not counted while reserving ...
    begun = _BEGIN(u, config, session_id, cart, owner, chain=chain)
    for (_, seller, sku), n in stale.items():
        force_stock(u, seller, sku, held=n)  # ... but still held for its payment
    return begun


def _on_paid(u: Unit, payment: Payment) -> None:
    """A success takes its stock back whatever is left of it."""
    _ON_PAID(Unchecked(u).unit(), payment)


@seeded(
    "S14",
    "reservation expiry is not coordinated with the payment: the janitor releases stock on "
    "its TTL without canceling the intent first, and a payment that succeeds afterwards "
    "commits stock that was sold to someone else (oversell)",
    "no-oversell",
    "hold-tied-to-payment",
    "no-stale-hold",
    "stock-kept-for-live-payment",
)
@contextmanager
def _s14() -> Iterator[None]:
    with patched(
        ("paycore.jobs.janitor", _janitor),
        ("paycore.flows.checkout.begin", _begin),
        ("paycore.flows.sync._on_paid", _on_paid),
    ):
        yield
