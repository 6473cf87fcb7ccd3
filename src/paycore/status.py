"""Status enums. Each member has exactly one documented meaning.

The docstring of each member (``MEMBER_DOCS``) is what ``docs/`` shows.
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


MEMBER_DOCS: dict[enum.Enum, str] = {
    OrderStatus.PENDING: "Stock is held; the order waits for its payment to succeed or to end.",
    OrderStatus.PAID: "The payment succeeded and the order's stock is committed.",
    OrderStatus.PARTIALLY_REFUNDED: "Paid, and part of the captured amount was refunded.",
    OrderStatus.REFUNDED: "Paid, then refunded in full; committed stock was returned.",
    OrderStatus.CANCELED: "The payment can no longer succeed and the stock was released.",
    OrderStatus.OUT_OF_STOCK: (
        "The payment succeeded after the order's stock was gone; it is refunded automatically."
    ),
    PaymentStatus.CREATING: "Recorded locally; the provider intent is being created.",
    PaymentStatus.OPEN: (
        "The provider intent exists and waits for a payment method or confirmation."
    ),
    PaymentStatus.REQUIRES_ACTION: "The customer must authenticate (3-D Secure) at the provider.",
    PaymentStatus.PROCESSING: (
        "The provider is processing the payment; it may still succeed or fail."
    ),
    PaymentStatus.SUCCEEDED: "The provider captured the money. Terminal.",
    PaymentStatus.CANCELED: "The provider intent is canceled and can never be charged. Terminal.",
    PaymentStatus.FAILED: "No provider intent was ever made chargeable for it. Terminal.",
    ReservationStatus.HELD: "Stock set aside for a pending order.",
    ReservationStatus.COMMITTED: "Stock sold to a paid order.",
    ReservationStatus.RELEASED: "Stock given back because the payment can no longer succeed.",
    ReservationStatus.EXPIRED: (
        "Stock given back by the janitor after the provider intent was canceled."
    ),
    ReservationStatus.RETURNED: "Committed stock put back on sale after a full refund.",
    RefundStatus.PENDING: "Recorded and counted against the refundable amount; not yet settled.",
    RefundStatus.SUCCEEDED: "The provider returned the money.",
    RefundStatus.FAILED: "The provider could not return the money; the amount is refundable again.",
    RefundStatus.CANCELED: (
        "The refund was canceled before it settled; the amount is refundable again."
    ),
    FlowStatus.ACTIVE: "Running or waiting for a retry; the recovery worker will resume it.",
    FlowStatus.SUCCEEDED: "Finished forward.",
    FlowStatus.FAILED: "Ended with a business error after compensating every effect it had.",
    FlowStatus.DEAD: "Gave up after bounded retries; an alert was raised for an operator.",
}
