"""A checkout's first transaction: order, lines, reservations, payment and flow at once (S2, S4).

Everything local happens here, in one transaction, before the provider is asked
anything: the session's existing order is found (the same cart replays it, S8),
the lines snapshot each product (S12), stock is held per seller and SKU, and the
checkout flow (:mod:`paycore.flows.checkout`) is recorded with its params.
"""

from __future__ import annotations

from collections.abc import Sequence

from paycore import schema as s
from paycore.config import Config
from paycore.errors import (
    CheckoutSessionExpired,
    CheckoutSessionReused,
    CurrencyMismatch,
    MixedSellerCart,
    OutOfStock,
    ProductNotFound,
    ProductUnavailable,
    SellerCannotCharge,
    SellerNotFound,
)
from paycore.flows.cart import CartItem, fingerprint
from paycore.flows.engine import create_flow
from paycore.flows.identity import installation_id, new_reference
from paycore.flows.params import CheckoutParams
from paycore.flows.steps import CheckoutStep
from paycore.machines import ORDER, PAYMENT, RESERVATION
from paycore.money import Money, check_charge
from paycore.records import Flow, Order, OrderLine, Payment, Reservation, Seller
from paycore.shown import shown_id
from paycore.unit import Unit, evolve

#: ``Flow.data``, in memory only (never stored): the flow is run again by a call that
#: replays its checkout session, so its seller check may have run before, and gone on at
#: once to a create whose answer was lost (``Remote.then``).
RUN_AGAIN = "run_again"
#: ``Flow.data``: no seller check of this flow went on at once to a create
#: (``Remote.then``), so a check run again sent nothing before it: the flow was begun for
#: a later run (``chain`` False: ``start_checkout`` then ``run_flow`` or recovery, whose
#: runs take the flow first), or its first check's answer was recorded (a retry).
CHECKED = "first_check_recorded"


def flow_id_for(session_id: str) -> str:
    return f"checkout:{session_id}"


def run_again(flow: Flow) -> Flow:
    """``flow``, as a replay of its session runs it (see :data:`RUN_AGAIN`)."""
    return evolve(flow, {"data": {**flow.data, RUN_AGAIN: True}})


def begin(
    u: Unit,
    config: Config,
    session_id: str,
    cart: Sequence[CartItem],
    owner: str,
    *,
    chain: bool = False,
) -> tuple[str, bool]:
    """The first step, all local, in one transaction (S2, S4): the flow id, and whether
    it is a replay (the session has an order for this cart: that flow, S8). ``chain``: the
    caller steps the flow at once as recorded (else it is :data:`CHECKED`)."""
    fp = fingerprint(cart)
    existing = u.find(s.ORDERS, "checkout_session_id", session_id)
    if existing:
        _check_replay(u, config, existing[0], session_id, fp)
        return flow_id_for(session_id), True
    lines = _snapshot_lines(u, cart)
    seller, total, seq = _seller_of(u, lines[0].seller_id), _total(lines), u.tx.next_seq("order")
    order_id, payment_id = f"ord_{seq:06d}", f"pay_{seq:06d}"
    installation = installation_id(u)  # drawn first: a seeded run gets the same id every time
    reference = new_reference(u, "pref")
    expires = u.now + config.reservation_ttl_ms
    _hold(u, order_id, lines, expires)
    order = Order(
        id=order_id,
        checkout_session_id=session_id,
        seller_id=seller.id,
        lines=tuple(lines),
        total=total,
        cart_fingerprint=fp,
        payment_id=payment_id,
        created_at=u.now,
        expires_at=expires,
    )
    u.create(s.ORDERS, order, ORDER)
    u.create(s.PAYMENTS, _payment(u, order, seller, reference), PAYMENT)
    create_flow(
        u,
        flow_id_for(session_id),
        "checkout",
        CheckoutStep.CHECK_SELLER,
        owner=owner,
        lease_until=u.now + config.lease_ms,
        data=None if chain else {CHECKED: True},
        params=CheckoutParams(
            session_id=session_id,
            order_id=order_id,
            payment_id=payment_id,
            seller_id=seller.id,
            account=seller.provider_account,
            amount=total.amount,
            currency=total.currency,
            reference=reference,
            installation=installation,
            landing_ms=config.create_landing_ms,
        ),
    )
    return flow_id_for(session_id), False


