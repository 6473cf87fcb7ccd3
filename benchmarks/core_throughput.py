"""Full payment lifecycles per second: paycore vs bare dicts vs raw sqlite3, in one run.

A *lifecycle* is: create a payment intent (a new checkout session, one cart
line), confirm it with ``pm_card_visa``, and handle the two webhook events the
provider sends for it (``payment_intent.created`` and ``payment_intent.succeeded``).

Three measurements, each on a fresh instance, repeated and interleaved:

* **paycore** -- :class:`paycore.service.PaymentService` on the in-memory wiring
  (``paycore_adapters.memory.in_memory``: MemoryStore, FakeProvider, ManualClock).
  Real flows; invariants are checked once after the timed loop, never inside it.
* **bare dicts** -- the same bookkeeping with plain dicts and no safety at all: no
  transactions, audit, state machines, idempotency or inbox. The lower bound;
  paycore/bare is the price of safety.
* **raw sqlite3** -- the SQL a straightforward SQL implementation of the same
  flows executes, with stdlib ``sqlite3`` on a file database in a temporary
  directory (WAL, ``synchronous=NORMAL``, one connection), and no provider calls.
  It mirrors paycore's store traffic: the same transactions (read-only ones
  included), one INSERT per insert, one UPDATE (with an optimistic version
  check) per update, one SELECT per read (a row read twice in one transaction
  is read once), plus an order-line row and an order-number sequence UPDATE.
  ``census_paycore`` and ``census_sqlite`` count both, and the report shows
  them side by side.

Usage::

    .venv/bin/python benchmarks/core_throughput.py [--lifecycles N] [--json]
    .venv/bin/python benchmarks/core_throughput.py --profile   # cProfile of paycore

The exit code is 0 whether or not paycore meets the goal (paycore/sqlite >= 2.0);
it is 1 only when a measurement fails or does not complete its lifecycles.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import io
import json
import platform
import pstats
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import Snapshot, Transaction
from paycore.schema import Table
from paycore.service import PaymentService
from paycore.status import FlowStatus, OrderStatus, PaymentStatus
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import (
    ManualClock,
    RecordingAlerts,
    RecordingNotifier,
    Wiring,
    in_memory,
)
from paycore_adapters.memory_store import MemoryStore

T = TypeVar("T")

GOAL = 2.0  # paycore lifecycles/s divided by raw sqlite3 lifecycles/s
DEFAULT_LIFECYCLES = 2000
DEFAULT_REPEATS = 3
DEFAULT_WARMUP = 50  # untimed lifecycles on each fresh instance before its timer starts

SELLER_ID, ACCOUNT = "s_bench", "acct_bench"
PRODUCT_ID, SKU, PRICE, CURRENCY = "p_mug", "SKU-MUG", 1250, "EUR"
PAYMENT_METHOD = "pm_card_visa"
WORKER = "worker-1"
LEASE_MS = 30_000
RESERVATION_TTL_MS = 15 * 60_000
EPOCH_MS = 1_767_225_600_000

KINDS = ("paycore", "bare", "sqlite")
LABELS = {
    "paycore": "paycore (in-memory wiring)",
    "bare": "bare dicts (no safety)",
    "sqlite": "raw sqlite3 (WAL, NORMAL)",
}


class BenchmarkError(RuntimeError):
    """A measurement failed or did not complete the lifecycles it was asked for."""


def session_id(i: int) -> str:
    """The checkout session of lifecycle ``i`` (the same ids for all three measurements)."""
    return f"cs_bench_{i:012d}"


@dataclass(frozen=True)
class Measurement:
    """One timed run of ``lifecycles`` lifecycles, and what it provably completed."""

    kind: str
    lifecycles: int
    seconds: float
    orders_created: int
    orders_paid: int
    payments_succeeded: int
    webhooks_handled: int
    commits: int | None = None  # store transactions committed in the timed loop
    violations: int | None = None  # paycore safety invariants violated afterwards

    @property
    def rate(self) -> float:
        return self.lifecycles / self.seconds if self.seconds > 0 else float("inf")

    @property
    def us_per_lifecycle(self) -> float:
        return self.seconds / self.lifecycles * 1e6

    @property
    def commits_per_lifecycle(self) -> float | None:
        return None if self.commits is None else self.commits / self.lifecycles

    def check(self) -> Measurement:
        """Raise BenchmarkError unless every lifecycle of the timed loop completed."""
        n = self.lifecycles
        expected = {
            "orders_created": n,
            "orders_paid": n,
            "payments_succeeded": n,
            "webhooks_handled": 2 * n,
        }
        wrong = {k: getattr(self, k) for k, v in expected.items() if getattr(self, k) != v}
        if wrong:
            raise BenchmarkError(f"{self.kind}: {n} lifecycles asked, but got {wrong}")
        if self.violations:
            raise BenchmarkError(f"{self.kind}: {self.violations} safety invariants violated")
        return self


def _timed(loop: Callable[[], None]) -> float:
    gc.collect()
    start = time.perf_counter()
    loop()
    return time.perf_counter() - start


# --- (1) paycore ---------------------------------------------------------------------


def paycore_shop(stock: int) -> Wiring:
    """A fresh in-memory wiring with one seller, one product and ``stock`` units of it."""
    w = in_memory()
    _stock_shop(w.service, w.provider, stock)
    return w


def _stock_shop(service: PaymentService, provider: FakeProvider, stock: int) -> None:
    provider.set_account(ACCOUNT, can_charge=True)
    service.add_seller(SELLER_ID, "Bench Shop", ACCOUNT)
    service.add_product(PRODUCT_ID, SELLER_ID, SKU, "Mug", Money(PRICE, CURRENCY))
    service.restock(SELLER_ID, SKU, stock)


def paycore_lifecycles(service: PaymentService, provider: FakeProvider, first: int, n: int) -> None:
    """Run lifecycles ``first`` .. ``first + n - 1`` through the real service."""
    cart = [CartItem(PRODUCT_ID, 1)]
    create, confirm = service.create_payment_intent, service.confirm_payment
    handle, take_events = service.handle_webhook, provider.take_events
    for i in range(first, first + n):
        created = create(session_id(i), cart)
        confirm(created.payment_id, payment_method=PAYMENT_METHOD)
        for event in take_events():
            handle(event)


def _paycore_counts(snap: Snapshot) -> tuple[int, int, int, int]:
    orders = snap.rows(s.ORDERS)
    payments = snap.rows(s.PAYMENTS)
    return (
        len(orders),
        sum(o.status is OrderStatus.PAID for o in orders),
        sum(p.status is PaymentStatus.SUCCEEDED for p in payments),
        len(snap.rows(s.INBOX)),
    )


def measure_paycore(lifecycles: int, warmup: int = DEFAULT_WARMUP) -> Measurement:
    """Time ``lifecycles`` paycore lifecycles on a fresh wiring (after ``warmup`` untimed)."""
    w = paycore_shop(stock=lifecycles + warmup)
    svc, provider = w.service, w.provider
    paycore_lifecycles(svc, provider, 0, warmup)
    before = _paycore_counts(w.store.snapshot())
    commits = w.store.stats["commits"]
    seconds = _timed(lambda: paycore_lifecycles(svc, provider, warmup, lifecycles))
    commits = w.store.stats["commits"] - commits
    after = _paycore_counts(w.store.snapshot())
    unfinished = [
        f for f in w.store.snapshot().rows(s.FLOWS) if f.status is not FlowStatus.SUCCEEDED
    ]
    if unfinished or w.alerts.raised:
        raise BenchmarkError(f"paycore: {len(unfinished)} flows unfinished, {w.alerts.raised}")
    created, paid, succeeded, handled = (a - b for a, b in zip(after, before, strict=True))
    return Measurement(
        "paycore",
        lifecycles,
        seconds,
        created,
        paid,
        succeeded,
        handled,
        commits=commits,
        violations=len(w.violations("safety")),
    )


# --- (2) bare dicts --------------------------------------------------------------------


@dataclass
class BareShop:
    """Plain dicts, no safety: what is left when every guarantee is taken away."""

    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    stock: dict[str, dict[str, int]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_intent: dict[str, str] = field(default_factory=dict)  # intent id -> payment id
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)  # the fake provider
    events: list[dict[str, str]] = field(default_factory=list)
    seq: int = 0
    handled: int = 0


def bare_shop(stock: int) -> BareShop:
    shop = BareShop()
    shop.products[PRODUCT_ID] = {"sku": SKU, "seller_id": SELLER_ID, "price": PRICE}
    shop.stock[SKU] = {"on_hand": stock, "held": 0, "committed": 0}
    return shop


def bare_lifecycles(shop: BareShop, first: int, n: int) -> None:
    orders, payments, intents, by_intent = shop.orders, shop.payments, shop.intents, shop.by_intent
    for i in range(first, first + n):
        # create the payment intent
        session = session_id(i)
        product = shop.products[PRODUCT_ID]
        stock = shop.stock[product["sku"]]
        if stock["on_hand"] - stock["held"] - stock["committed"] < 1:
            raise BenchmarkError(f"bare: out of stock at lifecycle {i}")
        shop.seq += 1
        order_id, payment_id, intent_id = (f"{p}_{shop.seq:06d}" for p in ("ord", "pay", "pi"))
        stock["held"] += 1
        orders[order_id] = {"id": order_id, "session": session, "status": "pending", "qty": 1}
        payment = {"id": payment_id, "order_id": order_id, "amount": product["price"]}
        payments[payment_id] = payment
        intents[intent_id] = {"id": intent_id, "status": "requires_payment_method"}
        shop.events.append({"type": "payment_intent.created", "object_id": intent_id})
        payment["intent_id"], payment["status"] = intent_id, "open"
        by_intent[intent_id] = payment_id
        # confirm it
        intents[intent_id]["status"] = "succeeded"
        shop.events.append({"type": "payment_intent.succeeded", "object_id": intent_id})
        payment["status"] = "succeeded"
        stock["held"] -= 1
        stock["committed"] += 1
        orders[order_id]["status"] = "paid"
        # handle its webhooks: apply the intent's current status to its payment
        events, shop.events = shop.events, []
        for event in events:
            target = payments[by_intent[event["object_id"]]]
            status = intents[event["object_id"]]["status"]
            if target["status"] != status:
                target["status"] = status
            shop.handled += 1


def measure_bare(lifecycles: int, warmup: int = DEFAULT_WARMUP) -> Measurement:
    shop = bare_shop(stock=lifecycles + warmup)
    bare_lifecycles(shop, 0, warmup)
    n_orders, handled = len(shop.orders), shop.handled
    seconds = _timed(lambda: bare_lifecycles(shop, warmup, lifecycles))
    new = list(shop.orders.values())[n_orders:]
    new_payments = list(shop.payments.values())[n_orders:]
    return Measurement(
        "bare",
        lifecycles,
        seconds,
        len(new),
        sum(o["status"] == "paid" for o in new),
        sum(p["status"] == "succeeded" for p in new_payments),
        shop.handled - handled,
    )


# --- (3) raw sqlite3 -------------------------------------------------------------------

SQL_SCHEMA = """
CREATE TABLE sellers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, provider_account TEXT NOT NULL,
    charges_enabled INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0);
