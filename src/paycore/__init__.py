"""paycore: a checkout payment core whose safety is checked by a model-based chaos harness.

The public names are re-exported here; everything else is implementation.
"""

import logging

from paycore.config import Config
from paycore.errors import (
    AlertNotFound,
    CheckoutError,
    CheckoutSessionExpired,
    CheckoutSessionReused,
    FlowNotAbandonable,
    FlowNotFound,
    FlowNotRevivable,
    FlowPending,
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidAmount,
    InvalidCheckoutSession,
    InvalidInput,
    OutOfStock,
    PaycoreError,
    PaymentBusy,
    PaymentError,
    PaymentNotCancelable,
    PaymentNotConfirmable,
    PaymentNotFound,
    PaymentNotRefundable,
    ProductNotFound,
    ProductUnavailable,
    ProviderError,
    RefundExceedsRefundable,
    RestockNotPossible,
    SellerCannotCharge,
    StockItemNotFound,
    StoreError,
)
from paycore.flows.checkout import CartItem
from paycore.invariants import INVARIANTS, Invariant, Ledger, Violation, check
from paycore.money import Money
from paycore.operations import AttentionItem
from paycore.outcomes import WebhookOutcome
from paycore.ports import (
    AccountView,
    Alerts,
    Clock,
    CreateIntent,
    IntentView,
    ListPage,
    Notifier,
    PaymentProvider,
    ProviderEvent,
    RefundView,
    Snapshot,
    Store,
    Tokens,
    Transaction,
)
from paycore.service import (
    CheckoutResult,
    JobReport,
    PaymentResult,
    PaymentService,
    RefundResult,
)
from paycore.status import (
    FlowStatus,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ReservationStatus,
)
from paycore.tokens import RandomTokens, SeededTokens

__version__ = "0.1.0"

__all__ = [
    "INVARIANTS",
    "AccountView",
    "AlertNotFound",
    "Alerts",
    "AttentionItem",
    "CartItem",
    "CheckoutError",
    "CheckoutResult",
    "CheckoutSessionExpired",
    "CheckoutSessionReused",
    "Clock",
    "Config",
    "CreateIntent",
    "FlowNotAbandonable",
    "FlowNotFound",
    "FlowNotRevivable",
    "FlowPending",
    "FlowStatus",
    "IdempotencyKeyReused",
    "IllegalTransition",
    "IntentView",
    "InvalidAmount",
    "InvalidCheckoutSession",
    "InvalidInput",
    "Invariant",
    "JobReport",
    "Ledger",
    "ListPage",
    "Money",
    "Notifier",
    "OrderStatus",
    "OutOfStock",
    "PaycoreError",
    "PaymentBusy",
    "PaymentError",
    "PaymentNotCancelable",
    "PaymentNotConfirmable",
    "PaymentNotFound",
    "PaymentNotRefundable",
    "PaymentProvider",
    "PaymentResult",
    "PaymentService",
    "PaymentStatus",
    "ProductNotFound",
    "ProductUnavailable",
    "ProviderError",
    "ProviderEvent",
    "RandomTokens",
    "RefundExceedsRefundable",
    "RefundResult",
    "RefundStatus",
    "RefundView",
    "ReservationStatus",
    "RestockNotPossible",
    "SeededTokens",
    "SellerCannotCharge",
    "Snapshot",
    "StockItemNotFound",
    "Store",
    "StoreError",
    "Tokens",
    "Transaction",
    "Violation",
    "WebhookOutcome",
    "__version__",
    "check",
]

# A library logs; the application decides where records go (logging HOWTO, "Configuring
# Logging for a Library"): without this, Python's last-resort handler would print
# paycore's warnings to stderr in an application that configured no logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())
