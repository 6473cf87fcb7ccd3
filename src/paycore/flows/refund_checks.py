"""What a refund request is checked against before anything is recorded: the payment's
status, and for a restock, whether the order still holds sold stock to put back."""

from __future__ import annotations

from paycore import schema as s
from paycore.errors import PaymentNotRefundable, RestockNotPossible
from paycore.flows.sync import reservations_of
from paycore.records import Payment
from paycore.status import PaymentStatus, ReservationStatus
from paycore.unit import Unit


def payment_refundable(payment: Payment) -> None:
    """Only a succeeded payment can be refunded.

    Raises:
        PaymentNotRefundable: nothing changed.
    """
    status = payment.status
    if status is PaymentStatus.SUCCEEDED:
        return
    raise PaymentNotRefundable(
        f"payment {payment.id} is {status.value}{_WHY.get(status, _CANCEL_INSTEAD)}",
        payment_id=payment.id,
        status=status.value,
    )


#: What to do instead, by the status a payment that cannot be refunded is in.
_CANCEL_INSTEAD = "; only a succeeded payment can be refunded (cancel it instead)"
_NO_MONEY = ": it took no money, so there is nothing to refund (only a succeeded payment can be)"
_WHY = {
    PaymentStatus.CANCELED: _NO_MONEY,
    PaymentStatus.FAILED: _NO_MONEY,
    # cancel_payment refuses it too (PaymentNotCancelable): it must settle first.
    PaymentStatus.PROCESSING: (
        ": the bank has not settled it yet, and it can be neither refunded nor canceled "
        "until it does; refund it once it succeeded"
    ),
}


def order_holds_sold_stock(u: Unit, payment_id: str, order_id: str) -> None:
    """Goods go back on sale with the refund that ends the order (all or nothing: a
    partial refund cannot say which units came back), and only while the order holds
    them sold: its reservations are still committed. Decided by the reservations, not
    the order's status: an order refunded in full whose refund the bank then sent back
    stays ``refunded`` with its units committed, and a refund of it with restock puts
    them back; an out-of-stock order took no stock, and a restock refund gave its units
    back already (even if the bank later sent that refund back).

    Raises:
        RestockNotPossible: nothing changed.
    """
    if any(r.status is ReservationStatus.COMMITTED for r in reservations_of(u, order_id)):
        return
    order = u.get(s.ORDERS, order_id)
    assert order is not None  # made with its payment, never deleted
    raise RestockNotPossible(
        f"order {order_id} is {order.status.value}: it holds no sold stock to put back; refund "
        "without restock",
        payment_id=payment_id,
        order_id=order_id,
    )