CREATE TABLE products (
    id TEXT PRIMARY KEY, seller_id TEXT NOT NULL, sku TEXT NOT NULL, name TEXT NOT NULL,
    price INTEGER NOT NULL, currency TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0);
CREATE INDEX products_seller ON products (seller_id);
CREATE TABLE stock (
    sku TEXT PRIMARY KEY, on_hand INTEGER NOT NULL, held INTEGER NOT NULL,
    committed INTEGER NOT NULL, version INTEGER NOT NULL);
CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE orders (
    id TEXT PRIMARY KEY, checkout_session_id TEXT NOT NULL UNIQUE, seller_id TEXT NOT NULL,
    total INTEGER NOT NULL, currency TEXT NOT NULL, cart_fingerprint TEXT NOT NULL,
    payment_id TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    status TEXT NOT NULL, version INTEGER NOT NULL);
CREATE INDEX orders_status ON orders (status);
CREATE TABLE order_lines (
    order_id TEXT NOT NULL, line INTEGER NOT NULL, product_id TEXT NOT NULL, sku TEXT NOT NULL,
    seller_id TEXT NOT NULL, name TEXT NOT NULL, unit_price INTEGER NOT NULL,
    currency TEXT NOT NULL, quantity INTEGER NOT NULL, PRIMARY KEY (order_id, line));