def _payment(u: Unit, order: Order, seller: Seller, reference: str) -> Payment:
    """The order's payment, claimed by its checkout flow until the intent is recorded."""
    return Payment(
        id=order.payment_id,
        order_id=order.id,
        checkout_session_id=order.checkout_session_id,
        seller_account=seller.provider_account,
        amount=order.total,
        created_at=u.now,
        lock_owner=flow_id_for(order.checkout_session_id),
        reference=reference,
    )


def _check_replay(u: Unit, config: Config, order: Order, session_id: str, fp: str) -> None:
    """The session has an order: replay it for the same cart, while the session lasts."""
    if order.cart_fingerprint != fp:
        raise CheckoutSessionReused(
            f"checkout session {session_id} already belongs to a different cart; "
            "start a new checkout session for a new cart",
            checkout_session_id=session_id,
            order_id=order.id,
        )
    if u.now - order.created_at > config.checkout_session_ttl_ms:
        raise CheckoutSessionExpired(
            f"checkout session {session_id} has expired; start a new checkout",
            checkout_session_id=session_id,
        )


def _seller_of(u: Unit, seller_id: str) -> Seller:
    seller = u.get(s.SELLERS, seller_id)
    if seller is None:
        raise SellerNotFound(f"seller {shown_id(seller_id)} does not exist", seller_id=seller_id)
    if not seller.charges_enabled:
        raise SellerCannotCharge(
            f"seller {shown_id(seller_id)} cannot take payments yet; try again later",
            seller_id=seller_id,
        )
    return seller


def _total(lines: Sequence[OrderLine]) -> Money:
    currency = lines[0].unit_price.currency
    for line in lines:
        if line.unit_price.currency != currency:
            raise CurrencyMismatch(
                f"every product in one checkout must be priced in one currency: "
                f"{shown_id(line.product_id)} is in {line.unit_price.currency}, not {currency}; "
                "split the cart by currency",
                product_id=line.product_id,
            )
    amount = sum(line.unit_price.amount * line.quantity for line in lines)
    # Refused here, before any provider call, as the provider would refuse it.
    return Money(check_charge(amount, currency), currency)


def _hold(u: Unit, order_id: str, lines: Sequence[OrderLine], expires: int) -> None:
    """Hold every line's stock, or raise OutOfStock (the transaction then keeps nothing)."""
    for i, line in enumerate(lines):
        stock = u.stock(line.seller_id, line.sku)
        if stock.available < line.quantity:
            raise OutOfStock(
                f"only {stock.available} of {shown_id(line.sku)} left at seller "
                f"{shown_id(line.seller_id)}, "
                f"{line.quantity} asked",
                seller_id=line.seller_id,
                sku=line.sku,
                available=stock.available,
                requested=line.quantity,
            )
        u.change_stock(line.seller_id, line.sku, held=line.quantity, current=stock)
        reservation = Reservation(
            f"{order_id}/{i}",
            order_id,
            line.sku,
            line.quantity,
            expires,
            line=i,
            seller_id=line.seller_id,
        )
        u.create(s.RESERVATIONS, reservation, RESERVATION)


def _snapshot_lines(u: Unit, cart: Sequence[CartItem]) -> list[OrderLine]:
    lines: list[OrderLine] = []
    for item in cart:
        product = u.get(s.PRODUCTS, item.product_id)
        if product is None:
            raise ProductNotFound(
                f"product {shown_id(item.product_id)} does not exist; remove it from the cart",
                product_id=shown_id(item.product_id),
            )
        if product.deleted:
            raise ProductUnavailable(
                f"product {shown_id(item.product_id)} is no longer sold; remove it from the cart",
                product_id=item.product_id,
            )
        lines.append(
            OrderLine(
                product.id,
                product.sku,
                product.seller_id,
                product.name,
                product.price,
                item.quantity,
            )
        )
    sellers = sorted({line.seller_id for line in lines})
    if len(sellers) > 1:
        raise MixedSellerCart(
            f"a checkout pays one seller; this cart mixes {', '.join(map(shown_id, sellers))}: "
            "split it into one checkout per seller",
            sellers=",".join(sellers),
        )
    return lines
