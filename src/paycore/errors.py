"""The one error tree of paycore.

Every error paycore raises is a :class:`PaycoreError`. Each carries a stable
``code`` (safe to match on and to return to API clients) and structured
``fields`` (ids, amounts) so that callers never parse messages. Messages say
what happened and what to do about it. No error ever carries a secret.

Every error class names its own code in its class line
(``class OutOfStock(CheckoutError, code="out_of_stock")``); defining the class
registers it, and a code that another class already holds fails at import
(:func:`error_class` finds a class by its code). :data:`ADAPTER_ERRORS` lists the
errors a store or provider adapter must raise, as ``docs/errors.md`` explains.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

_BY_CODE: dict[str, type[PaycoreError]] = {}


class PaycoreError(Exception):
    """Root of every error paycore raises."""

    code: ClassVar[str] = "paycore_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = fields

    def __init_subclass__(cls, /, code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _register(cls, code)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


def _register(cls: type[PaycoreError], code: str | None) -> None:
    """Give ``cls`` its code and record it; a missing or taken code fails the definition."""
    name = f"{cls.__module__}.{cls.__qualname__}"
    if not code or "code" in cls.__dict__:
        raise TypeError(
            f"{name} must name its own stable code in its class line, as in "
            f'`class {cls.__name__}({cls.__mro__[1].__name__}, code="...")`'
        )
    if (holder := _BY_CODE.get(code)) is not None:
        raise TypeError(
            f"error code {code!r} of {name} is already held by "
            f"{holder.__module__}.{holder.__qualname__}: give {cls.__name__} a code of its own"
        )
    cls.code = code
    _BY_CODE[code] = cls


_BY_CODE[PaycoreError.code] = PaycoreError

#: Every error class by its code, read-only.
ERRORS_BY_CODE = MappingProxyType(_BY_CODE)


def error_class(code: str) -> type[PaycoreError]:
    """The error class whose code is ``code``; :class:`PaycoreError` for an unknown code."""
    return _BY_CODE.get(code, PaycoreError)


# --- input validation -------------------------------------------------------


class InvalidInput(PaycoreError, ValueError, code="invalid_input"):
    """The caller passed something paycore cannot accept. Nothing was changed."""


class InvalidAmount(InvalidInput, code="invalid_amount"):
    """An amount is not an integer number of minor units, or is out of the allowed range."""


class UnknownCurrency(InvalidInput, code="unknown_currency"):
    """A currency code is not one paycore knows (three upper-case ISO 4217 letters)."""


class CurrencyMismatch(InvalidInput, code="currency_mismatch"):
    """Two amounts in different currencies were combined, or a cart mixes currencies."""


class InvalidQuantity(InvalidInput, code="invalid_quantity"):
    """A quantity is not a whole number of at least 1, or is above the configured limit."""


class EmptyCart(InvalidInput, code="empty_cart"):
    """A checkout was asked for with no items; add at least one."""


class InvalidCheckoutSession(InvalidInput, code="invalid_checkout_session"):
    """A checkout session id is not 16 to 128 letters, digits, '_' or '-'."""


class InvalidIdempotencyKey(InvalidInput, code="invalid_idempotency_key"):
    """A refund's idempotency key is missing or is not 1 to 200 safe characters."""


class InvalidRefundReason(InvalidInput, code="invalid_refund_reason"):
    """A refund reason is not one of the reasons the provider accepts."""


class MixedSellerCart(InvalidInput, code="mixed_seller_cart"):
    """One cart holds several sellers' products; check out once per seller."""


# --- catalog and checkout -----------------------------------------------------


class CheckoutError(PaycoreError, code="checkout_error"):
    """A checkout cannot go ahead as asked."""


class ProductNotFound(CheckoutError, LookupError, code="product_not_found"):
    """No product has this id."""


class ProductUnavailable(CheckoutError, code="product_unavailable"):
    """The product exists but is not on sale."""


class SellerNotFound(CheckoutError, LookupError, code="seller_not_found"):
    """No seller has this id."""


class SellerCannotCharge(CheckoutError, code="seller_cannot_charge"):
    """The seller's account cannot take charges now; nothing was charged. Refused by the
    provider's check, the session was recorded and replays this: use a new session id.
    Refused up front (paycore's own flag), nothing was kept: the id may be tried again."""


class OutOfStock(CheckoutError, code="out_of_stock"):
    """Not enough units are available to hold for this checkout; nothing was held."""