CREATE TABLE reservations (
    id TEXT PRIMARY KEY, order_id TEXT NOT NULL, sku TEXT NOT NULL, quantity INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL);
CREATE INDEX reservations_order ON reservations (order_id);
CREATE TABLE payments (
    id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE, checkout_session_id TEXT NOT NULL,
    seller_account TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL,
    created_at INTEGER NOT NULL, status TEXT NOT NULL, provider_intent_id TEXT UNIQUE,
    provider_status TEXT, client_secret TEXT, amount_received INTEGER NOT NULL DEFAULT 0,
    amount_refunded INTEGER NOT NULL DEFAULT 0, lock_owner TEXT,
    confirm_attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, version INTEGER NOT NULL);
CREATE INDEX payments_status ON payments (status);
CREATE TABLE flows (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, step TEXT NOT NULL, created_at INTEGER NOT NULL,
    params TEXT NOT NULL, data TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_run_at INTEGER NOT NULL, lease_owner TEXT,
    lease_until INTEGER NOT NULL, last_error TEXT, result TEXT, version INTEGER NOT NULL);
CREATE INDEX flows_status ON flows (status);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, aggregate TEXT NOT NULL,
    aggregate_id TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL,
    trigger TEXT NOT NULL, flow_id TEXT);
CREATE INDEX audit_aggregate ON audit (aggregate_id);
CREATE TABLE outbox (
    id TEXT PRIMARY KEY, order_id TEXT NOT NULL, kind TEXT NOT NULL,
    created_at INTEGER NOT NULL, payload TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 0);
CREATE INDEX outbox_sent ON outbox (sent);
CREATE TABLE inbox (
    event_id TEXT PRIMARY KEY, type TEXT NOT NULL, object_id TEXT NOT NULL,
    received_at INTEGER NOT NULL, flow_id TEXT NOT NULL);
