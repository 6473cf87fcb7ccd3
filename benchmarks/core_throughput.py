"""Full checkout lifecycles per second: paycore in memory vs the reference lifecycle on SQLite.

The baseline is the *reference lifecycle* (``shared/bench/reference_lifecycle.py``
beside this repository): the least SQL a careful engineer writes for one safe checkout,
7 write transactions and 21 statements on SQLite (WAL, ``synchronous=NORMAL``, as it
sets itself up). Its ``run()`` is imported and timed in the same run as paycore, so
machine noise hits both alike. The goal is paycore in memory at least 2x the
reference: the core's CPU budget, since the SQLite and PostgreSQL stores must reach
half the reference rate with the core's cost included.

A paycore lifecycle is: create a payment intent (a new checkout session, one cart
line), confirm it with ``pm_card_visa``, and handle the two webhook events the
provider sends for it (``payment_intent.created`` and ``payment_intent.succeeded``).

* **paycore** -- :class:`paycore.service.PaymentService` on the in-memory wiring
  (``paycore_adapters.memory.in_memory``: MemoryStore, FakeProvider, ManualClock).
  Real flows; invariants are checked once after the timed loop, never inside it.
  Store transactions per lifecycle come from ``MemoryStore.stats`` (commits, and
  those that wrote); statements are the store calls a SQL store would turn into one
  statement each (reads, inserts, updates, sequence numbers), counted by a wrapper.
* **reference** -- ``reference_lifecycle.run()`` on a fresh SQLite file.
* **bare dicts** -- the same bookkeeping with plain dicts and no safety at all: no
  transactions, audit, state machines, idempotency or inbox. paycore/bare is the
  price of safety.

The reference is found in ``../shared/bench`` relative to the repository, or in the
directory named by ``PAYCORE_REFERENCE_BENCH``.

Usage::

    .venv/bin/python benchmarks/core_throughput.py [--lifecycles N] [--json]
    .venv/bin/python benchmarks/core_throughput.py --profile   # cProfile of paycore

The exit code is 0 whether or not paycore meets the goal (paycore/reference >= 2.0);
it is 1 only when a measurement fails, does not complete its lifecycles, or the
reference cannot be found.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib.util
import io
import json
import os
import platform
import pstats
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.webhooks import ACTED_ON
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

GOAL = 2.0  # paycore lifecycles/s divided by the reference's on SQLite
DEFAULT_LIFECYCLES = 2000
DEFAULT_REPEATS = 3
DEFAULT_WARMUP = 50  # untimed lifecycles on each fresh paycore or bare instance

SELLER_ID, ACCOUNT = "s_bench", "acct_bench"
PRODUCT_ID, SKU, PRICE, CURRENCY = "p_mug", "SKU-MUG", 1250, "EUR"
PAYMENT_METHOD = "pm_card_visa"

#: Where the reference lifecycle lives: this directory, else ../shared/bench.
REFERENCE_ENV = "PAYCORE_REFERENCE_BENCH"
REFERENCE_FILE = "reference_lifecycle.py"
REFERENCE_SYNCHRONOUS = "NORMAL"

KINDS = ("paycore", "reference", "bare")
LABELS = {
    "paycore": "paycore (in memory)",
    "reference": "reference (SQLite, WAL)",
    "bare": "bare dicts (no safety)",
}


class BenchmarkError(RuntimeError):
    """A measurement failed or did not complete the lifecycles it was asked for."""


def session_id(i: int) -> str:
    """The checkout session of lifecycle ``i``."""
    return f"cs_bench_{i:012d}"


# --- the reference lifecycle -------------------------------------------------------------


def reference_dir() -> Path:
    """The directory of the reference lifecycle: ``$PAYCORE_REFERENCE_BENCH``, else the
    ``shared/bench`` directory beside the repository."""
    override = os.environ.get(REFERENCE_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "bench"


def load_reference(directory: Path | None = None) -> ModuleType:
    """Import ``reference_lifecycle.py``; a clear BenchmarkError when it is not there."""
    path = (directory or reference_dir()) / REFERENCE_FILE
    if not path.is_file():
        raise BenchmarkError(
            f"the reference lifecycle is not at {path}: put the shared bench directory "
            f"beside the repository (../shared/bench) or name its directory in "
            f"{REFERENCE_ENV}"
        )
    spec = importlib.util.spec_from_file_location("reference_lifecycle", path)
    if spec is None or spec.loader is None:
        raise BenchmarkError(f"cannot import the reference lifecycle from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Measurement:
    """One timed run of ``lifecycles`` lifecycles, and what it provably completed
    (``None``: the measurement does not report that figure)."""

    kind: str
    lifecycles: int
    seconds: float
    orders_created: int | None
    orders_paid: int
    payments_succeeded: int | None
    webhooks_handled: int | None
    commits: int | None = None  # store transactions committed in the timed loop (paycore)
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
        wrong = {
            k: got
            for k, want in expected.items()
            if (got := getattr(self, k)) is not None and got != want
        }
        if wrong:
            raise BenchmarkError(f"{self.kind}: {n} lifecycles asked, but got {wrong}")
        if self.violations:
            raise BenchmarkError(f"{self.kind}: {self.violations} safety invariants violated")
        return self


def measure_reference(
    lifecycles: int,
    warmup: int = 0,
    module: ModuleType | None = None,
    *,
    workers: int = 1,
    synchronous: str = REFERENCE_SYNCHRONOUS,
) -> Measurement:
    """Time ``lifecycles`` reference lifecycles on a fresh SQLite file (``warmup`` is
    ignored: the reference times its own loop, after its set-up), on ``workers`` threads
    with ``synchronous``. It counts the orders paid itself and fails unless every
    lifecycle paid one."""
    ref = module or load_reference()
    try:
        r = ref.run(lifecycles=lifecycles, workers=workers, synchronous=synchronous)
    except AssertionError as exc:
        raise BenchmarkError(f"reference: a lifecycle failed: {exc}") from None
    return Measurement(
        "reference",
        int(r["lifecycles"]),
        float(r["seconds"]),
        None,
        int(r["lifecycles"]),
        None,
        None,
    )


def timed(loop: Callable[[], None]) -> float:
    """Seconds ``loop()`` takes, after a full garbage collection."""
    gc.collect()
    start = time.perf_counter()
    loop()
    return time.perf_counter() - start


# --- (1) paycore ---------------------------------------------------------------------


def paycore_shop(stock: int) -> Wiring:
    """A fresh in-memory wiring with one seller, one product and ``stock`` units of it."""
    w = in_memory()
    stock_shop(w.service, w.provider, stock)
    return w


def products(skus: int = 1) -> list[tuple[str, str]]:
    """The shop's ``(product id, SKU)`` pairs: the mug, then ``skus - 1`` more."""
    more = [(f"{PRODUCT_ID}_{k}", f"{SKU}-{k}") for k in range(1, skus)]
    return [(PRODUCT_ID, SKU), *more]


