"""One janitor pass over a small and a big store, with the same stale work waiting in each.

The janitor (``PaymentService.run_janitor``, :func:`paycore.jobs.janitor`) ends every
pending order whose reservation ran out: it starts a cancel flow for each, which
cancels the intent at the provider and only then puts the held stock back. Its work
is the stale orders; the finished ones around them should cost it nothing. So a pass
is timed over 10,000 and over 1,000,000 finished orders with the same 100 stale ones
waiting in each, on SQLite; the goal is the two times within 2x of each other.

How a store is built:

* **finished orders** -- one real lifecycle (create, confirm with ``pm_card_visa``, the
  two webhooks, as :mod:`core_throughput`'s) runs through the service first. The rows
  it wrote (order, reservation, payment, flows, audit, outbox, inbox), turned into
  column values by the store's own row mapping (``paycore_adapters.sql.columns``), are
  the template: copy ``i`` replaces the template's ids with its own (order and payment
  ``i``, its session, intent, reference and events; audit rows shifted by ``i`` times
  the lifecycle's audit count) and goes in with ``executemany`` and each table's own
  INSERT (``TableSql.insert``), in one transaction on the store's connection (two for
  the biggest store: up to 100,000 orders, where the invariants are timed, then the
  rest). The sequences and the stock row are moved on as that many lifecycles would
  have moved them, so the big store is one paycore would have written, only faster.
* **stale orders** -- 100 real checkouts through the service (their webhooks handled),
  then the clock moves past their reservation time: pending, expired, stock held.

Both stores are built first (the bulk write's log checkpointed into the file, as SQLite's
automatic checkpoints would have done along the way) and kept open; then each round
makes 100 new stale orders in each store and times one pass on each, the order rotating
every round, so machine noise (other work on the machine's cores and disk) hits both
sizes alike; the best pass per size is kept. After each pass every stale order must
have been ended (its flow started, the order no longer pending, its stock no longer
held). The statements of a first, untimed pass are traced, and any that scans a table
rather than searching an index is listed with its query plan: a janitor that grows
with the table shows where.

Also timed: :func:`paycore.invariants.check` (the safety invariants) on a snapshot of
the biggest store when it holds 100,000 orders (all of a million would be some 19
million records in memory), given per 100,000 orders: the first figure for a future
``paycore check``. Taking the snapshot (reading every row into records) is timed
apart from the check.

Usage::

    .venv/bin/python benchmarks/janitor_scaling.py [--sizes 10000,1000000] [--stale 100]
        [--repeats 5] [--synchronous FULL|NORMAL] [--json]

The exit code is 0 whether or not the goal is met; it is 1 only when a measurement
fails (a pass does not end its stale orders, a store cannot be built).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import attrs
from core_throughput import (
    PRODUCT_ID,
    BenchmarkError,
    paycore_lifecycles,
    session_id,
    stock_shop,
    timed,
)

from paycore import schema as s
from paycore.config import Config
from paycore.flows.checkout import CartItem
from paycore.invariants import check
from paycore.status import OrderStatus
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.columns import MAPS
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.sql.sqlite_tx import sqlite_sql

GOAL = 2.0  # the big store's pass may take at most this many times the small one's
DEFAULT_SIZES = (10_000, 1_000_000)
DEFAULT_STALE = 100
DEFAULT_REPEATS = 5
CHECK_PER = 100_000  # the invariants' time is given per this many orders
CHUNK = 5_000  # finished lifecycles written per executemany round
#: Tables keyed by a sequence number, and the sequence that numbers them.
SEQUENCED = {s.AUDIT.name: "audit", s.STOCK_MOVEMENTS.name: "stock"}


def load_average() -> str:
    """The machine's load over the last 1, 5 and 15 minutes (as ``uptime`` shows it)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the template: the rows one real lifecycle writes --------------------------------------


@dataclass
class Template:
    """The rows one finished lifecycle wrote, as column values, and how copy ``n`` of it
    differs: the template's ids, each with the id copy ``n`` gets instead."""

    seq: int  # the template's order sequence number
    rows: dict[str, list[tuple[Any, ...]]]
    ids: dict[str, Callable[[int], str]]
    #: How far one lifecycle moved each sequence, and where it stood before the template.
    steps: dict[str, int]
    start: dict[str, int]
    #: How one lifecycle changed each stock row's counters (stock key -> field -> delta).
    stock: dict[str, dict[str, int]]