"""

SEL_FLOW = "SELECT * FROM flows WHERE id = ?"
SEL_ORDER_BY_SESSION = "SELECT id FROM orders WHERE checkout_session_id = ?"
SEL_PRODUCT = "SELECT seller_id, sku, name, price, currency, deleted FROM products WHERE id = ?"
SEL_SELLER = "SELECT provider_account, charges_enabled FROM sellers WHERE id = ?"
SEL_STOCK = "SELECT on_hand, held, committed, version FROM stock WHERE sku = ?"
SEL_PAYMENT = "SELECT * FROM payments WHERE id = ?"
SEL_PAYMENT_BY_INTENT = "SELECT * FROM payments WHERE provider_intent_id = ?"
SEL_ORDER = "SELECT status, version FROM orders WHERE id = ?"
SEL_RESERVATIONS = "SELECT id, sku, quantity, status, version FROM reservations WHERE order_id = ?"
SEL_OUTBOX = "SELECT id FROM outbox WHERE id = ?"
SEL_OUTBOX_UNSENT = "SELECT * FROM outbox WHERE sent = 0 ORDER BY rowid"
SEL_OUTBOX_FOR_SEND = "SELECT sent, attempts, version FROM outbox WHERE id = ?"
SEL_INBOX = "SELECT event_id FROM inbox WHERE event_id = ?"
NEXT_SEQ = "UPDATE sequences SET value = value + 1 WHERE name = ? RETURNING value"
INS_AUDIT = (
    "INSERT INTO audit (at, aggregate, aggregate_id, from_status, to_status, trigger, flow_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INS_RESERVATION = "INSERT INTO reservations VALUES (?, ?, ?, ?, ?, 'held', 0)"
INS_ORDER = "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0)"
INS_ORDER_LINE = "INSERT INTO order_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
INS_PAYMENT = (
    "INSERT INTO payments (id, order_id, checkout_session_id, seller_account, amount, currency, "
    "created_at, status, lock_owner, version) VALUES (?, ?, ?, ?, ?, ?, ?, 'creating', ?, 0)"
)
INS_FLOW = (
    "INSERT INTO flows (id, kind, step, created_at, params, data, status, next_run_at, "
    "lease_owner, lease_until, version) VALUES (?, ?, ?, ?, ?, '{}', 'active', ?, ?, ?, 0)"
)
INS_OUTBOX = "INSERT INTO outbox (id, order_id, kind, created_at, payload) VALUES (?, ?, ?, ?, ?)"
INS_INBOX = "INSERT INTO inbox VALUES (?, ?, ?, ?, ?)"
UPD_STOCK = (
    "UPDATE stock SET held = held + ?, committed = committed + ?, version = version + 1 "
    "WHERE sku = ? AND version = ?"
)
UPD_FLOW_STEP = (
    "UPDATE flows SET step = ?, data = ?, attempts = 0, next_run_at = ?, lease_owner = ?, "
    "lease_until = ?, version = version + 1 WHERE id = ? AND version = ?"
)
UPD_FLOW_FINISH = (
    "UPDATE flows SET status = 'succeeded', data = ?, result = ?, lease_owner = ?, "
    "lease_until = ?, version = version + 1 WHERE id = ? AND version = ?"
)
UPD_PAYMENT_STATUS = (
    "UPDATE payments SET status = ?, provider_intent_id = ?, client_secret = ?, "
    "provider_status = ?, last_error = ?, amount_received = ?, version = version + 1 "
    "WHERE id = ? AND version = ?"
)
UPD_PAYMENT_LOCK = (
    "UPDATE payments SET lock_owner = ?, confirm_attempts = ?, version = version + 1 "
    "WHERE id = ? AND version = ?"
)
UPD_RESERVATION = (
    "UPDATE reservations SET status = ?, version = version + 1 WHERE id = ? AND version = ?"
)
UPD_ORDER = "UPDATE orders SET status = ?, version = version + 1 WHERE id = ? AND version = ?"
UPD_OUTBOX_SENT = (
    "UPDATE outbox SET sent = 1, attempts = ?, version = version + 1 WHERE id = ? AND version = ?"
)

# Column positions of SELECT * rows.
P_STATUS, P_INTENT, P_AMOUNT, P_LOCK, P_ATTEMPTS, P_VERSION = 7, 8, 4, 13, 14, 16
F_VERSION = 13


def sqlite_connect(path: Path) -> sqlite3.Connection:
    """One connection, explicit BEGIN/COMMIT, WAL journal, synchronous=NORMAL."""
    conn = sqlite3.connect(path, isolation_level=None)
    if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
        raise BenchmarkError("sqlite: WAL journal mode not available")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def sqlite_shop(path: Path, stock: int) -> sqlite3.Connection:
    conn = sqlite_connect(path)
    conn.executescript(SQL_SCHEMA)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO sellers VALUES (?, ?, ?, 1, 0)", (SELLER_ID, "Bench Shop", ACCOUNT))
    conn.execute(
        "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
        (PRODUCT_ID, SELLER_ID, SKU, "Mug", PRICE, CURRENCY),
    )
    conn.execute("INSERT INTO stock VALUES (?, ?, 0, 0, 1)", (SKU, stock))
    conn.execute("INSERT INTO sequences VALUES ('order', 0)")
    conn.execute("COMMIT")
    return conn


def _write(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> None:
    """An optimistic write: exactly one row at the expected version, as paycore's update."""
    if conn.execute(sql, params).rowcount != 1:
        raise BenchmarkError(f"sqlite: stale or missing row for {sql.split()[1]} {params[-2]!r}")


def _read_payment(conn: sqlite3.Connection, payment_id: str) -> Any:
    conn.execute("BEGIN")
    row = conn.execute(SEL_PAYMENT, (payment_id,)).fetchone()
    conn.execute("COMMIT")
    return row


def _dispatch_outbox(conn: sqlite3.Connection, sent: list[str]) -> None:
    """jobs.dispatch_outbox: one transaction to list, then one per message sent."""
    conn.execute("BEGIN")
    queued = conn.execute(SEL_OUTBOX_UNSENT).fetchall()
    conn.execute("COMMIT")
    for row in queued:
        sent.append(row[0])  # the notifier
        conn.execute("BEGIN")
        was_sent, attempts, version = conn.execute(SEL_OUTBOX_FOR_SEND, (row[0],)).fetchone()
        if not was_sent:
            _write(conn, UPD_OUTBOX_SENT, (attempts + 1, row[0], version))
        conn.execute("COMMIT")


def _finish_flow(conn: sqlite3.Connection, flow: Any, result: dict[str, Any], now: int) -> None:
    """FLOW 'finish' with its audit row, in the caller's transaction."""
    result_json = json.dumps(result)
    _write(
        conn, UPD_FLOW_FINISH, ("{}", result_json, WORKER, now + LEASE_MS, flow[0], flow[F_VERSION])
    )
    conn.execute(INS_AUDIT, (now, "flow", flow[0], "active", "succeeded", "finish", flow[0]))


def _sqlite_webhook(
    conn: sqlite3.Connection,
    event_id: str,
    event_type: str,
    intent_id: str,
    now: int,
    sent: list[str],
) -> None:
    """handle_webhook: inbox + flow, then the flow's fetch step applying the intent's status."""
    ex = conn.execute
    flow_id = f"webhook:{event_id}"
    ex("BEGIN")  # begin_webhook
    if ex(SEL_INBOX, (event_id,)).fetchone() is not None:
        ex("COMMIT")
        return  # duplicate delivery
    ex(INS_INBOX, (event_id, event_type, intent_id, now, flow_id))
    params = {
        "event_id": event_id,
        "object_kind": "payment_intent",
        "object_id": intent_id,
    }
    ex(
        INS_FLOW,
        (flow_id, "webhook", "fetch", now, json.dumps(params), now, WORKER, now + LEASE_MS),
    )
    ex(INS_AUDIT, (now, "flow", flow_id, None, "active", "create", None))
    ex(SEL_FLOW, (flow_id,)).fetchone()  # the run starts from the flow read here
    ex("COMMIT")  # (then the provider call: retrieve_intent)
    ex("BEGIN")  # the step's apply: the intent is succeeded, the payment already is
    flow = ex(SEL_FLOW, (flow_id,)).fetchone()
    payment = ex(SEL_PAYMENT_BY_INTENT, (intent_id,)).fetchone()
    if payment[P_STATUS] != "succeeded":
        raise BenchmarkError(f"sqlite: payment {payment[0]} is {payment[P_STATUS]}")
    _finish_flow(conn, flow, {"matched": True, "status": "succeeded"}, now)
    ex("COMMIT")


