"""The one error tree of paycore.

Every error paycore raises is a :class:`PaycoreError`. Each carries a stable
``code`` (safe to match on and to return to API clients) and structured
``fields`` (ids, amounts) so that callers never parse messages. Messages say
what happened and what to do about it. No error ever carries a secret.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PaycoreError(Exception):
    """Root of every error paycore raises."""

    code: ClassVar[str] = "paycore_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = fields

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


# --- input validation -------------------------------------------------------


class InvalidInput(PaycoreError, ValueError):
    """The caller passed something paycore cannot accept. Nothing was changed."""

    code = "invalid_input"


class InvalidAmount(InvalidInput):
    code = "invalid_amount"


class UnknownCurrency(InvalidInput):
    code = "unknown_currency"


class CurrencyMismatch(InvalidInput):
    code = "currency_mismatch"


class InvalidQuantity(InvalidInput):
    code = "invalid_quantity"


class EmptyCart(InvalidInput):
    code = "empty_cart"


class InvalidCheckoutSession(InvalidInput):
    code = "invalid_checkout_session"


class InvalidIdempotencyKey(InvalidInput):
    code = "invalid_idempotency_key"


class InvalidRefundReason(InvalidInput):
    code = "invalid_refund_reason"


class MixedSellerCart(InvalidInput):
    code = "mixed_seller_cart"


# --- catalog and checkout -----------------------------------------------------


class CheckoutError(PaycoreError):
    """A checkout cannot go ahead as asked."""

    code = "checkout_error"


class ProductNotFound(CheckoutError, LookupError):
    code = "product_not_found"


class ProductUnavailable(CheckoutError):
    code = "product_unavailable"


class SellerNotFound(CheckoutError, LookupError):
    code = "seller_not_found"


class SellerCannotCharge(CheckoutError):
    code = "seller_cannot_charge"


class OutOfStock(CheckoutError):
    code = "out_of_stock"


class CheckoutSessionReused(CheckoutError):
    code = "checkout_session_reused"


class CheckoutSessionExpired(CheckoutError):
    code = "checkout_session_expired"


class StockError(PaycoreError):
    code = "stock_error"


class StockBelowReserved(StockError, ValueError):
    code = "stock_below_reserved"


class StockItemNotFound(StockError, LookupError):
    """Stock was changed for a (seller, SKU) that no product of that seller carries:
    restocking never creates an item on its own."""

    code = "stock_item_not_found"


# --- payments and refunds ----------------------------------------------------


class PaymentError(PaycoreError):
    code = "payment_error"


class PaymentNotFound(PaymentError, LookupError):
    code = "payment_not_found"


class PaymentBusy(PaymentError):
    """Another operation holds this payment; retry shortly."""

    code = "payment_busy"
    retryable = True


class PaymentNotConfirmable(PaymentError):
    code = "payment_not_confirmable"


class PaymentNotCancelable(PaymentError):
    code = "payment_not_cancelable"


class PaymentNotRefundable(PaymentError):
    code = "payment_not_refundable"


class RefundExceedsRefundable(PaymentError):
    code = "refund_exceeds_refundable"


class IdempotencyKeyReused(PaymentError):
    code = "idempotency_key_reused"


class RestockNotPossible(PaymentError, ValueError):
    """``restock=True`` on a refund that cannot put goods back: it does not refund the
    rest of the payment, or the order never took stock (it is not paid)."""

    code = "restock_not_possible"


# --- state machines ----------------------------------------------------------


class IllegalTransition(PaycoreError):
    """A status change that the aggregate's state machine does not allow."""

    code = "illegal_transition"


# --- infrastructure ----------------------------------------------------------


class StoreError(PaycoreError):
    """The store could not do what was asked; follows PEP 249's names."""

    code = "store_error"


class IntegrityError(StoreError):
    """A unique or foreign key constraint was violated; the transaction rolled back."""

    code = "store_integrity_error"


class OperationalError(StoreError):
    """The store failed (disk, connection, lock timeout); the transaction rolled back."""

    code = "store_unavailable"
    retryable = True


class CommitUnknown(OperationalError):
    """The commit may or may not have happened (connection lost while committing)."""

    code = "store_commit_unknown"


class ProviderError(PaycoreError):
    """The payment provider answered with an error, or did not answer.

    ``outcome`` classifies it: ``definite`` (nothing happened), ``ambiguous``
    (it may have happened: ask the provider before doing anything else) or
    ``needs_action`` (the customer must act).
    """

    code = "provider_error"
    outcome: ClassVar[str] = "definite"


class ProviderUnavailable(ProviderError):
    """Timeout, connection drop or 5xx: the call may have taken effect."""

    code = "provider_unavailable"
    outcome = "ambiguous"
    retryable = True


class ProviderRateLimited(ProviderError):
    code = "provider_rate_limited"
    retryable = True


class ProviderIdempotencyInUse(ProviderError):
    """Another request with the same idempotency key is still running."""

    code = "provider_idempotency_in_use"
    retryable = True


class ProviderIdempotencyMismatch(ProviderError):
    """The same idempotency key was sent with different parameters."""

    code = "provider_idempotency_mismatch"


class ProviderInvalidRequest(ProviderError):
    """The provider refused the request as invalid in the object's current state."""

    code = "provider_invalid_request"


class ProviderCardDeclined(ProviderError):
    code = "card_declined"
    outcome = "needs_action"


class ProviderNotFound(ProviderError, LookupError):
    code = "provider_not_found"


class FlowError(PaycoreError):
    code = "flow_error"


class FlowPending(FlowError):
    """The operation is durably recorded but not finished; recovery will finish it."""

    code = "flow_pending"
    retryable = True


class LeaseLost(FlowError):
    """Another worker took over this flow; this worker must stop stepping it."""

    code = "flow_lease_lost"


class WebhookSignatureInvalid(PaycoreError):
    code = "webhook_signature_invalid"


# --- operator actions (appended) ----------------------------------------------


class FlowNotFound(FlowError, LookupError):
    code = "flow_not_found"


class FlowNotRevivable(FlowError):
    """Only a dead-lettered flow can be revived."""

    code = "flow_not_revivable"


class FlowNotAbandonable(FlowError):
    """The flow has ended, or has no compensation to run, or is already running it."""

    code = "flow_not_abandonable"


class AlertNotFound(PaycoreError, LookupError):
    code = "alert_not_found"
