"""Domain records. All are immutable ``attrs`` classes; a change is a new version.

Times are integers: milliseconds since the Unix epoch, from the injected clock.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs

from paycore.money import Money
from paycore.status import (
    FlowStatus,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ReservationStatus,
)


def _frozen_map(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen(weakref_slot=False)
class Seller:
    id: str
    name: str
    provider_account: str
    charges_enabled: bool = True
    version: int = 0


@attrs.frozen(weakref_slot=False)
class Product:
    id: str
    seller_id: str
    sku: str
    name: str
    price: Money
    deleted: bool = False
    version: int = 0


@functools.lru_cache(maxsize=4096)  # hot (every stock row's key) and pure
def stock_key(seller_id: str, sku: str) -> str:
    """The key of a seller's stock of one SKU: ``seller/sku``, each part percent-encoded
    so that no two (seller, SKU) pairs share a key (``a/b`` + ``c`` is not ``a`` + ``b/c``)."""
    return f"{quote(seller_id, safe='')}/{quote(sku, safe='')}"


@attrs.frozen(weakref_slot=False)
class Stock:
    """One seller's counters for one SKU. ``available = on_hand - held - committed``, never
    negative. Sellers never share units: the same SKU at two sellers is two rows."""

    seller_id: str
    sku: str
    on_hand: int = 0
    held: int = 0
    committed: int = 0
    version: int = 0

    @property
    def key(self) -> str:
        return stock_key(self.seller_id, self.sku)

    @property
    def available(self) -> int:
        return self.on_hand - self.held - self.committed


@attrs.frozen(weakref_slot=False)
class StockMovement:
    """Append-only ledger of every change to one seller's on-hand count of a SKU."""

    seq: int
    seller_id: str
    sku: str
    delta: int
    reason: str
    at: int

    @property
    def stock_key(self) -> str:
        return stock_key(self.seller_id, self.sku)


@attrs.frozen(weakref_slot=False)
class OrderLine:
    """A snapshot taken at reservation time: later catalog changes never reach it (S12)."""

    product_id: str
    sku: str
    seller_id: str
    name: str
    unit_price: Money
    quantity: int

    @property
    def total(self) -> Money:
        return self.unit_price.times(self.quantity)


@attrs.frozen(weakref_slot=False)
class Order:
    id: str
    checkout_session_id: str
    seller_id: str
    lines: tuple[OrderLine, ...]
    total: Money
    cart_fingerprint: str
    payment_id: str
    created_at: int
    expires_at: int
    status: OrderStatus = OrderStatus.PENDING
    version: int = 0


@attrs.frozen(weakref_slot=False)
class Reservation:
    id: str
    order_id: str
    sku: str
    quantity: int
    expires_at: int
    #: The index of the order line this reservation holds stock for.
    line: int = 0
    status: ReservationStatus = ReservationStatus.HELD
    version: int = 0
    #: Whose stock it holds: the seller of its order line (stock is per seller and SKU).
    seller_id: str = attrs.field(kw_only=True)

    @property
    def stock_key(self) -> str:
        return stock_key(self.seller_id, self.sku)


@attrs.frozen(weakref_slot=False)
class Payment:
    id: str
    order_id: str
    checkout_session_id: str
    seller_account: str
    amount: Money
    created_at: int
    status: PaymentStatus = PaymentStatus.CREATING
    provider_intent_id: str | None = None
    provider_status: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)
    amount_received: int = 0
    amount_refunded: int = 0
    lock_owner: str | None = None
    confirm_attempts: int = 0
    last_error: str | None = None
    version: int = 0
    #: A random token unique across stores and time, sent with the provider intent:
    #: an intent is this payment's only if it carries it (ids repeat across stores).
    reference: str | None = None