def sqlite_lifecycle(conn: sqlite3.Connection, i: int, now: int, sent: list[str]) -> None:
    """One lifecycle as SQL, transaction for transaction what paycore's store sees."""
    ex = conn.execute
    session = session_id(i)
    checkout_id = f"checkout:{session}"
    lease_until = now + LEASE_MS

    # --- create_payment_intent -------------------------------------------------------
    ex("BEGIN")  # checkout.begin: order, line, reservation, payment, flow, audit, stock
    if ex(SEL_ORDER_BY_SESSION, (session,)).fetchone() is not None:
        raise BenchmarkError(f"sqlite: session {session} reused")
    seller_id, sku, name, price, currency, deleted = ex(SEL_PRODUCT, (PRODUCT_ID,)).fetchone()
    account, charges_enabled = ex(SEL_SELLER, (seller_id,)).fetchone()
    if deleted or not charges_enabled:
        raise BenchmarkError("sqlite: product or seller unavailable")
    fingerprint = hashlib.sha256(f"{PRODUCT_ID}x1".encode()).hexdigest()
    (seq,) = ex(NEXT_SEQ, ("order",)).fetchone()
    order_id, payment_id = f"ord_{seq:06d}", f"pay_{seq:06d}"
    expires = now + RESERVATION_TTL_MS
    on_hand, held, committed, stock_version = ex(SEL_STOCK, (sku,)).fetchone()
    if on_hand - held - committed < 1:
        raise BenchmarkError(f"sqlite: out of stock at lifecycle {i}")
    _write(conn, UPD_STOCK, (1, 0, sku, stock_version))
    reservation_id = f"{order_id}/0"
    ex(INS_RESERVATION, (reservation_id, order_id, sku, 1, expires))
    ex(INS_AUDIT, (now, "reservation", reservation_id, None, "held", "create", None))
    ex(
        INS_ORDER,
        (order_id, session, seller_id, price, currency, fingerprint, payment_id, now, expires),
    )
    ex(INS_ORDER_LINE, (order_id, 0, PRODUCT_ID, sku, seller_id, name, price, currency, 1))
    ex(INS_AUDIT, (now, "order", order_id, None, "pending", "create", None))
    ex(INS_PAYMENT, (payment_id, order_id, session, account, price, currency, now, checkout_id))
    ex(INS_AUDIT, (now, "payment", payment_id, None, "creating", "create", None))
    params = {
        "session_id": session,
        "order_id": order_id,
        "payment_id": payment_id,
        "seller_id": seller_id,
        "account": account,
        "amount": price,
        "currency": currency,
    }
    ex(
        INS_FLOW,
        (
            checkout_id,
            "checkout",
            "check_seller",
            now,
            json.dumps(params),
            now,
            WORKER,
            lease_until,
        ),
    )
    ex(INS_AUDIT, (now, "flow", checkout_id, None, "active", "create", None))
    ex(SEL_FLOW, (checkout_id,)).fetchone()  # the run starts from the flow read here
    ex("COMMIT")  # (then the provider call: can_charge)
    ex("BEGIN")  # apply can_charge: -> create
    flow = ex(SEL_FLOW, (checkout_id,)).fetchone()
    ex(SEL_SELLER, (seller_id,)).fetchone()
    _write(
        conn,
        UPD_FLOW_STEP,
        ("create", "{}", now, WORKER, lease_until, checkout_id, flow[F_VERSION]),
    )
    ex("COMMIT")  # the run goes on from what it committed (provider call: create_intent)
    intent_id = f"pi_{seq:06d}"
    ex("BEGIN")  # apply create_intent: adopt the intent, unlock the payment, finish
    flow = ex(SEL_FLOW, (checkout_id,)).fetchone()
    payment = ex(SEL_PAYMENT, (payment_id,)).fetchone()
    version = payment[P_VERSION]
    _write(
        conn,
        UPD_PAYMENT_STATUS,
        (
            "open",
            intent_id,
            f"{intent_id}_secret_{seq}",
            "requires_payment_method",
            None,
            0,
            payment_id,
            version,
        ),
    )
    ex(INS_AUDIT, (now, "payment", payment_id, "creating", "open", "intent_created", checkout_id))
    _write(conn, UPD_PAYMENT_LOCK, (None, payment[P_ATTEMPTS], payment_id, version + 1))
    _finish_flow(conn, flow, {"order_id": order_id, "payment_id": payment_id}, now)
    ex("COMMIT")
    _read_payment(conn, payment_id)  # the CheckoutResult

    # --- confirm_payment ---------------------------------------------------------------
    ex("BEGIN")  # begin_confirm: claim the payment, record the flow
    payment = ex(SEL_PAYMENT, (payment_id,)).fetchone()
    if payment[P_STATUS] != "open" or payment[P_LOCK] is not None:
        raise BenchmarkError(f"sqlite: payment {payment_id} not confirmable")
    attempt = payment[P_ATTEMPTS] + 1
    confirm_id = f"confirm:{payment_id}:{attempt}"
    _write(conn, UPD_PAYMENT_LOCK, (confirm_id, attempt, payment_id, payment[P_VERSION]))
    params = {
        "payment_id": payment_id,
        "intent_id": payment[P_INTENT],
        "payment_method": PAYMENT_METHOD,
        "return_url": None,
    }
    ex(INS_FLOW, (confirm_id, "confirm", "call", now, json.dumps(params), now, WORKER, lease_until))
    ex(INS_AUDIT, (now, "flow", confirm_id, None, "active", "create", None))
    ex(SEL_FLOW, (confirm_id,)).fetchone()  # the run starts from the flow read here
    ex("COMMIT")  # (then the provider call: confirm_intent)
    ex("BEGIN")  # apply confirm: unlock, succeed, commit stock, pay order, outbox, finish
    flow = ex(SEL_FLOW, (confirm_id,)).fetchone()
    payment = ex(SEL_PAYMENT, (payment_id,)).fetchone()
    version = payment[P_VERSION]
    _write(conn, UPD_PAYMENT_LOCK, (None, payment[P_ATTEMPTS], payment_id, version))
    _write(
        conn,
        UPD_PAYMENT_STATUS,
        (
            "succeeded",
            intent_id,
            f"{intent_id}_secret_{seq}",
            "succeeded",
            None,
            payment[P_AMOUNT],
            payment_id,
            version + 1,
        ),
    )
    ex(INS_AUDIT, (now, "payment", payment_id, "open", "succeeded", "succeed", confirm_id))
    order_status, order_version = ex(SEL_ORDER, (order_id,)).fetchone()
    if order_status != "pending":
        raise BenchmarkError(f"sqlite: order {order_id} is {order_status}")
    for rid, rsku, quantity, rstatus, rversion in ex(SEL_RESERVATIONS, (order_id,)).fetchall():
        if rstatus != "held":
            raise BenchmarkError(f"sqlite: reservation {rid} is {rstatus}")
        _write(conn, UPD_RESERVATION, ("committed", rid, rversion))
        ex(INS_AUDIT, (now, "reservation", rid, "held", "committed", "commit", confirm_id))
        stock_version = ex(SEL_STOCK, (rsku,)).fetchone()[3]
        _write(conn, UPD_STOCK, (-quantity, quantity, rsku, stock_version))
    _write(conn, UPD_ORDER, ("paid", order_id, order_version))
    ex(INS_AUDIT, (now, "order", order_id, "pending", "paid", "pay", confirm_id))
    message_id = f"{order_id}:order_paid"
    if ex(SEL_OUTBOX, (message_id,)).fetchone() is None:
        ex(INS_OUTBOX, (message_id, order_id, "order_paid", now, json.dumps({"amount": price})))
    ex(SEL_PAYMENT, (payment_id,)).fetchone()  # _release: the lock is already gone
    _finish_flow(
        conn, flow, {"payment_id": payment_id, "status": "succeeded", "next_action_url": None}, now
    )
    ex("COMMIT")
    _dispatch_outbox(conn, sent)  # only when the lifecycle queued one: after confirm
    _read_payment(conn, payment_id)  # the PaymentResult

    # --- the two webhook events ------------------------------------------------------
    _sqlite_webhook(conn, f"evt_{2 * seq - 1:06d}", "payment_intent.created", intent_id, now, sent)
    _sqlite_webhook(conn, f"evt_{2 * seq:06d}", "payment_intent.succeeded", intent_id, now, sent)