class CheckoutSessionReused(CheckoutError, code="checkout_session_reused"):
    """The checkout session already has an order with a different cart; start a new session."""


class CheckoutSessionExpired(CheckoutError, code="checkout_session_expired"):
    """The checkout session is too old to place an order; start a new session."""


class StockError(PaycoreError, code="stock_error"):
    """A stock change cannot be made as asked."""


class StockBelowReserved(StockError, ValueError, code="stock_below_reserved"):
    """On-hand stock cannot go below what is held or committed for orders."""


class StockItemNotFound(StockError, LookupError, code="stock_item_not_found"):
    """Stock was changed for a (seller, SKU) that no product of that seller carries:
    restocking never creates an item on its own."""


# --- payments and refunds ----------------------------------------------------


class PaymentError(PaycoreError, code="payment_error"):
    """A payment or refund operation cannot go ahead as asked."""


class PaymentNotFound(PaymentError, LookupError, code="payment_not_found"):
    """No payment has this id."""


class PaymentBusy(PaymentError, code="payment_busy"):
    """Another operation holds this payment; retry shortly."""

    retryable = True


class PaymentNotConfirmable(PaymentError, code="payment_not_confirmable"):
    """The payment has ended and can never be confirmed; start a new checkout."""


class PaymentNotCancelable(PaymentError, code="payment_not_cancelable"):
    """The payment succeeded, or the provider can no longer cancel it; refund it instead."""


class PaymentNotRefundable(PaymentError, code="payment_not_refundable"):
    """Only a succeeded payment can be refunded; cancel one that has taken no money."""


class RefundExceedsRefundable(PaymentError, code="refund_exceeds_refundable"):
    """The refund asked for is more than the payment's captured amount minus its live refunds.
    Without ``refund_id``, paycore refused it before recording anything: the key is free;
    with it, the provider refused it (refunded elsewhere) and the key is spent: use a new one."""


class IdempotencyKeyReused(PaymentError, code="idempotency_key_reused"):
    """A refund's idempotency key was already used for a refund with other terms; use a new key."""


class RestockNotPossible(PaymentError, ValueError, code="restock_not_possible"):
    """``restock=True`` on a refund that cannot put goods back: it does not refund the
    rest of the payment, or the order never took stock (it is not paid)."""


# --- state machines ----------------------------------------------------------


class IllegalTransition(PaycoreError, code="illegal_transition"):
    """A status change that the aggregate's state machine does not allow."""


# --- infrastructure ----------------------------------------------------------


class StoreError(PaycoreError, code="store_error"):
    """The store could not do what was asked; follows PEP 249's names."""


class IntegrityError(StoreError, code="store_integrity_error"):
    """A unique or foreign key constraint was violated; the transaction rolled back."""

    def rolled_back(self) -> IntegrityError:
        """What a later call in the transaction this error failed raises (every store)."""
        return IntegrityError(f"transaction rolled back: {self.message}", **self.fields)


class DataError(StoreError, code="store_data_error"):
    """The store cannot hold a value it was given (text with a NUL, a key past its
    index's limit); the transaction rolled back, and the same value fails again."""


class OperationalError(StoreError, code="store_unavailable"):
    """The store failed (disk, connection, lock timeout); the transaction rolled back."""

    retryable = True


class CommitUnknown(OperationalError, code="store_commit_unknown"):
    """The commit may or may not have happened (connection lost while committing)."""


class StoreConflict(OperationalError, code="store_conflict"):
    """Another transaction's writes conflicted with this one (a serialization failure or a
    deadlock); it rolled back whole and may run again from its start."""


class ClockSkewed(PaycoreError, code="clock_skewed"):
    """This instance's clock is further from the database server's than
    ``Config.max_clock_skew_ms``: its leases would lapse early; set the host's time (NTP)."""


class ProviderError(PaycoreError, code="provider_error"):
    """The payment provider answered with an error, or did not answer.

    ``outcome`` classifies it: ``definite`` (nothing happened), ``ambiguous`` (it may have happened:
    ask the provider before doing anything else) or ``needs_action`` (the customer must act).
    """

    outcome: ClassVar[str] = "definite"


class ProviderUnavailable(ProviderError, code="provider_unavailable"):
    """Timeout, connection drop or 5xx: the call may have taken effect."""

    outcome = "ambiguous"
    retryable = True