def take_template(w: Wiring, store: SQLiteStore) -> Template:
    """Run one real lifecycle and keep what it wrote (see the module's docstring)."""
    w.service.installation_id()  # created on first use: not part of a lifecycle
    before, seqs = store.snapshot(), store.sequences()
    paycore_lifecycles(w.service, w.provider, 0, 1)
    after, steps = store.snapshot(), store.sequences()
    rows: dict[str, list[tuple[Any, ...]]] = {}
    added: dict[str, list[Any]] = {}
    stock: dict[str, dict[str, int]] = {}
    for table in s.TABLES:
        old, new = before.tables[table.name], after.tables[table.name]
        changed = [k for k in old if new.get(k) != old[k]]
        if table is s.STOCK:
            stock = {k: _stock_delta(old[k], new[k]) for k in changed}
        elif changed:
            raise BenchmarkError(f"the template lifecycle changed rows of {table.name}")
        added[table.name] = [rec for k, rec in new.items() if k not in old]
        if added[table.name]:
            rows[table.name] = [MAPS[table.name].row(rec) for rec in added[table.name]]
    (order,) = added[s.ORDERS.name]
    (payment,) = added[s.PAYMENTS.name]
    ids: dict[str, Callable[[int], str]] = {
        order.id: lambda n: f"ord_{n:06d}",
        payment.id: lambda n: f"pay_{n:06d}",
        order.checkout_session_id: session_id,
        str(payment.provider_intent_id): lambda n: f"pi_bulk_{n:07d}",
    }
    if payment.reference is not None:
        ids[payment.reference] = lambda n: f"pref_bulk_{n:015d}"
    for k, event in enumerate(added[s.INBOX.name]):
        ids[event.event_id] = lambda n, k=k: f"evt_bulk_{n:07d}_{k}"  # type: ignore[misc]
    seq = int(order.id.removeprefix("ord_"))
    moved = {name: v - seqs.get(name, 0) for name, v in steps.items() if v != seqs.get(name, 0)}
    return Template(seq, rows, ids, moved, seqs, stock)


def _stock_delta(old: Any, new: Any) -> dict[str, int]:
    return {f: getattr(new, f) - getattr(old, f) for f in ("on_hand", "held", "committed")}


# --- building a big store fast ------------------------------------------------------------


def _plans(template: Template) -> dict[str, list[tuple[tuple[Any, ...], list[Any]]]]:
    """Per table, each template row with what changes in its copies: ``(column, ids in
    it)`` for text columns holding template ids, ``(column, step)`` for a sequence key."""
    plans: dict[str, list[tuple[tuple[Any, ...], list[Any]]]] = {}
    for name, rows in template.rows.items():
        m = MAPS[name]
        key = m.column_names.index(m.key_column)
        step = template.steps.get(SEQUENCED.get(name, ""), 0)
        plans[name] = []
        for row in rows:
            plan: list[Any] = []
            for col, value in enumerate(row):
                if col == key and name in SEQUENCED:
                    plan.append((col, step))
                elif isinstance(value, str):
                    found = tuple(old for old in template.ids if old in value)
                    if found:
                        plan.append((col, found))
            plans[name].append((row, plan))
    return plans


def _copies(
    template: Template, plans: dict[str, list[tuple[tuple[Any, ...], list[Any]]]], ns: range
) -> dict[str, list[list[Any]]]:
    """The rows of copies ``ns``, per table."""
    out: dict[str, list[list[Any]]] = {name: [] for name in plans}
    ids = list(template.ids.items())
    for n in ns:
        new = {old: make(n) for old, make in ids}
        shift = n - template.seq
        for name, rows in plans.items():
            buf = out[name]
            for row, plan in rows:
                r = list(row)
                for col, what in plan:
                    if isinstance(what, int):
                        r[col] += shift * what
                        continue
                    v = r[col]
                    for old in what:
                        v = v.replace(old, new[old])
                    r[col] = v
                buf.append(r)
    return out