def sqlite_lifecycles(conn: sqlite3.Connection, first: int, n: int, sent: list[str]) -> None:
    for i in range(first, first + n):
        sqlite_lifecycle(conn, i, EPOCH_MS, sent)


def _sqlite_counts(conn: sqlite3.Connection) -> tuple[int, int, int, int]:
    def one(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0])

    return (
        one("SELECT COUNT(*) FROM orders"),
        one("SELECT COUNT(*) FROM orders WHERE status = 'paid'"),
        one("SELECT COUNT(*) FROM payments WHERE status = 'succeeded'"),
        one("SELECT COUNT(*) FROM inbox"),
    )


@contextmanager
def _database(directory: Path | None) -> Iterator[Path]:
    if directory is not None:
        yield directory / f"bench-{time.monotonic_ns()}.sqlite3"
        return
    with tempfile.TemporaryDirectory(prefix="paycore-bench-") as tmp:
        yield Path(tmp) / "bench.sqlite3"


def measure_sqlite(
    lifecycles: int, warmup: int = DEFAULT_WARMUP, directory: Path | None = None
) -> Measurement:
    """Time ``lifecycles`` SQL lifecycles on a fresh file database (in a temp directory)."""
    with _database(directory) as path:
        conn = sqlite_shop(path, stock=lifecycles + warmup)
        try:
            sent: list[str] = []
            sqlite_lifecycles(conn, 0, warmup, sent)
            before = _sqlite_counts(conn)
            seconds = _timed(lambda: sqlite_lifecycles(conn, warmup, lifecycles, sent))
            after = _sqlite_counts(conn)
            if len(sent) != lifecycles + warmup:
                raise BenchmarkError(f"sqlite: {len(sent)} notifications sent")
        finally:
            conn.close()
    created, paid, succeeded, handled = (a - b for a, b in zip(after, before, strict=True))
    return Measurement("sqlite", lifecycles, seconds, created, paid, succeeded, handled)


# --- store-work census (untimed) -------------------------------------------------------


@dataclass(frozen=True)
class Census:
    """Store work per lifecycle: transactions (and how many wrote), reads, inserts, updates."""

    transactions: float
    write_transactions: float
    reads: float
    inserts: float
    updates: float
    sequences: float = 0.0  # paycore next_seq calls (SQLite: one UPDATE, audit uses rowid)


