"""The tables paycore keeps, their keys and their constraints.

Every store adapter enforces exactly these: the primary key, each unique
constraint (a ``None`` in any of its fields exempts the row, as in SQL) and
lookups by each indexed field. The constraints carry correctness: one order
per checkout session (S8), one payment per provider intent, one inbox row per
provider event, one refund per (payment, idempotency key), one outbox message
per (order, kind).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import attrs

from paycore import records as r

T = TypeVar("T")


@attrs.frozen
class Table(Generic[T]):
    name: str
    type: type[T]
    key: str
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[str, ...] = ()
    #: (equality field, time field) pairs that ``Transaction.find_since`` may use: rows
    #: of one value (a status) from a moment on, found without reading the older ones.
    ranges: tuple[tuple[str, str], ...] = ()
    #: A log: rows are only ever inserted, keyed by a sequence number, never updated. A
    #: store may write a transaction's log rows together at its end (before any read of
    #: the table, and at the commit); a duplicate key then fails there, not at the insert.
    append_only: bool = False

    def key_of(self, record: T) -> str:
        return str(getattr(record, self.key))

    def unique_values(self, record: T) -> list[tuple[tuple[str, ...], tuple[Any, ...]]]:
        out = []
        for fields in self.unique:
            if len(fields) == 1:  # most constraints: no generator for them (hot)
                values: tuple[Any, ...] = (getattr(record, fields[0]),)
            else:
                values = tuple([getattr(record, f) for f in fields])
            if None not in values:
                out.append((fields, values))
        return out


SELLERS = Table("sellers", r.Seller, "id")
PRODUCTS = Table("products", r.Product, "id", indexes=("seller_id",))
STOCK = Table("stock", r.Stock, "key")
STOCK_MOVEMENTS = Table(
    "stock_movements", r.StockMovement, "seq", indexes=("stock_key",), append_only=True
)
ORDERS = Table("orders", r.Order, "id", unique=(("checkout_session_id",),), indexes=("status",))
RESERVATIONS = Table("reservations", r.Reservation, "id", indexes=("order_id",))
PAYMENTS = Table(
    "payments",
    r.Payment,
    "id",
    unique=(("provider_intent_id",), ("order_id",)),
    indexes=("status",),
    ranges=(("status", "created_at"),),
)
REFUNDS = Table(
    "refunds",
    r.Refund,
    "id",
    unique=(("payment_id", "idempotency_key"), ("provider_refund_id",)),
    indexes=("payment_id", "status"),
    ranges=(("status", "created_at"), ("status", "follow_up_at")),
)
FLOWS = Table("flows", r.Flow, "id", indexes=("status",))
AUDIT = Table("audit", r.AuditEntry, "seq", indexes=("aggregate_id",), append_only=True)
OUTBOX = Table("outbox", r.OutboxMessage, "id", indexes=("sent",))
INBOX = Table("inbox", r.InboxEntry, "event_id")
ORPHANS = Table("orphans", r.OrphanCase, "provider_intent_id", indexes=("action",))
CURSORS = Table("cursors", r.Cursor, "name")
ALERTS = Table("alerts", r.Alert, "id", indexes=("open", "kind"))
JOB_HEALTH = Table("job_health", r.JobHealth, "name")
INSTALLATION = Table("installation", r.Installation, "key")

TABLES: tuple[Table[Any], ...] = (
    SELLERS,
    PRODUCTS,
    STOCK,
    STOCK_MOVEMENTS,
    ORDERS,
    RESERVATIONS,
    PAYMENTS,
    REFUNDS,
    FLOWS,
    AUDIT,
    OUTBOX,
    INBOX,
    ORPHANS,
    CURSORS,
    ALERTS,
    JOB_HEALTH,
    INSTALLATION,
)