def bulk_finished(store: SQLiteStore, template: Template, have: int, orders: int) -> None:
    """Write finished lifecycles until the store holds ``orders`` of them rather than
    ``have`` (the template's included), in one transaction on the store's connection,
    moving the sequences and stock rows on as that many lifecycles would have."""
    plans = _plans(template)
    inserts = {name: sqlite_sql(MAPS[name].table).insert for name in plans}
    extra = orders - have
    conn = store.connection()
    conn.execute("BEGIN IMMEDIATE")
    try:
        first, last = template.seq + have, template.seq + orders - 1
        for lo in range(first, last + 1, CHUNK):
            batch = _copies(template, plans, range(lo, min(lo + CHUNK, last + 1)))
            for name, rows in batch.items():
                conn.executemany(inserts[name], rows)
        for name, step in template.steps.items():
            conn.execute(
                "UPDATE paycore_sequences SET value = ? WHERE name = ?",
                (template.start.get(name, 0) + step * orders, name),
            )
        _move_stock(conn, store, template, extra)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _move_stock(conn: sqlite3.Connection, store: SQLiteStore, template: Template, n: int) -> None:
    sql = sqlite_sql(s.STOCK)
    for key, delta in template.stock.items():
        row = conn.execute(sql.select, (key,)).fetchone()
        old = sql.map.record(row)
        changes = {f: getattr(old, f) + d * n for f, d in delta.items()}
        new = attrs.evolve(old, **changes, version=old.version + 1)
        if conn.execute(sql.update, (*sql.map.row(new), key, old.version)).rowcount != 1:
            raise BenchmarkError(f"the stock row {key} changed while the store was built")


# --- stale orders and the janitor's pass -------------------------------------------------


def make_stale(w: Wiring, count: int, round_: int) -> list[str]:
    """``count`` real checkouts (webhooks handled), then the clock past their reservation
    time: pending orders, expired, with their stock held. Their order ids."""
    cart = [CartItem(PRODUCT_ID, 1)]
    create = w.service.create_payment_intent
    orders = [create(f"cs_stale_{round_:03d}_{k:05d}", cart).order_id for k in range(count)]
    for event in w.provider.take_events():
        w.service.handle_webhook(event)
    w.clock.advance(w.service.config.reservation_ttl_ms + 1)
    return orders


@dataclass(frozen=True)
class Pass:
    """One janitor pass: how long it took, the flows it started, and (when traced) how
    many statements it ran."""

    seconds: float
    started: int
    statements: int | None = None


def janitor_pass(
    w: Wiring, store: SQLiteStore, stale: list[str], trace: bool
) -> tuple[Pass, list[str]]:
    """Time one pass; fail unless it ended every stale order. With ``trace``, the SQL it
    ran on the store's connection (the tracing costs a little time)."""
    conn = store.connection()
    seen: list[str] = []
    started: list[int] = []
    if trace:
        conn.set_trace_callback(seen.append)
    try:
        seconds = timed(lambda: started.append(w.service.run_janitor()))
    finally:
        conn.set_trace_callback(None)
    still = [
        o
        for o in stale
        if (order := w.service.order(o)) is None or order.status is OrderStatus.PENDING
    ]
    with store.transaction() as tx:
        held = sum(st.held for st in tx.scan(s.STOCK))
    if started[0] != len(stale) or still or held:
        raise BenchmarkError(
            f"a janitor pass started {started[0]} flows for {len(stale)} stale orders, left "
            f"{len(still)} pending and {held} units held"
        )
    return Pass(seconds, started[0], len(seen) if trace else None), seen


_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+\b")


