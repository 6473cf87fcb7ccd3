"""The one place where provider truth about a payment becomes local state.

Confirmation, cancellation, webhooks and the reconciler all call
:func:`apply_intent` (and, for refunds, :func:`paycore.flows.refunds.apply_refund`),
so the effects of a status
(stock committed, order paid, notification queued, stock released) happen
exactly once, whoever sees the status first (S10, S17). Terminal statuses
never move (forward-only: a late ``processing`` never overwrites
``succeeded``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from paycore import schema as s
from paycore.flows.refund_failures import auto_key
from paycore.machines import ORDER, PAYMENT, RESERVATION
from paycore.ports import IntentView
from paycore.records import Order, Payment, Reservation
from paycore.status import (
    FlowStatus,
    OrderStatus,
    PaymentStatus,
    ReservationStatus,
)
from paycore.unit import Unit

P = PaymentStatus

#: Provider status -> local payment status.
LOCAL_STATUS: dict[str, PaymentStatus] = {
    "requires_payment_method": P.OPEN,
    "requires_confirmation": P.OPEN,
    "requires_action": P.REQUIRES_ACTION,
    "processing": P.PROCESSING,
    "requires_capture": P.PROCESSING,
    "succeeded": P.SUCCEEDED,
    "canceled": P.CANCELED,
}

_TRIGGER: dict[PaymentStatus, str] = {
    P.OPEN: "reopen",
    P.REQUIRES_ACTION: "require_action",
    P.PROCESSING: "start_processing",
    P.SUCCEEDED: "succeed",
    P.CANCELED: "cancel",
}

#: Provider statuses from which an intent can still be canceled.
CANCELABLE = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)


def apply_intent(
    u: Unit, payment: Payment, view: IntentView, *, release_as: str = "release", **changes: Any
) -> Payment:
    """Move ``payment`` to what the provider says, with every effect, at most once.

    ``changes`` (such as releasing the caller's lock) are written in the same update.
    A view that received more than its amount or the payment's is not applied
    (:func:`received_too_much`): only ``changes`` are written.
    """
    target = LOCAL_STATUS[view.status]
    if payment.status in PAYMENT.terminal:
        # Terminal is final; a stale or replayed view changes nothing.
        return save_changed(u, payment, changes)
    if received_too_much(u, payment, view):
        return save_changed(u, payment, changes)
    details = {
        "provider_status": view.status,
        "last_error": view.last_error_code,
        "amount_received": max(payment.amount_received, view.amount_received),
        **changes,
    }
    if payment.status is P.CREATING:
        if target is P.CANCELED:
            payment = u.move(
                s.PAYMENTS, payment, PAYMENT, "cancel", provider_intent_id=view.id, **details
            )
            _on_canceled(u, payment, release_as)
            return payment
        payment = u.move(
            s.PAYMENTS,
            payment,
            PAYMENT,
            "intent_created",
            provider_intent_id=view.id,
            client_secret=view.client_secret,
            **details,
        )
    if payment.status is target:
        return save_changed(u, payment, details)
    payment = u.move(s.PAYMENTS, payment, PAYMENT, _TRIGGER[target], **details)
    if target is P.SUCCEEDED:
        _on_paid(u, payment)
    elif target is P.CANCELED:
        _on_canceled(u, payment, release_as)
    return payment


def received_too_much(u: Unit, payment: Payment, view: IntentView) -> bool:
    """Does ``view`` say its intent received more than it asks, or than ``payment``
    asks? Every refund is measured against the amount received, so such a view
    (Stripe's overcapture, a faulty provider) is not taken: it is reported as an
    intent that is not the payment's is (``intent_mismatch``, once while open), and a
    human decides."""
    bound = min(view.amount, payment.amount.amount)
    if view.amount_received <= bound:
        return False
    current = u.get(s.ALERTS, f"intent_mismatch:{view.id}")
    if current is None or not current.open:
        u.alert(
            "intent_mismatch",
            view.id,
            f"provider intent {view.id} of payment {payment.id} received "
            f"{view.amount_received} of an amount of {view.amount} (the payment asks "
            f"{payment.amount.amount}); it was not applied: check the payment and the intent",
            intent_id=view.id,
            payment_id=payment.id,
        )
    return True


def claimed(u: Unit, payment: Payment) -> bool:
    """Is the payment claimed by a flow that is still active (a confirm, a cancel, its
    checkout)? A claim left by a finished, failed or dead flow is void."""
    if payment.lock_owner is None:
        return False
    owner = u.get(s.FLOWS, payment.lock_owner)
    return owner is not None and owner.status is FlowStatus.ACTIVE


def save_changed(u: Unit, payment: Payment, fields: dict[str, Any]) -> Payment:
    """Write ``fields`` only if one of them differs (no empty versions)."""
    for k, v in fields.items():  # a loop, not any() over a generator: it is hot
        if getattr(payment, k) != v:
            return u.save(s.PAYMENTS, payment, **fields)
    return payment


def reservations_of(u: Unit, order_id: str) -> list[Reservation]:
    return u.find(s.RESERVATIONS, "order_id", order_id)


def release_held(u: Unit, order_id: str, trigger: str = "release") -> None:
    """Give an order's held stock back (``trigger`` "release", "expire", or
    "expire_processing" for the janitor's end of a processing hold): the one place where a
    hold ends without a sale."""
    for r in reservations_of(u, order_id):
        if r.status is ReservationStatus.HELD:
            u.move(s.RESERVATIONS, r, RESERVATION, trigger)
            u.change_stock(r.seller_id, r.sku, held=-r.quantity)


def order_of(u: Unit, payment: Payment) -> Order:
    order = u.get(s.ORDERS, payment.order_id)
    assert order is not None, "a payment always has its order"
    return order


def _on_paid(u: Unit, payment: Payment) -> None:
    order = order_of(u, payment)
    if order.status is not OrderStatus.PENDING:
        return
    held = _hold_again(u, order, reservations_of(u, order.id))
    if held:
        for r in held:
            u.move(s.RESERVATIONS, r, RESERVATION, "commit")
            u.change_stock(r.seller_id, r.sku, held=-r.quantity, committed=r.quantity)
        u.move(s.ORDERS, order, ORDER, "pay")
        u.notify(order.id, "order_paid", amount=payment.amount.amount)
        return
    # S14: the money arrived after the stock was given back and sold. Never
    # oversell: close the order as out of stock and refund the payment.
    release_held(u, order.id)
    u.move(s.ORDERS, order, ORDER, "mark_out_of_stock")
    u.notify(order.id, "order_out_of_stock", amount=payment.amount.amount)
    # Imported here: refunds records refunds with this module's order helpers.
    from paycore.flows.refunds import open_refund

    open_refund(
        u,
        payment,
        amount=payment.amount_received,
        reason="requested_by_customer",
        idempotency_key=auto_key(1),
        automatic=True,
        restock=False,  # nothing was taken: the order's holds were released above
    )


def _hold_again(u: Unit, order: Order, current: list[Reservation]) -> list[Reservation]:
    """The order's held reservations, one per line; a line whose stock was given back is
    held again if enough is available. Empty when some line cannot be (all-or-nothing)."""
    live = {r.line: r for r in current if r.status is ReservationStatus.HELD}
    lines = range(len(order.lines))
    if len(live) == len(lines) and all(i in live for i in lines):  # the usual case
        return [live[i] for i in lines]
    missing = [(i, line) for i, line in enumerate(order.lines) if i not in live]
    need: Counter[tuple[str, str]] = Counter()
    for _, line in missing:
        need[line.seller_id, line.sku] += line.quantity
    if any(u.stock(seller, sku).available < n for (seller, sku), n in need.items()):
        return []
    for i, line in missing:
        u.change_stock(line.seller_id, line.sku, held=line.quantity)
        rid = f"{order.id}/{i}/{len(current)}"
        r = Reservation(
            rid, order.id, line.sku, line.quantity, u.now, line=i, seller_id=line.seller_id
        )
        live[i] = u.create(s.RESERVATIONS, r, RESERVATION)
    return [live[i] for i in sorted(live)]


def _on_canceled(u: Unit, payment: Payment, release_as: str) -> None:
    order = order_of(u, payment)
    release_held(u, order.id, release_as)
    if order.status is OrderStatus.PENDING:
        u.move(s.ORDERS, order, ORDER, "cancel")
        u.notify(order.id, "order_canceled")
