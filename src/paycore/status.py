"""Status enums. Each member has exactly one documented meaning.

``describe(member)`` gives a member's meaning; ``docs/`` shows it.
"""

from __future__ import annotations

import enum


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CANCELED = "canceled"
    OUT_OF_STOCK = "out_of_stock"


class PaymentStatus(enum.StrEnum):
    CREATING = "creating"
    OPEN = "open"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    FAILED = "failed"


class ReservationStatus(enum.StrEnum):
    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"
    RETURNED = "returned"


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class FlowStatus(enum.StrEnum):
    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"


_TEXTS: dict[tuple[str, str], str] = {
    (
        "OrderStatus",
        "pending",
    ): "Stock is held; the order waits for its payment to succeed or to end.",
    ("OrderStatus", "paid"): "The payment succeeded and the order's stock is committed.",
    ("OrderStatus", "partially_refunded"): "Paid, and part of the captured amount was refunded.",
    ("OrderStatus", "refunded"): (
        "Paid, then refunded in full; its stock went back on sale only if a refund said "
        "the goods came back (restock)."
    ),
    ("OrderStatus", "canceled"): "The payment can no longer succeed and the stock was released.",
    ("OrderStatus", "out_of_stock"): (
        "The payment succeeded after the order's stock was gone; it is refunded automatically."
    ),
    ("PaymentStatus", "creating"): "Recorded locally; the provider intent is being created.",
    ("PaymentStatus", "open"): (
        "The provider intent exists and waits for a payment method or confirmation."
    ),
    (
        "PaymentStatus",
        "requires_action",
    ): "The customer must authenticate (3-D Secure) at the provider.",
    ("PaymentStatus", "processing"): (
        "The provider is processing the payment; it may still succeed or fail."
    ),
    ("PaymentStatus", "succeeded"): "The provider captured the money. Terminal.",
    (
        "PaymentStatus",
        "canceled",
    ): "The provider intent is canceled and can never be charged. Terminal.",
    ("PaymentStatus", "failed"): "No provider intent was ever made chargeable for it. Terminal.",
    ("ReservationStatus", "held"): "Stock set aside for a pending order.",
    ("ReservationStatus", "committed"): "Stock sold to a paid order.",
    (
        "ReservationStatus",
        "released",
    ): "Stock given back because the payment can no longer succeed.",
    ("ReservationStatus", "expired"): (
        "Stock given back by the janitor after the provider intent was canceled."
    ),
    ("ReservationStatus", "returned"): (
        "Committed stock put back on sale: the order was refunded in full with restock."
    ),
    (
        "RefundStatus",
        "pending",
    ): "Recorded and counted against the refundable amount; not yet settled.",
    ("RefundStatus", "succeeded"): "The provider returned the money.",
    (
        "RefundStatus",
        "failed",
    ): "The provider could not return the money; the amount is refundable again.",
    ("RefundStatus", "canceled"): (
        "The refund was canceled before it settled; the amount is refundable again."
    ),
    ("FlowStatus", "active"): "Running or waiting for a retry; the recovery worker will resume it.",
    ("FlowStatus", "succeeded"): "Finished forward.",
    ("FlowStatus", "failed"): "Ended with a business error after compensating every effect it had.",
    ("FlowStatus", "dead"): "Gave up after bounded retries; an alert was raised for an operator.",
}


#: Every status's meaning, keyed by (enum, value): members of different enums
#: with one value (order ``pending``, refund ``pending``) are equal as strings.
MEMBER_DOCS: dict[tuple[type[enum.StrEnum], str], str] = {
    (cls, value): text
    for cls in (OrderStatus, PaymentStatus, ReservationStatus, RefundStatus, FlowStatus)
    for (name, value), text in _TEXTS.items()
    if name == cls.__name__
}


def describe(member: enum.StrEnum) -> str:
    """The one documented meaning of a status."""
    return MEMBER_DOCS[(type(member), member.value)]