def scanning(conn: sqlite3.Connection, statements: list[str]) -> dict[str, list[str]]:
    """The traced statements (literals shown as ``?``) whose query plan scans a table
    rather than searching an index, each with its plan."""
    samples: dict[str, str] = {}
    for sql in statements:
        samples.setdefault(_LITERAL.sub("?", sql), sql)
    out: dict[str, list[str]] = {}
    for shape, sql in samples.items():
        if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT")):
            continue
        plan = [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        if any(p.startswith("SCAN ") and p != "SCAN CONSTANT ROW" for p in plan):
            out[shape] = plan
    return out


# --- the invariants on a snapshot --------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """``paycore.invariants.check`` (safety) on one snapshot of ``orders`` finished orders."""

    orders: int
    snapshot_seconds: float
    check_seconds: float
    violations: int

    @property
    def per_100k(self) -> float:
        return self.check_seconds * CHECK_PER / self.orders

    @property
    def snapshot_per_100k(self) -> float:
        return self.snapshot_seconds * CHECK_PER / self.orders


def time_check(w: Wiring, store: SQLiteStore, orders: int) -> Checked:
    start = time.perf_counter()
    snap = store.snapshot()
    taken = time.perf_counter() - start
    ledger = w.ledger()
    found: list[int] = []
    seconds = timed(lambda: found.append(len(check(snap, ledger, ("safety",)))))
    return Checked(orders, taken, seconds, found[0])


# --- one size, and the run ---------------------------------------------------------------


@dataclass
class Size:
    """The passes over one store of ``orders`` finished orders."""

    orders: int
    build_seconds: float
    file_mb: float
    traced: Pass
    passes: list[Pass]
    scans: dict[str, list[str]]

    @property
    def best(self) -> Pass:
        return min(self.passes, key=lambda p: p.seconds)


@contextmanager
def fresh_store(synchronous: str) -> Iterator[SQLiteStore]:
    with tempfile.TemporaryDirectory(prefix="paycore-janitor-") as d:
        store = SQLiteStore(Path(d) / "paycore.db", synchronous=synchronous, migrate=True)
        try:
            yield store
        finally:
            store.close()


@dataclass
class Built:
    """A store of ``orders`` finished orders, ready for passes."""

    orders: int
    store: SQLiteStore
    w: Wiring
    build_seconds: float


def build(
    stack: ExitStack, orders: int, stock: int, synchronous: str, check_at: int | None
) -> tuple[Built, Checked | None]:
    """A store of ``orders`` finished orders (timing the invariants on the way, when it
    holds ``check_at``), its write-ahead log checkpointed into the file and emptied, as
    SQLite's automatic checkpoints would have done along the way."""
    store = stack.enter_context(fresh_store(synchronous))
    w = in_memory(store=store)
    stock_shop(w.service, w.provider, orders + stock)
    template = take_template(w, store)
    checked, have, seconds = None, 1, 0.0
    for target in sorted({min(check_at or orders, orders), orders}):
        start = time.perf_counter()
        bulk_finished(store, template, have, target)
        seconds, have = seconds + time.perf_counter() - start, target
        if target == check_at:
            checked = time_check(w, store, target)
    store.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Built(orders, store, w, seconds), checked


def measure_sizes(
    sizes: list[int],
    stale: int,
    repeats: int,
    synchronous: str,
    check_at: int | None = None,
    progress: bool = False,
) -> tuple[list[Size], Checked | None]:
    """Build a store per size (the invariants timed in the biggest, at ``check_at``
    orders), then a traced warm-up pass on each and ``repeats`` rounds of one timed pass
    on each, interleaved (who goes first rotates), each over ``stale`` new stale orders:
    machine noise hits every size alike."""
    with ExitStack() as stack:
        built: list[Built] = []
        checked = None
        for orders in sizes:
            at = check_at if orders == sizes[-1] else None
            b, found = build(stack, orders, stale * (repeats + 1) + 1, synchronous, at)
            built.append(b)
            checked = found or checked
            if progress:
                print(f"  {orders:>10,} orders built in {b.build_seconds:.1f} s", file=sys.stderr)
        traced = [janitor_pass(b.w, b.store, make_stale(b.w, stale, 0), trace=True) for b in built]
        passes: list[list[Pass]] = [[] for _ in built]
        for r in range(1, repeats + 1):
            for i in [*range(r % len(built), len(built)), *range(r % len(built))]:
                b = built[i]
                timed_pass = janitor_pass(b.w, b.store, make_stale(b.w, stale, r), trace=False)
                passes[i].append(timed_pass[0])
                if progress:
                    print(
                        f"  round {r}: {b.orders:>10,} orders {passes[i][-1].seconds:.3f} s",
                        file=sys.stderr,
                    )
        out = [
            Size(
                b.orders,
                b.build_seconds,
                b.store.path.stat().st_size / 1e6,
                pass_,
                passes[i],
                scanning(b.store.connection(), statements),
            )
            for i, (b, (pass_, statements)) in enumerate(zip(built, traced, strict=True))
        ]
    return out, checked


@dataclass
class Report:
    stale: int
    repeats: int
    synchronous: str
    sizes: list[Size]
    checked: Checked | None

    @property
    def ratio(self) -> float:
        """The biggest store's best pass over the smallest's."""
        return self.sizes[-1].best.seconds / self.sizes[0].best.seconds

    @property
    def met(self) -> bool:
        return self.ratio <= GOAL

    def as_json(self) -> dict[str, Any]:
        return {
            "stale": self.stale,
            "repeats": self.repeats,
            "synchronous": self.synchronous,
            "python_version": platform.python_version(),
            "sqlite_version": sqlite3.sqlite_version,
            "machine": platform.platform(),
            "load_average": os.getloadavg(),
            "sizes": [
                {
                    "orders": z.orders,
                    "build_seconds": z.build_seconds,
                    "file_mb": z.file_mb,
                    "best_pass_seconds": z.best.seconds,
                    "all_pass_seconds": [p.seconds for p in z.passes],
                    "flows_started_per_pass": z.best.started,
                    "statements_per_pass": z.traced.statements,
                    "scanning_statements": z.scans,
                }
                for z in self.sizes
            ],
            "ratio": self.ratio,
            "goal": GOAL,
            "goal_met": self.met,
            "invariants": None
            if self.checked is None
            else {**asdict(self.checked), "check_seconds_per_100k_orders": self.checked.per_100k},
        }


def run(
    sizes: tuple[int, ...],
    stale: int,
    repeats: int,
    synchronous: str = "FULL",
    progress: bool = False,
) -> Report:
    """Every size, smallest first; the invariants timed on the way to the biggest."""
    ordered = sorted(set(sizes))
    check_at = min(CHECK_PER, ordered[-1])
    measured, checked = measure_sizes(ordered, stale, repeats, synchronous, check_at, progress)
    return Report(stale, repeats, synchronous, measured, checked)


def render(report: Report) -> str:
    lines = [
        f"paycore janitor scaling: one pass of PaymentService.run_janitor over {report.stale} "
        "stale orders (pending, expired, stock held),",
        f"best of {report.repeats} interleaved passes (new stale orders each), SQLite "
        f"synchronous={report.synchronous}; python {platform.python_version()}, "
        f"sqlite {sqlite3.sqlite_version}; load average at the end {load_average()}",
        "",
        f"{'finished orders':>16}{'built in s':>12}{'file MB':>9}{'best pass s':>13}"
        f"{'statements':>12}   all passes (s)",
    ]
    for z in report.sizes:
        lines.append(
            f"{z.orders:>16,}{z.build_seconds:>12.1f}{z.file_mb:>9.0f}{z.best.seconds:>13.3f}"
            f"{z.traced.statements or 0:>12}   " + " ".join(f"{p.seconds:.3f}" for p in z.passes)
        )
    small, big = report.sizes[0], report.sizes[-1]
    verdict = "met" if report.met else f"NOT within {GOAL:g}x"
    lines += [
        "",
        f"ratio {big.orders:,} / {small.orders:,}: {report.ratio:.2f}x  "
        f"(goal: within {GOAL:g}x)  {verdict}",
    ]
    for z in report.sizes:
        if z.scans:
            lines.append(f"statements of a pass that scan a table ({z.orders:,} orders):")
            for shape, plan in z.scans.items():
                lines.append(f"  {shape[:160]}")
                lines += [f"      plan: {p}" for p in plan]
    if not any(z.scans for z in report.sizes):
        lines.append("every statement of a pass searches an index (EXPLAIN QUERY PLAN): none scans")
    c = report.checked
    if c is not None:
        lines += [
            "",
            f"paycore.invariants.check (safety) on a snapshot of the {big.orders:,}-order store "
            f"when it held {c.orders:,}:",
            f"  snapshot {c.snapshot_seconds:.1f} s, check {c.check_seconds:.2f} s, "
            f"{c.violations} violations: check {c.per_100k:.2f} s per 100,000 orders "
            f"(snapshot {c.snapshot_per_100k:.1f} s per 100,000)",
        ]
    return "\n".join(lines)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of numbers: {text!r}") from None
    if len(set(sizes)) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError("at least two different sizes, each >= 1")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES, metavar="10000,1000000")
    parser.add_argument("--stale", type=int, default=DEFAULT_STALE, metavar="N")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, metavar="R")
    parser.add_argument("--synchronous", choices=("NORMAL", "FULL"), default="FULL")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    batch = Config().job_batch
    if not 1 <= args.stale <= batch or args.repeats < 1:
        parser.error(f"--stale must be 1..{batch} (one janitor batch), --repeats >= 1")
    try:
        report = run(args.sizes, args.stale, args.repeats, args.synchronous, not args.json)
    except BenchmarkError as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.as_json(), indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