class ProviderSavedFailure(ProviderUnavailable, code="provider_saved_failure"):
    """A 5xx the provider saved under the idempotency key and says not to retry
    (``Stripe-Should-Retry: false``): the same key only replays it, so it is not
    retryable; the request may still have taken effect, so look before a new key."""

    retryable = False


class ProviderRateLimited(ProviderError, code="provider_rate_limited"):
    """The provider asked paycore to slow down (HTTP 429); nothing happened, retry later."""

    retryable = True


class ProviderIdempotencyInUse(ProviderError, code="provider_idempotency_in_use"):
    """Another request with the same idempotency key is still running (HTTP 409
    ``idempotency_key_in_use``): this one did nothing, but the first may still land, so
    retry the same key (it then replays the first's result); never take a new key at once."""

    outcome = "ambiguous"
    retryable = True


class ProviderLockTimeout(ProviderError, code="provider_lock_timeout"):
    """Another request was changing the same object (HTTP 429 ``lock_timeout``); this one
    did nothing: retry it."""

    retryable = True


class ProviderCircuitOpen(ProviderError, code="provider_circuit_open"):
    """The provider failed to answer too often of late: a new checkout is refused at once, before
    any request is sent, so nothing was made. Recovery keeps talking to the provider; the first
    answer it gets lets new checkouts through again. A checkout session is one attempt: the same
    session id replays this answer, so try again under a new checkout session id."""


class ProviderIdempotencyMismatch(ProviderError, code="provider_idempotency_mismatch"):
    """The same idempotency key was sent with different parameters."""


class ProviderInvalidRequest(ProviderError, code="provider_invalid_request"):
    """The provider refused the request as invalid in the object's current state."""


class ProviderCardDeclined(ProviderError, code="card_declined"):
    """The card was declined; the customer must use another payment method."""

    outcome = "needs_action"


class ProviderNotFound(ProviderError, LookupError, code="provider_not_found"):
    """The provider does not know the object (intent, refund) asked for."""


class ProviderConfigurationError(ProviderError, code="provider_configuration"):
    """The provider refused paycore's credentials (HTTP 401/403: a wrong, revoked or
    restricted key, an account it may not act on) or no request could be built from the
    settings (a malformed key or API base). Nothing happened; an operator must fix them."""


class FlowError(PaycoreError, code="flow_error"):
    """A durable operation (a flow) cannot go ahead as asked."""


class FlowPending(FlowError, code="flow_pending"):
    """The operation is durably recorded but not finished; recovery will finish it."""

    retryable = True


class LeaseLost(FlowError, code="flow_lease_lost"):
    """Another worker took over this flow; this worker must stop stepping it."""


class WebhookSignatureInvalid(PaycoreError, code="webhook_signature_invalid"):
    """A webhook's signature, timestamp or body failed verification; refuse the event."""


# --- operator actions (appended) ----------------------------------------------


class FlowNotFound(FlowError, LookupError, code="flow_not_found"):
    """No flow has this id."""


class FlowNotRevivable(FlowError, code="flow_not_revivable"):
    """Only a dead-lettered flow can be revived."""


class FlowNotAbandonable(FlowError, code="flow_not_abandonable"):
    """The flow cannot be abandoned: it has ended, has no compensation to run or is
    already running it, is a background job's run, is of a kind this paycore does not
    know, or is still active and not stuck (another worker runs it under a live lease,
    or it has not failed since it last started)."""


class AlertNotFound(PaycoreError, LookupError, code="alert_not_found"):
    """No alert has this id."""


class AdapterErrors(NamedTuple):
    """The errors an adapter raises at the port, by port; paycore decides by their type.

    A vendor's own exception never crosses the port: the adapter translates it into
    one of these (``raise ... from None`` keeps tracebacks short).
    """

    store: tuple[type[StoreError], ...]
    provider: tuple[type[ProviderError], ...]
    webhook: tuple[type[PaycoreError], ...]


#: What a store, a payment provider and a webhook verifier must raise; see docs/errors.md.
ADAPTER_ERRORS = AdapterErrors(
    store=(IntegrityError, DataError, OperationalError, StoreConflict, CommitUnknown),
    provider=(
        ProviderUnavailable,
        ProviderSavedFailure,
        ProviderRateLimited,
        ProviderIdempotencyInUse,
        ProviderLockTimeout,
        ProviderIdempotencyMismatch,
        ProviderInvalidRequest,
        ProviderCardDeclined,
        ProviderNotFound,
        ProviderConfigurationError,
    ),
    webhook=(WebhookSignatureInvalid,),
)