def stock_shop(service: PaymentService, provider: FakeProvider, stock: int, skus: int = 1) -> None:
    """One seller whose account can charge, and ``skus`` products of ``stock`` units each."""
    provider.set_account(ACCOUNT)
    service.add_seller(SELLER_ID, "Bench Shop", ACCOUNT)
    for product_id, sku in products(skus):
        service.add_product(product_id, SELLER_ID, sku, "Mug", Money(PRICE, CURRENCY))
        service.restock(SELLER_ID, sku, stock)


def paycore_lifecycles(
    service: PaymentService, provider: FakeProvider, first: int, n: int, skus: int = 1
) -> None:
    """Run lifecycles ``first`` .. ``first + n - 1`` through the real service (lifecycle
    ``i`` buys one unit of product ``i % skus``)."""
    carts = [[CartItem(product_id, 1)] for product_id, _ in products(skus)]
    create, confirm = service.create_payment_intent, service.confirm_payment
    handle, take_events = service.handle_webhook, provider.take_events
    for i in range(first, first + n):
        created = create(session_id(i), carts[i % skus])
        confirm(created.payment_id, payment_method=PAYMENT_METHOD)
        for event in take_events():
            if event.type in ACTED_ON:  # what the endpoint subscribes to
                handle(event)


def paycore_counts(snap: Snapshot) -> tuple[int, int, int, int]:
    """(orders, orders paid, payments succeeded, webhook events taken in) in a snapshot."""
    orders = snap.rows(s.ORDERS)
    payments = snap.rows(s.PAYMENTS)
    return (
        len(orders),
        sum(o.status is OrderStatus.PAID for o in orders),
        sum(p.status is PaymentStatus.SUCCEEDED for p in payments),
        len(snap.rows(s.INBOX)),
    )


