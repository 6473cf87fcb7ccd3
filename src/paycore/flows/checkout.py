"""create_payment_intent: order, lines, reservations and payment in one step, then the intent.

Steps: ``begin`` (one transaction: order + lines + reservations + payment +
flow, S2/S4) -> ``check_seller`` (provider: can the seller's account charge,
right before the charge, S11) -> ``create`` (provider: create the intent with
a key derived from the flow) -> recorded. An ambiguous answer goes to
``find`` (search the provider by the payment's reference before creating again).
Giving up goes to ``abort``, which cancels any intent it finds before releasing
stock and closing the order, so no chargeable intent outlives a failed write (S1, S3).
Both adopt or cancel only an intent that is this payment's in full
(:func:`paycore.flows.identity.intent_is_payments`): ids repeat across stores and
restores, so metadata naming the payment proves nothing by itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

from paycore import schema as s
from paycore.config import Config
from paycore.errors import (
    CheckoutSessionExpired,
    CheckoutSessionReused,
    CurrencyMismatch,
    EmptyCart,
    InvalidAmount,
    InvalidCheckoutSession,
    InvalidInput,
    InvalidQuantity,
    MixedSellerCart,
    OutOfStock,
    ProductNotFound,
    ProductUnavailable,
    ProviderError,
    ProviderIdempotencyInUse,
    ProviderRateLimited,
    SellerCannotCharge,
    SellerNotFound,
)
from paycore.flows.engine import Advance, FlowDef, Outcome, Remote, create_flow, key
from paycore.flows.identity import (
    REFERENCE_KEY,
    identity,
    installation_id,
    intent_is_payments,
    new_reference,
)
from paycore.flows.sync import CANCELABLE, apply_intent, order_of, reservations_of
from paycore.machines import ORDER, PAYMENT, RESERVATION
from paycore.money import MAX_AMOUNT, Money
from paycore.ports import CreateIntent, IntentView
from paycore.records import Flow, Order, OrderLine, Payment, Reservation
from paycore.status import PaymentStatus, ReservationStatus
from paycore.unit import Unit

SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


@attrs.frozen
class CartItem:
    product_id: str
    quantity: int


def normalize_cart(items: object, config: Config) -> tuple[CartItem, ...]:
    """Validate a cart and merge repeated products. Raises InvalidInput subclasses."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise InvalidInput("items must be a list of CartItem(product_id, quantity)")
    merged: dict[str, int] = {}
    for item in items:
        if isinstance(item, Mapping):
            pid, qty = item.get("product_id"), item.get("quantity")
        elif isinstance(item, CartItem):
            pid, qty = item.product_id, item.quantity
        else:
            raise InvalidInput(f"cart item {item!r} is not a CartItem or a mapping")
        if not isinstance(pid, str) or not pid:
            raise InvalidInput(f"product_id must be a non-empty string, got {pid!r}")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise InvalidQuantity(
                f"quantity of {pid} must be a whole number of at least 1, got {qty!r}",
                product_id=pid,
            )
        merged[pid] = merged.get(pid, 0) + qty
        if merged[pid] > config.max_quantity:
            raise InvalidQuantity(
                f"quantity of {pid} exceeds the limit of {config.max_quantity}", product_id=pid
            )
    if not merged:
        raise EmptyCart("the cart is empty: add at least one item before paying")
    if len(merged) > config.max_lines:
        raise InvalidInput(f"a cart holds at most {config.max_lines} different products")
    return tuple(CartItem(pid, qty) for pid, qty in sorted(merged.items()))


def check_session_id(session_id: object) -> str:
    if not isinstance(session_id, str) or not SESSION_RE.fullmatch(session_id):
        raise InvalidCheckoutSession(
            "checkout_session_id must be 16 to 128 characters of letters, digits, '_' or '-'; "
            "generate one random id per checkout",
        )
    return session_id


def fingerprint(cart: Sequence[CartItem]) -> str:
    text = ";".join(f"{i.product_id}x{i.quantity}" for i in cart)
    return hashlib.sha256(text.encode()).hexdigest()