class _CountingTx:
    """A Transaction that counts what paycore asks of the store."""

    def __init__(self, tx: Transaction, counts: Counter[str]) -> None:
        self._tx, self._counts = tx, counts

    def get(self, table: Table[T], key: str) -> T | None:
        self._counts["reads"] += 1
        return self._tx.get(table, key)

    def find(self, table: Table[T], field: str, value: object) -> list[T]:
        self._counts["reads"] += 1
        return self._tx.find(table, field, value)

    def scan(self, table: Table[T]) -> Iterator[T]:
        self._counts["reads"] += 1
        return self._tx.scan(table)

    def insert(self, table: Table[T], record: T) -> None:
        self._counts["inserts"] += 1
        self._tx.insert(table, record)

    def update(self, table: Table[T], record: T) -> None:
        self._counts["updates"] += 1
        self._tx.update(table, record)

    def next_seq(self, name: str) -> int:
        self._counts["sequences"] += 1
        return self._tx.next_seq(name)

    def __getattr__(self, name: str) -> Any:  # anything the port gains later: uncounted
        return getattr(self._tx, name)


class _CountingStore:
    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.counts: Counter[str] = Counter()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self.inner.transaction() as tx:
            writes = self.counts["inserts"] + self.counts["updates"]
            yield _CountingTx(tx, self.counts)
            if self.counts["inserts"] + self.counts["updates"] > writes:
                self.counts["write_transactions"] += 1

    def snapshot(self) -> Snapshot:
        return self.inner.snapshot()


def census_paycore(lifecycles: int = 5, warmup: int = 2) -> Census:
    """Count paycore's store traffic per lifecycle (after ``warmup`` lifecycles)."""
    clock, inner = ManualClock(), MemoryStore()
    store, provider = _CountingStore(inner), FakeProvider(clock)
    svc = PaymentService(store, provider, clock, RecordingAlerts(), RecordingNotifier())
    _stock_shop(svc, provider, lifecycles + warmup)
    paycore_lifecycles(svc, provider, 0, warmup)
    commits, counts = inner.stats["commits"], Counter(store.counts)
    paycore_lifecycles(svc, provider, warmup, lifecycles)
    c = store.counts - counts
    return Census(
        (inner.stats["commits"] - commits) / lifecycles,
        c["write_transactions"] / lifecycles,
        c["reads"] / lifecycles,
        c["inserts"] / lifecycles,
        c["updates"] / lifecycles,
        c["sequences"] / lifecycles,
    )


def census_sqlite(lifecycles: int = 5, warmup: int = 2, directory: Path | None = None) -> Census:
    """Count the SQL lifecycle's statements (via the trace callback) per lifecycle."""
    counts: Counter[str] = Counter()
    pending = [False]  # the open transaction has written

    def trace(statement: str) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        counts[verb] += 1
        if verb in ("INSERT", "UPDATE", "DELETE"):
            pending[0] = True
        elif verb == "COMMIT":
            counts["WRITE_COMMIT"] += pending[0]
            pending[0] = False

    with _database(directory) as path:
        conn = sqlite_shop(path, stock=lifecycles + warmup)
        try:
            sent: list[str] = []
            sqlite_lifecycles(conn, 0, warmup, sent)
            conn.set_trace_callback(trace)
            sqlite_lifecycles(conn, warmup, lifecycles, sent)
            conn.set_trace_callback(None)
        finally:
            conn.close()
    if counts["BEGIN"] != counts["COMMIT"]:
        raise BenchmarkError(f"sqlite: {counts['BEGIN']} BEGIN but {counts['COMMIT']} COMMIT")
    return Census(
        counts["COMMIT"] / lifecycles,
        counts["WRITE_COMMIT"] / lifecycles,
        counts["SELECT"] / lifecycles,
        counts["INSERT"] / lifecycles,
        counts["UPDATE"] / lifecycles,
    )


# --- the run ---------------------------------------------------------------------------

MEASURES: dict[str, Callable[[int, int], Measurement]] = {
    "paycore": measure_paycore,
    "bare": measure_bare,
    "sqlite": measure_sqlite,
}


@dataclass
class Report:
    lifecycles: int
    repeats: int
    warmup: int
    runs: dict[str, list[Measurement]]
    census: dict[str, Census]

    def best(self, kind: str) -> Measurement:
        return min(self.runs[kind], key=lambda m: m.seconds)

    @property
    def ratio_sqlite(self) -> float:
        return self.best("paycore").rate / self.best("sqlite").rate

    @property
    def ratio_bare(self) -> float:
        return self.best("paycore").rate / self.best("bare").rate

    @property
    def model_matches(self) -> bool:
        p, q = self.census["paycore"], self.census["sqlite"]
        return (p.transactions, p.write_transactions) == (q.transactions, q.write_transactions)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "lifecycles": self.lifecycles,
            "repeats": self.repeats,
            "warmup_per_measurement": self.warmup,
            "python_version": platform.python_version(),
            "sqlite_version": sqlite3.sqlite_version,
            "machine": platform.platform(),
        }
        for kind in KINDS:
            best = self.best(kind)
            out[kind] = {
                "label": LABELS[kind],
                "lifecycles": best.lifecycles,
                "best_seconds": best.seconds,
                "lifecycles_per_second": best.rate,
                "mean_us_per_lifecycle": best.us_per_lifecycle,
                "all_seconds": [m.seconds for m in self.runs[kind]],
                "commits_per_lifecycle": best.commits_per_lifecycle,  # timed run (paycore)
                "transactions_per_lifecycle": (
                    self.census[kind].transactions if kind in self.census else None
                ),
                "store_work_per_lifecycle": (
                    asdict(self.census[kind]) if kind in self.census else None
                ),
            }
        out["paycore"]["safety_violations"] = self.best("paycore").violations
        out["commits_per_lifecycle"] = self.census["paycore"].transactions
        out["sqlite_transactions_per_lifecycle"] = self.census["sqlite"].transactions
        out["sqlite_model_matches_paycore"] = self.model_matches
        out["ratio_paycore_sqlite"] = self.ratio_sqlite
        out["ratio_paycore_bare"] = self.ratio_bare
        out["goal_paycore_sqlite"] = GOAL
        out["goal_met"] = self.ratio_sqlite >= GOAL
        return out