@attrs.frozen(weakref_slot=False)
class Refund:
    id: str
    payment_id: str
    order_id: str
    amount: Money
    reason: str | None
    idempotency_key: str
    created_at: int
    automatic: bool = False
    status: RefundStatus = RefundStatus.PENDING
    provider_refund_id: str | None = None
    #: The amount the caller asked for (None: everything still refundable), kept so that
    #: a key reused for another request is refused rather than replayed.
    requested_amount: int | None = None
    #: Made outside paycore (the provider's dashboard, a support tool) and recorded
    #: when paycore saw it; its key is ``external:<provider refund id>``.
    external: bool = False
    version: int = 0
    #: The caller said the goods came back: once the order is refunded in full, its
    #: committed stock goes back on sale. Never implied by the refund itself.
    restock: bool = False
    #: A random token sent with the provider refund, as for payments.
    reference: str | None = None
    #: When the refund sync next asks the provider about this refund once it succeeded
    #: (a bank may reverse it days later, and that webhook can be lost): 0, at its next
    #: run; then at its next follow-up age
    #: (:func:`paycore.flows.job_sync.next_follow_up`), never after the last.
    follow_up_at: int = 0


@attrs.frozen(weakref_slot=False)
class Flow:
    """A running operation's durable recovery point."""

    id: str
    kind: str
    step: str
    created_at: int
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_map)
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_map)
    status: FlowStatus = FlowStatus.ACTIVE
    attempts: int = 0
    next_run_at: int = 0
    lease_owner: str | None = None
    lease_until: int = 0
    last_error: str | None = None
    result: Mapping[str, Any] | None = None
    version: int = 0


@attrs.frozen(weakref_slot=False)
class AuditEntry:
    seq: int
    at: int
    aggregate: str
    aggregate_id: str
    from_status: str | None
    to_status: str
    trigger: str
    flow_id: str | None


@attrs.frozen(weakref_slot=False)
class OutboxMessage:
    """A notification to send after commit; one per (order, kind), ever."""

    id: str
    order_id: str
    kind: str
    created_at: int
    payload: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_map)
    sent: bool = False
    attempts: int = 0
    version: int = 0
    #: The outbox job takes the message only from this moment on: at once when queued;
    #: while a job run is sending it (a lease, so two instances do not send it at
    #: once); after a failed send, the retry's backoff.
    due_at: int = 0


@attrs.frozen(weakref_slot=False)
class InboxEntry:
    """A provider event already taken in; a second delivery is a no-op."""

    event_id: str
    type: str
    object_id: str
    received_at: int
    flow_id: str


@attrs.frozen(weakref_slot=False)
class Cursor:
    """Where a job stopped, so its next run goes on from there."""

    name: str
    value: str | None = None
    version: int = 0


@attrs.frozen(weakref_slot=False)
class OrphanCase:
    """A provider intent with no local payment to match, and what was done about it."""

    provider_intent_id: str
    found_at: int
    provider_status: str
    action: str
    amount: int
    checkout_session_id: str | None = None
    version: int = 0


@attrs.frozen(weakref_slot=False)
class Alert:
    """Something that needs a human, recorded in the transaction that found it (A6).

    One row per (kind, subject): raising it again while open counts it; raising it after
    an operator resolved it opens it again. The alerts port is told after the commit.
    """

    id: str  # "<kind>:<subject>"
    kind: str
    subject: str
    message: str
    raised_at: int
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_map)
    open: bool = True
    count: int = 1
    resolved_at: int | None = None
    resolution: str | None = None
    version: int = 0


@attrs.frozen(weakref_slot=False)
class JobHealth:
    """How a background job's recent runs went: consecutive failures since its last success."""

    name: str
    failures: int = 0
    last_error: str | None = None
    last_failed_at: int | None = None
    version: int = 0


@attrs.frozen(weakref_slot=False)
class Installation:
    """This store's identity at the provider: one row, created on first use, random.

    Every provider object paycore makes carries it (with the object's own random
    reference), so objects of another store on the same provider account, or of this
    store before a restore, are never taken for this store's own.
    """

    key: str  # always "this"
    id: str
    created_at: int
    version: int = 0