def flow_id_for(session_id: str) -> str:
    return f"checkout:{session_id}"


def begin(u: Unit, config: Config, session_id: str, cart: Sequence[CartItem], owner: str) -> str:
    """The first step: everything local, in one transaction (S2, S4).

    Returns the checkout's flow id; when the session already has an order for
    this same cart, that is the existing flow (idempotent replay, S8)."""
    fp = fingerprint(cart)
    existing = u.find(s.ORDERS, "checkout_session_id", session_id)
    if existing:
        order = existing[0]
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
        return flow_id_for(session_id)
    lines = _snapshot_lines(u, cart)
    seller_id = lines[0].seller_id
    seller = u.get(s.SELLERS, seller_id)
    if seller is None:
        raise SellerNotFound(f"seller {seller_id} does not exist", seller_id=seller_id)
    if not seller.charges_enabled:
        raise SellerCannotCharge(
            f"seller {seller_id} cannot take payments yet; try again later", seller_id=seller_id
        )
    currency = lines[0].unit_price.currency
    for line in lines:
        if line.unit_price.currency != currency:
            raise CurrencyMismatch(
                f"every product in one checkout must be priced in one currency: "
                f"{line.product_id} is in {line.unit_price.currency}, not {currency}; "
                "split the cart by currency",
                product_id=line.product_id,
            )
    amount = sum(line.unit_price.amount * line.quantity for line in lines)
    if not 1 <= amount <= MAX_AMOUNT:
        raise InvalidAmount(
            f"the cart total must be between 1 and {MAX_AMOUNT} minor units, got {amount}",
            amount=amount,
        )
    total = Money(amount, currency)
    seq = u.tx.next_seq("order")
    order_id, payment_id = f"ord_{seq:06d}", f"pay_{seq:06d}"
    installation = installation_id(u)  # drawn first: a seeded run gets the same id every time
    reference = new_reference(u, "pref")
    expires = u.now + config.reservation_ttl_ms
    for i, line in enumerate(lines):
        stock = u.stock(line.seller_id, line.sku)
        if stock.available < line.quantity:
            raise OutOfStock(
                f"only {stock.available} of {line.sku} left at seller {line.seller_id}, "
                f"{line.quantity} asked",
                seller_id=line.seller_id,
                sku=line.sku,
                available=stock.available,
                requested=line.quantity,
            )
        u.change_stock(line.seller_id, line.sku, held=line.quantity)
        u.create(
            s.RESERVATIONS,
            Reservation(
                f"{order_id}/{i}",
                order_id,
                line.sku,
                line.quantity,
                expires,
                line=i,
                seller_id=line.seller_id,
            ),
            RESERVATION,
        )
    u.create(
        s.ORDERS,
        Order(
            id=order_id,
            checkout_session_id=session_id,
            seller_id=seller_id,
            lines=tuple(lines),
            total=total,
            cart_fingerprint=fp,
            payment_id=payment_id,
            created_at=u.now,
            expires_at=expires,
        ),
        ORDER,
    )
    u.create(
        s.PAYMENTS,
        Payment(
            id=payment_id,
            order_id=order_id,
            checkout_session_id=session_id,
            seller_account=seller.provider_account,
            amount=total,
            created_at=u.now,
            lock_owner=flow_id_for(session_id),
            reference=reference,
        ),
        PAYMENT,
    )
    create_flow(
        u,
        flow_id_for(session_id),
        "checkout",
        "check_seller",
        owner=owner,
        lease_until=u.now + config.lease_ms,
        session_id=session_id,
        order_id=order_id,
        payment_id=payment_id,
        seller_id=seller_id,
        account=seller.provider_account,
        amount=total.amount,
        currency=total.currency,
        installation=installation,
        reference=reference,
    )
    return flow_id_for(session_id)


def _snapshot_lines(u: Unit, cart: Sequence[CartItem]) -> list[OrderLine]:
    lines: list[OrderLine] = []
    for item in cart:
        product = u.get(s.PRODUCTS, item.product_id)
        if product is None:
            raise ProductNotFound(
                f"product {item.product_id} does not exist; remove it from the cart",
                product_id=item.product_id,
            )
        if product.deleted:
            raise ProductUnavailable(
                f"product {item.product_id} is no longer sold; remove it from the cart",
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
            f"a checkout pays one seller; this cart mixes {', '.join(sellers)}: "
            "split it into one checkout per seller",
            sellers=",".join(sellers),
        )
    return lines