def unfinished_flows(snap: Snapshot) -> list[str]:
    """The flows a snapshot shows not succeeded: a measurement with any did not finish."""
    return [f.id for f in snap.rows(s.FLOWS) if f.status is not FlowStatus.SUCCEEDED]


def completed(
    before: tuple[int, int, int, int],
    snap: Snapshot,
    lifecycles: int,
    seconds: float,
    warm: int,
    violations: int,
) -> Measurement:
    """paycore's measurement of ``lifecycles`` timed lifecycles on a store: what the
    snapshot shows completed since ``before`` (``paycore_counts``), less ``warm``
    untimed ones."""
    after = paycore_counts(snap)
    created, paid, succeeded, handled = (a - b for a, b in zip(after, before, strict=True))
    return Measurement(
        "paycore",
        lifecycles,
        seconds,
        created - warm,
        paid - warm,
        succeeded - warm,
        handled - 2 * warm,
        violations=violations,
    )


def measure_paycore(lifecycles: int, warmup: int = DEFAULT_WARMUP) -> Measurement:
    """Time ``lifecycles`` paycore lifecycles on a fresh wiring (after ``warmup`` untimed)."""
    w = paycore_shop(stock=lifecycles + warmup)
    svc, provider = w.service, w.provider
    paycore_lifecycles(svc, provider, 0, warmup)
    before = paycore_counts(w.store.snapshot())
    commits = w.store.stats["commits"]
    seconds = timed(lambda: paycore_lifecycles(svc, provider, warmup, lifecycles))
    commits = w.store.stats["commits"] - commits
    after = paycore_counts(w.store.snapshot())
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
    seconds = timed(lambda: bare_lifecycles(shop, warmup, lifecycles))
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


# --- store work per lifecycle ------------------------------------------------------------


@dataclass(frozen=True)
class Census:
    """Store work per lifecycle: transactions (and how many wrote) and statements, the
    store calls a SQL store makes one statement each (reads, inserts, updates, sequence
    numbers)."""

    transactions: float
    write_transactions: float
    statements: float
    reads: float = 0.0
    inserts: float = 0.0
    updates: float = 0.0
    sequences: float = 0.0
    #: Exchanges with a database server (None: the store is in-process).
    round_trips: float | None = None


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
    """paycore's store work per lifecycle (after ``warmup`` lifecycles): transactions from
    ``MemoryStore.stats``, statements counted by a wrapper around the store."""
    clock, inner = ManualClock(), MemoryStore()
    store, provider = _CountingStore(inner), FakeProvider(clock)
    svc = PaymentService(store, provider, clock, RecordingAlerts(), RecordingNotifier())
    stock_shop(svc, provider, lifecycles + warmup)
    paycore_lifecycles(svc, provider, 0, warmup)
    stats, counts = dict(inner.stats), Counter(store.counts)
    paycore_lifecycles(svc, provider, warmup, lifecycles)
    c = store.counts - counts
    calls = ("reads", "inserts", "updates", "sequences")
    return Census(
        (inner.stats["commits"] - stats["commits"]) / lifecycles,
        (inner.stats["writes"] - stats["writes"]) / lifecycles,
        sum(c[k] for k in calls) / lifecycles,
        *(c[k] / lifecycles for k in calls),
    )


def census_reference(module: ModuleType | None = None) -> Census:
    """The reference's own figures for one lifecycle (every transaction writes)."""
    r = (module or load_reference()).run(lifecycles=1, workers=1, synchronous=REFERENCE_SYNCHRONOUS)
    tx = float(r["transactions_per_lifecycle"])
    return Census(tx, tx, float(r["statements_per_lifecycle"]))


# --- the run ---------------------------------------------------------------------------

