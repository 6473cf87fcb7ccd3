"""The one place where provider truth becomes local state.

Confirmation, cancellation, webhooks and the reconciler all call
:func:`apply_intent` and :func:`apply_refund`, so the effects of a status
(stock committed, order paid, notification queued, stock released) happen
exactly once, whoever sees the status first (S10, S17). Terminal statuses
never move (forward-only: a late ``processing`` never overwrites
``succeeded``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from paycore import schema as s
from paycore.flows.engine import create_flow
from paycore.flows.identity import new_reference
from paycore.flows.params import RefundParams
from paycore.flows.refund_failures import auto_key, money_returned, refund_failed
from paycore.flows.steps import RefundStep
from paycore.machines import ORDER, PAYMENT, REFUND, RESERVATION
from paycore.ports import IntentView, RefundView
from paycore.records import Order, Payment, Refund, Reservation
from paycore.status import (
    FlowStatus,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
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
    """
    target = LOCAL_STATUS[view.status]
    if payment.status in PAYMENT.terminal:
        # Terminal is final; a stale or replayed view changes nothing.
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


def claimed(u: Unit, payment: Payment) -> bool:
    """Is the payment claimed by a flow that is still active (a confirm, a cancel, its
    checkout)? A claim left by a finished, failed or dead flow is void."""
    if payment.lock_owner is None:
        return False
    owner = u.get(s.FLOWS, payment.lock_owner)
    return owner is not None and owner.status is FlowStatus.ACTIVE


def save_changed(u: Unit, payment: Payment, fields: dict[str, Any]) -> Payment:
    """Write ``fields`` only if one of them differs (no empty versions)."""
    if any(getattr(payment, k) != v for k, v in fields.items()):
        return u.save(s.PAYMENTS, payment, **fields)
    return payment


def reservations_of(u: Unit, order_id: str) -> list[Reservation]:
    return u.find(s.RESERVATIONS, "order_id", order_id)


def release_held(u: Unit, order_id: str, trigger: str = "release") -> None:
    """Give an order's held stock back (``trigger`` "release" or "expire"): the one place
    where a hold ends without a sale."""
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


# --- refunds --------------------------------------------------------------------


def refundable(u: Unit, payment: Payment) -> int:
    """Captured minus every refund that is pending or succeeded."""
    taken = sum(
        r.amount.amount
        for r in u.find(s.REFUNDS, "payment_id", payment.id)
        if r.status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED)
    )
    return payment.amount_received - taken


def open_refund(
    u: Unit,
    payment: Payment,
    *,
    amount: int,
    reason: str | None,
    idempotency_key: str,
    automatic: bool = False,
    requested_amount: int | None = None,
    restock: bool = False,
) -> Refund:
    """Record a pending refund and start its flow, in the caller's transaction.

    ``requested_amount`` is what the caller asked for (None: everything left)."""
    refund_id = f"rf_{u.tx.next_seq('refund'):06d}"
    reference = new_reference(u, "rref")
    refund = Refund(
        id=refund_id,
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=type(payment.amount)(amount, payment.amount.currency),
        reason=reason,
        idempotency_key=idempotency_key,
        created_at=u.now,
        automatic=automatic,
        requested_amount=requested_amount,
        restock=restock,
        reference=reference,
    )
    u.create(s.REFUNDS, refund, REFUND)
    create_flow(
        u,
        f"refund:{refund_id}",
        "refund",
        RefundStep.CALL,
        RefundParams(
            refund_id=refund_id,
            # every refundable payment has its intent; "" names none (the provider says so)
            intent_id=payment.provider_intent_id or "",
            amount=amount,
            reason=reason,
            order_id=payment.order_id,
            reference=reference,
        ),
    )
    return refund


def apply_refund(u: Unit, refund: Refund, view: RefundView) -> Refund:
    """Move ``refund`` to the provider's status, with its effects on payment, order, stock."""
    if refund.provider_refund_id is None:
        refund = u.save(s.REFUNDS, refund, provider_refund_id=view.id)
    status = RefundStatus(view.status) if view.status in _REFUND_VALUES else refund.status
    if status is refund.status or not REFUND.allows(refund.status, _REFUND_TRIGGER[status]):
        return refund
    was_succeeded = refund.status is RefundStatus.SUCCEEDED
    refund = u.move(s.REFUNDS, refund, REFUND, _REFUND_TRIGGER[status])
    payment = u.get(s.PAYMENTS, refund.payment_id)
    assert payment is not None
    if status is RefundStatus.SUCCEEDED:
        payment = u.save(
            s.PAYMENTS, payment, amount_refunded=payment.amount_refunded + refund.amount.amount
        )
        _on_refunded(u, payment, refund)
        money_returned(u, payment)
        return refund
    if was_succeeded:
        # The bank sent the money back to the shop: the customer was not refunded after
        # all. The order keeps its status (the stock may be sold again).
        u.save(s.PAYMENTS, payment, amount_refunded=payment.amount_refunded - refund.amount.amount)
    # Failed or canceled, before or after it succeeded: the shop is told, and alerted.
    refund_failed(u, refund)
    return refund


_REFUND_VALUES = frozenset(s.value for s in RefundStatus)
_REFUND_TRIGGER = {
    RefundStatus.SUCCEEDED: "settle",
    RefundStatus.FAILED: "fail",
    RefundStatus.CANCELED: "cancel",
    RefundStatus.PENDING: "-",
}


def _on_refunded(u: Unit, payment: Payment, refund: Refund) -> None:
    order = order_of(u, payment)
    if order.status not in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED):
        return  # out-of-stock orders keep their status; the refund record tells the rest
    if payment.amount_refunded < payment.amount_received:
        u.move(s.ORDERS, order, ORDER, "refund_part")
        u.notify(order.id, f"refund_{refund.id}", amount=refund.amount.amount)
        return
    u.move(s.ORDERS, order, ORDER, "refund_rest")
    u.notify(order.id, "order_refunded", amount=payment.amount_refunded)
    # The goods stay sold unless a refund of this order was made with restock=True (the
    # caller said they came back). Refunds may settle in any order: look at all of them.
    settled = u.find(s.REFUNDS, "payment_id", payment.id)
    if not any(r.restock and r.status is RefundStatus.SUCCEEDED for r in settled):
        return
    for r in reservations_of(u, order.id):
        if r.status is ReservationStatus.COMMITTED:
            u.move(s.RESERVATIONS, r, RESERVATION, "give_back")
            u.change_stock(r.seller_id, r.sku, committed=-r.quantity)