# --- steps ----------------------------------------------------------------------


def _payment(u: Unit, flow: Flow) -> Payment:
    p = u.get(s.PAYMENTS, flow.params["payment_id"])
    assert p is not None
    return p


def _check_seller(flow: Flow) -> Remote:
    account = flow.params["account"]
    return Remote("can_charge", lambda p: p.can_charge(account), _after_check)


def _after_check(u: Unit, flow: Flow, out: Outcome) -> Advance:
    if not out.ok:
        return Advance(retry=out.error.code if out.error else "error")
    seller = u.get(s.SELLERS, flow.params["seller_id"])
    if out.value and seller is not None and seller.charges_enabled:
        return Advance(to="create")
    return Advance(to="abort", data={"error": SellerCannotCharge.code})


def _create(flow: Flow) -> Remote:
    req = CreateIntent(
        amount=Money(flow.params["amount"], flow.params["currency"]),
        account=flow.params["account"],
        metadata={
            "checkout_session_id": flow.params["session_id"],
            "order_id": flow.params["order_id"],
            "payment_id": flow.params["payment_id"],
            **identity(flow.params["installation"], flow.params["reference"]),
        },
        description=f"order {flow.params['order_id']}",
    )
    k = key(flow, "create")
    return Remote("create_intent", lambda p: p.create_intent(req, idempotency_key=k), _after_create)


def _after_create(u: Unit, flow: Flow, out: Outcome) -> Advance:
    if out.ok:
        if not _is_mine(u, flow, out.value):
            # Never expected (the key is this installation's): keep away from it.
            return Advance(to="abort", data={"error": "intent_mismatch"})
        return _adopt(u, flow, out.value)
    err = out.error
    assert err is not None
    if isinstance(err, ProviderRateLimited | ProviderIdempotencyInUse):
        return Advance(retry=err.code)
    if err.outcome == "ambiguous":
        return Advance(to="find", data={"last_error": err.code})
    return Advance(to="abort", data={"error": err.code})


def _adopt(u: Unit, flow: Flow, view: IntentView) -> Advance:
    payment = apply_intent(u, _payment(u, flow), view)
    payment = u.save(s.PAYMENTS, payment, lock_owner=None)
    return Advance(done={"order_id": payment.order_id, "payment_id": payment.id})


def _is_mine(u: Unit, flow: Flow, view: IntentView) -> bool:
    payment = _payment(u, flow)
    return intent_is_payments(view, payment, order_of(u, payment), flow.params.get("installation"))


def _search(flow: Flow, then: Callable[[Unit, Flow, Outcome], Advance]) -> Remote:
    """Ask the provider for intents made for this payment: by its reference, which no
    other payment, store or restore shares (ids like ``pay_000001`` repeat)."""
    ref = flow.params["reference"]
    return Remote(
        "search_intents", lambda p: p.search_intents(metadata_key=REFERENCE_KEY, value=ref), then
    )


def _mine(u: Unit, flow: Flow, out: Outcome) -> list[IntentView]:
    """The searched intents that are this payment's, oldest first; others are left alone."""
    found: list[IntentView] = sorted(out.value, key=lambda v: (v.created, v.id))
    return [v for v in found if _is_mine(u, flow, v)]


def _find(flow: Flow) -> Remote:
    return _search(flow, _after_find)


def _after_find(u: Unit, flow: Flow, out: Outcome) -> Advance:
    if not out.ok:
        return Advance(retry=out.error.code if out.error else "error")
    found = _mine(u, flow, out)
    if found:
        return _adopt(u, flow, found[0])
    # The provider has no such intent: the earlier attempt had no effect, so a new
    # key generation is safe (the old key may replay a saved 5xx forever). It counts
    # as a retry, so a provider that keeps failing ends in compensation.
    return Advance(
        to="create",
        retry="no intent found after an unanswered create",
        data={"keygen": flow.data.get("keygen", 0) + 1},
    )