MEASURES: dict[str, Callable[[int, int], Measurement]] = {
    "paycore": measure_paycore,
    "reference": measure_reference,
    "bare": measure_bare,
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
    def ratio_reference(self) -> float:
        return self.best("paycore").rate / self.best("reference").rate

    @property
    def ratio_bare(self) -> float:
        return self.best("paycore").rate / self.best("bare").rate

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "lifecycles": self.lifecycles,
            "repeats": self.repeats,
            "warmup_per_measurement": self.warmup,
            "python_version": platform.python_version(),
            "sqlite_version": sqlite3.sqlite_version,
            "machine": platform.platform(),
            "reference_path": str(reference_dir() / REFERENCE_FILE),
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
                "store_work_per_lifecycle": (
                    asdict(self.census[kind]) if kind in self.census else None
                ),
            }
        out["paycore"]["safety_violations"] = self.best("paycore").violations
        out["paycore"]["commits_per_lifecycle"] = self.best("paycore").commits_per_lifecycle
        out["transactions_per_lifecycle"] = self.census["paycore"].transactions
        out["statements_per_lifecycle"] = self.census["paycore"].statements
        out["ratio_paycore_reference"] = self.ratio_reference
        out["ratio_paycore_bare"] = self.ratio_bare
        out["goal_paycore_reference"] = GOAL
        out["goal_met"] = self.ratio_reference >= GOAL
        return out


def run(lifecycles: int, repeats: int, warmup: int, progress: bool = False) -> Report:
    """Census, one discarded warm-up round, then ``repeats`` interleaved timed rounds."""
    census = {"paycore": census_paycore(), "reference": census_reference()}
    for kind in KINDS:  # warm-up round: imports, allocator, page cache; discarded
        MEASURES[kind](min(lifecycles, 200), warmup).check()
    runs: dict[str, list[Measurement]] = {k: [] for k in KINDS}
    for r in range(repeats):
        order = KINDS[r % len(KINDS) :] + KINDS[: r % len(KINDS)]  # rotate who goes first
        for kind in order:
            m = MEASURES[kind](lifecycles, warmup).check()
            runs[kind].append(m)
            if progress:
                print(f"  round {r + 1}/{repeats} {kind:<9} {m.seconds:8.3f} s", file=sys.stderr)
    return Report(lifecycles, repeats, warmup, runs, census)


def render(report: Report) -> str:
    lines = [
        f"paycore core throughput: {report.lifecycles} lifecycles per measurement, best of "
        f"{report.repeats} interleaved repeats",
        "paycore lifecycle = create_payment_intent (1 line) + confirm (pm_card_visa) + 2 webhooks",
        f"reference lifecycle = {reference_dir() / REFERENCE_FILE} "
        f"(SQLite WAL, synchronous={REFERENCE_SYNCHRONOUS})",
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"{platform.machine()}",
        "",
        f"{'':<26}{'lifecycles':>11}{'best s':>9}{'lifecycles/s':>14}{'us/lifecycle':>14}"
        f"{'tx':>6}{'statements':>12}   all repeats (s)",
    ]
    for kind in KINDS:
        best = report.best(kind)
        c = report.census.get(kind)
        tx, st = ("-", "-") if c is None else (f"{c.transactions:g}", f"{c.statements:g}")
        runs = " ".join(f"{m.seconds:.3f}" for m in report.runs[kind])
        lines.append(
            f"{LABELS[kind]:<26}{best.lifecycles:>11}{best.seconds:>9.3f}{best.rate:>14,.0f}"
            f"{best.us_per_lifecycle:>14.1f}{tx:>6}{st:>12}   {runs}"
        )
    pc, c = report.best("paycore"), report.census["paycore"]
    verdict = "PASS" if report.ratio_reference >= GOAL else "BELOW GOAL"
    bare = report.best("bare")
    lines += [
        "",
        f"paycore per lifecycle: {c.transactions:g} store transactions "
        f"({c.write_transactions:g} writing, from MemoryStore.stats), {c.statements:g} "
        f"statements ({c.reads:g} reads, {c.inserts:g} inserts, {c.updates:g} updates, "
        f"{c.sequences:g} sequence numbers)",
        f"paycore safety violations after the timed run: {pc.violations}",
        "",
        f"ratio paycore/reference: {report.ratio_reference:.2f}x  (goal >= {GOAL:.1f}x)  {verdict}",
        f"ratio paycore/bare:      {report.ratio_bare:.3f}x  (the price of safety: bare dicts "
        f"are {bare.rate / pc.rate:.1f}x faster)",
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