def run(lifecycles: int, repeats: int, warmup: int, progress: bool = False) -> Report:
    """Census, one discarded warm-up round, then ``repeats`` interleaved timed rounds."""
    census = {"paycore": census_paycore(), "sqlite": census_sqlite()}
    for kind in KINDS:  # warm-up round: imports, allocator, page cache; discarded
        MEASURES[kind](min(lifecycles, 200), warmup).check()
    runs: dict[str, list[Measurement]] = {k: [] for k in KINDS}
    for r in range(repeats):
        order = KINDS[r % len(KINDS) :] + KINDS[: r % len(KINDS)]  # rotate who goes first
        for kind in order:
            m = MEASURES[kind](lifecycles, warmup).check()
            runs[kind].append(m)
            if progress:
                print(f"  round {r + 1}/{repeats} {kind:<8} {m.seconds:8.3f} s", file=sys.stderr)
    return Report(lifecycles, repeats, warmup, runs, census)


def render(report: Report) -> str:
    lines = [
        f"paycore core throughput: {report.lifecycles} lifecycles per measurement, best of "
        f"{report.repeats} interleaved repeats, {report.warmup} warm-up lifecycles each",
        "lifecycle = create_payment_intent (1 line) + confirm (pm_card_visa) + 2 webhooks",
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"{platform.machine()}",
        "",
        f"{'':<28}{'lifecycles':>11}{'best s':>9}{'lifecycles/s':>14}{'us/lifecycle':>14}"
        f"{'tx/lifecycle':>14}   all repeats (s)",
    ]
    for kind in KINDS:
        best = report.best(kind)
        tx: float | None = report.census[kind].transactions if kind in report.census else None
        tx_text = "-" if tx is None else f"{tx:g}"
        runs = " ".join(f"{m.seconds:.3f}" for m in report.runs[kind])
        lines.append(
            f"{LABELS[kind]:<28}{best.lifecycles:>11}{best.seconds:>9.3f}{best.rate:>14,.0f}"
            f"{best.us_per_lifecycle:>14.1f}{tx_text:>14}   {runs}"
        )
    pc = report.best("paycore")
    lines += [
        "",
        f"commits per lifecycle (paycore MemoryStore.stats['commits'], timed run): "
        f"{pc.commits_per_lifecycle:g}",
        "store work per lifecycle      tx  (writing)   reads  inserts  updates  next_seq",
    ]
    for kind, label in (("paycore", "paycore MemoryStore"), ("sqlite", "sqlite3 statements")):
        c = report.census[kind]
        seqs = f"{c.sequences:g}" if kind == "paycore" else "(in UPDATE/rowid)"
        lines.append(
            f"  {label:<26}{c.transactions:>4g}{c.write_transactions:>11g}{c.reads:>8g}"
            f"{c.inserts:>9g}{c.updates:>9g}  {seqs}"
        )
    if not report.model_matches:
        lines.append(
            "  WARNING: the SQLite model's transactions differ from paycore's: update "
            "sqlite_lifecycle() so the comparison stays honest"
        )
    verdict = "PASS" if report.ratio_sqlite >= GOAL else "BELOW GOAL"
    bare = report.best("bare")
    lines += [
        f"paycore safety violations after the timed run: {pc.violations}",
        "",
        f"ratio paycore/sqlite: {report.ratio_sqlite:.2f}x  (goal >= {GOAL:.1f}x)  {verdict}",
        f"ratio paycore/bare:   {report.ratio_bare:.3f}x  (the price of safety: bare dicts are "
        f"{bare.rate / pc.rate:.1f}x faster)",
    ]
    return "\n".join(lines)


def profile(lifecycles: int, top: int = 30) -> str:
    """cProfile one paycore measurement; the top functions by cumulative and by own time."""
    w = paycore_shop(stock=lifecycles + DEFAULT_WARMUP)
    paycore_lifecycles(w.service, w.provider, 0, DEFAULT_WARMUP)
    prof = cProfile.Profile()
    prof.runcall(paycore_lifecycles, w.service, w.provider, DEFAULT_WARMUP, lifecycles)
    out = io.StringIO()
    for order in ("cumulative", "tottime"):
        out.write(f"\n=== paycore, {lifecycles} lifecycles, sorted by {order} (top {top}) ===\n")
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(order).print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--lifecycles", type=int, default=DEFAULT_LIFECYCLES, metavar="N")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, metavar="R")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, metavar="W")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--profile", action="store_true", help="cProfile paycore instead")
    args = parser.parse_args(argv)
    if args.lifecycles < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("--lifecycles and --repeats must be >= 1, --warmup >= 0")
    try:
        if args.profile:
            print(profile(args.lifecycles))
            return 0
        report = run(args.lifecycles, args.repeats, args.warmup, progress=not args.json)
    except BenchmarkError as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.as_json(), indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