def _abort(flow: Flow) -> Remote:
    return _search(flow, _after_abort_search)


def _after_abort_search(u: Unit, flow: Flow, out: Outcome) -> Advance:
    if not out.ok:
        return Advance(retry=out.error.code if out.error else "error")
    found = _mine(u, flow, out)
    live = [v for v in found if v.status in CANCELABLE]
    if live:
        return Advance(to="cancel_found", data={"cancel_id": live[0].id})
    payment = _payment(u, flow)
    recorded = payment.provider_intent_id
    if (
        recorded is not None
        and recorded not in {v.id for v in found}
        and payment.status not in PAYMENT.terminal
    ):
        # Search lags behind writes: an intent the payment records (its secret may be
        # out) must be ended even when the search did not return it.
        return Advance(to="sync_recorded", data={"recorded": recorded})
    for view in found:
        if payment.provider_intent_id in (None, view.id):
            payment = apply_intent(u, payment, view)
    if payment.status is PaymentStatus.PROCESSING:
        return Advance(retry="intent is processing; waiting for it to settle")
    payment = u.save(s.PAYMENTS, payment, lock_owner=None)
    if payment.status is PaymentStatus.SUCCEEDED:
        # The customer paid before the cancel landed: that is a sale, not a failure.
        return Advance(done={"order_id": payment.order_id, "payment_id": payment.id})
    order = order_of(u, payment)
    for r in reservations_of(u, order.id):
        if r.status is ReservationStatus.HELD:
            u.move(s.RESERVATIONS, r, RESERVATION, "release")
            u.change_stock(r.seller_id, r.sku, held=-r.quantity)
    if payment.status is PaymentStatus.CREATING:
        payment = u.move(s.PAYMENTS, payment, PAYMENT, "creation_failed")
    if ORDER.allows(order.status, "cancel"):
        u.move(s.ORDERS, order, ORDER, "cancel")
    code = flow.data.get("error", "provider_unavailable")
    err_type = SellerCannotCharge if code == SellerCannotCharge.code else ProviderError
    return Advance(
        failed=err_type(
            f"checkout {flow.params['session_id']} could not create a payment ({code}); "
            "its stock was released: start a new checkout",
            reason=code,
        )
    )


def _cancel_found(flow: Flow) -> Remote:
    intent_id = flow.data["cancel_id"]
    k = key(flow, f"cancel:{intent_id}")
    return Remote(
        "cancel_intent",
        lambda p: p.cancel_intent(intent_id, idempotency_key=k),
        _after_cancel_found,
    )


def _after_cancel_found(u: Unit, flow: Flow, out: Outcome) -> Advance:
    if out.error is not None and out.error.outcome != "definite":
        return Advance(retry=out.error.code)
    payment = _payment(u, flow)
    if out.ok and payment.provider_intent_id == out.value.id:
        apply_intent(u, payment, out.value)
    # Canceled, or the provider refused because it is no longer cancelable: search again.
    return Advance(to="abort")


def _sync_recorded(flow: Flow) -> Remote:
    return Remote(
        "retrieve_intent", lambda p: p.retrieve_intent(flow.data["recorded"]), _after_sync_recorded
    )


def _after_sync_recorded(u: Unit, flow: Flow, out: Outcome) -> Advance:
    if out.error is not None:
        return Advance(retry=out.error.code)
    view: IntentView = out.value
    payment = apply_intent(u, _payment(u, flow), view)
    if view.status in CANCELABLE:
        return Advance(to="cancel_found", data={"cancel_id": view.id})
    if payment.status is PaymentStatus.PROCESSING:
        return Advance(retry="intent is processing; waiting for it to settle")
    return Advance(to="abort")


DEF = FlowDef(
    kind="checkout",
    steps={
        "check_seller": _check_seller,
        "create": _create,
        "find": _find,
        "abort": _abort,
        "cancel_found": _cancel_found,
        "sync_recorded": _sync_recorded,
    },
    give_up="abort",
    ask_first={"create": "find"},
)
