"""One janitor pass over a small and a big store, with the same stale work waiting in each.

The janitor (``PaymentService.run_janitor``, :func:`paycore.jobs.janitor`) ends every
pending order whose reservation ran out: it starts a cancel flow for each, which
cancels the intent at the provider and only then puts the held stock back. Its work
is the stale orders; the finished ones around them should cost it nothing. So a pass
is timed over 10,000 and over 1,000,000 finished orders with the same 100 stale ones
waiting in each, on SQLite and on PostgreSQL; the goal is the two times within 2x of
each other, on each engine.

How a store is built:

* **finished orders** -- one real lifecycle (create, confirm with ``pm_card_visa``, the
  two webhooks, as :mod:`core_throughput`'s) runs through the service first. The rows
  it wrote (order, reservation, payment, flows, audit, outbox, inbox), turned into
  column values by the store's own row mapping (``paycore_adapters.sql.columns``), are
  the template: copy ``i`` replaces the template's ids with its own (order and payment
  ``i``, its session, intent, reference and events; audit rows shifted by ``i`` times
  the lifecycle's audit count). On SQLite the copies go in with ``executemany`` and each
  table's own INSERT (``TableSql.insert``) on the store's connection; on PostgreSQL with
  ``COPY`` into the same columns on a connection of its own. One transaction per step
  (two for the biggest store: up to 100,000 orders, where ``paycore check`` is timed,
  then the rest). The sequences and the stock row are moved on as that many lifecycles
  would have moved them, so the big store is one paycore would have written, only faster.
* **stale orders** -- 100 real checkouts through the service (their webhooks handled),
  then the clock moves past their reservation time: pending, expired, stock held.

Both stores are built first and settled as the engine's background work would have left
them (SQLite: the write-ahead log checkpointed into the file; PostgreSQL: ``ANALYZE``, as
autovacuum would have run) and kept open; then each round makes 100 new stale orders in
each store and times one pass on each, the order rotating every round, so machine noise
(other work on the machine's cores and disk) hits both sizes alike; the best pass per
size is kept. After each pass every stale order must have been ended (its flow started,
the order no longer pending, its stock no longer held). The statements of a first,
untimed pass are traced (SQLite: the connection's trace; PostgreSQL: at the store's
transactions, each statement as it is run or sent), and any that scans a table rather
than searching an index is listed with its plan (SQLite's ``EXPLAIN QUERY PLAN``;
PostgreSQL's ``EXPLAIN``, a sequential scan of a table of 1,000 rows or more): a
janitor that grows with the table shows where.

Also timed: ``paycore check`` (the safety invariants, without the provider's books: what
the command runs, ``cli_check.snapshot_of`` and ``run_checks``) on the biggest store when
it holds 100,000 orders, in a process of its own, streamed (as the command reads a SQL
store) and, for comparison, over a snapshot loaded whole; each process's peak resident
memory is the kernel's (``ru_maxrss`` from ``wait4``), beside that of a process that
only opened the store.

PostgreSQL is measured on the server ``PAYCORE_BENCH_POSTGRES_DSN`` names (a new database
per store, dropped afterwards), with its durability settings as they are (the report
says which); without it, PostgreSQL is reported as not measured. A manual run::

    pg_virtualenv -t -v 15 -o fsync=on sh -c 'PAYCORE_BENCH_POSTGRES_DSN="host=$PGHOST \
        port=$PGPORT user=$PGUSER password=$PGPASSWORD dbname=postgres" \
        .venv/bin/python benchmarks/janitor_scaling.py'

Usage::

    .venv/bin/python benchmarks/janitor_scaling.py [--sizes 10000,1000000] [--stale 100]
        [--repeats 5] [--synchronous FULL|NORMAL] [--engines sqlite,postgresql]
        [--no-loaded] [--json]

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
import subprocess
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
from paycore.invariants import INVARIANTS
from paycore.status import OrderStatus
from paycore_adapters.cli_check import run_checks, snapshot_of
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.columns import MAPS
from paycore_adapters.sql.ddl import NATIVE_SEQUENCES, native_sequence
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


def bulk_finished(store: Any, template: Template, have: int, orders: int) -> None:
    """Write finished lifecycles until the store holds ``orders`` of them rather than
    ``have`` (the template's included), in one transaction, moving the sequences and
    stock rows on as that many lifecycles would have: on SQLite with ``executemany`` on
    the store's connection, on PostgreSQL with ``COPY`` on a connection of its own."""
    if isinstance(store, SQLiteStore):
        _bulk_sqlite(store, template, have, orders)
    else:
        _bulk_postgres(store, template, have, orders)


def _bulk_sqlite(store: SQLiteStore, template: Template, have: int, orders: int) -> None:
    plans = _plans(template)
    inserts = {name: sqlite_sql(MAPS[name].table).insert for name in plans}
    conn = store.connection()
    conn.execute("BEGIN IMMEDIATE")
    try:
        first, last = template.seq + have, template.seq + orders - 1
        for lo in range(first, last + 1, CHUNK):
            batch = _copies(template, plans, range(lo, min(lo + CHUNK, last + 1)))
            for name, rows in batch.items():
                conn.executemany(inserts[name], rows)
        _move_on(conn, "?", sqlite_sql(s.STOCK), template, orders, orders - have)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _bulk_postgres(store: Any, template: Template, have: int, orders: int) -> None:
    import psycopg

    from paycore_adapters.sql.ddl import quote
    from paycore_adapters.sql.postgres_tx import postgres_sql

    plans = _plans(template)
    copies = {
        name: f"COPY {quote(name)} ({', '.join(quote(c) for c in MAPS[name].column_names)}) "
        "FROM STDIN"
        for name in plans
    }
    with psycopg.connect(store.dsn) as conn:  # one transaction, committed on leaving
        first, last = template.seq + have, template.seq + orders - 1
        for lo in range(first, last + 1, CHUNK):
            batch = _copies(template, plans, range(lo, min(lo + CHUNK, last + 1)))
            with conn.cursor() as cur:
                for name, rows in batch.items():
                    with cur.copy(copies[name]) as copy:
                        for row in rows:
                            copy.write_row(row)
        _move_on(conn, "%s", postgres_sql(s.STOCK), template, orders, orders - have)


def _move_on(conn: Any, p: str, sql: Any, template: Template, orders: int, n: int) -> None:
    """The sequences as ``orders`` lifecycles leave them, and the stock rows as ``n``
    more lifecycles would have moved them (``p``: the driver's placeholder)."""
    for name, step in template.steps.items():
        value = template.start.get(name, 0) + step * orders
        if p == "%s" and name in NATIVE_SEQUENCES:  # a PostgreSQL sequence object
            conn.execute("SELECT setval(%s, %s, false)", (native_sequence(name), value + 1))
            continue
        conn.execute(f"UPDATE paycore_sequences SET value = {p} WHERE name = {p}", (value, name))
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


def janitor_pass(w: Wiring, store: Any, stale: list[str], trace: bool) -> tuple[Pass, list[Any]]:
    """Time one pass; fail unless it ended every stale order. With ``trace``, the
    statements it ran (the tracing costs a little time): on SQLite the SQL text of the
    store's connection, on PostgreSQL ``(query, parameters)`` at the store's transactions."""
    seen: list[Any] = []
    started: list[int] = []
    with _tracing(store, seen.append if trace else None):
        seconds = timed(lambda: started.append(w.service.run_janitor()))
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


@contextmanager
def _tracing(store: Any, note: Callable[[Any], object] | None) -> Iterator[None]:
    if note is None:
        yield
    elif isinstance(store, SQLiteStore):
        conn = store.connection()
        conn.set_trace_callback(note)
        try:
            yield
        finally:
            conn.set_trace_callback(None)
    else:
        from paycore_adapters.sql.postgres_tx import PostgresTransaction, _statements

        run, send = PostgresTransaction._run, PostgresTransaction._send

        def noted_run(self: Any, sql: str, args: Any) -> Any:
            note((sql, args, False))
            return run(self, sql, args)

        def noted_send(self: Any, writes: Any, commit: bool) -> Any:
            for _, _, sql, args in _statements(writes):
                note((sql, args, False))
            return send(self, writes, commit)

        # The store's own ways to the server (its transactions' statements), whichever
        # way each goes: libpq or psycopg.
        PostgresTransaction._run = noted_run  # type: ignore[method-assign]
        PostgresTransaction._send = noted_send  # type: ignore[method-assign]
        try:
            yield
        finally:
            PostgresTransaction._run, PostgresTransaction._send = run, send  # type: ignore[method-assign]


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


def pg_scanning(dsn: str, statements: list[tuple[str, Any, bool]]) -> dict[str, list[str]]:
    """PostgreSQL's :func:`scanning`: each traced statement (its first parameters) under
    ``EXPLAIN`` (planned, not run); those whose plan has a ``Seq Scan`` of a table of
    :data:`SMALL_TABLE` rows or more (as ``ANALYZE`` last counted them)."""
    import psycopg

    samples: dict[str, Any] = {}
    for sql, params, many in statements:
        if not many:  # an executemany's plan is its single statement's
            samples.setdefault(sql, params)
    out: dict[str, list[str]] = {}
    with psycopg.connect(dsn) as conn:
        sizes = conn.execute("SELECT relname, reltuples FROM pg_class WHERE relkind = 'r'")
        big = {str(name) for name, rows in sizes if rows >= SMALL_TABLE}
        for sql, params in samples.items():
            if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT")):
                continue
            plan = [str(r[0]) for r in conn.execute(f"EXPLAIN {sql}".encode(), params)]
            if any(m.group(1) in big for p in plan if (m := _SEQ_SCAN.search(p))):
                out[sql] = [p.strip() for p in plan]
        conn.rollback()
    return out


#: PostgreSQL's planner reads a small table whole rather than through its index (one
#: or two pages): only a scan of a table of at least this many rows is reported.
SMALL_TABLE = 1_000
_SEQ_SCAN = re.compile(r'Seq Scan on "?(\w+)"?')


# --- the invariants on a snapshot --------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """``paycore check`` (the safety invariants, no provider books) on a store of
    ``orders`` finished orders, in a process of its own: its seconds and peak resident
    memory, streamed (as the command reads) and, for comparison, over a snapshot loaded
    whole; and the memory of a process that only opened the store."""

    orders: int
    check_seconds: float
    violations: int
    peak_rss_mb: float
    loaded_seconds: float | None
    loaded_peak_rss_mb: float | None
    baseline_rss_mb: float

    @property
    def per_100k(self) -> float:
        return self.check_seconds * CHECK_PER / self.orders

    @property
    def loaded_per_100k(self) -> float | None:
        if self.loaded_seconds is None:
            return None
        return self.loaded_seconds * CHECK_PER / self.orders


CHILD = "--check-child"
CHECK_MODES = ("open", "streamed", "loaded")


def store_target(store: Any) -> tuple[str, str]:
    """What a child process opens the store by: (engine, path or DSN)."""
    if isinstance(store, SQLiteStore):
        return "sqlite", str(store.path)
    return "postgresql", str(store.dsn)


def check_child(engine: str, target: str, mode: str) -> int:
    """In a child process: open the store and, unless ``mode`` is ``open``, run what
    ``paycore check`` runs (``cli_check.snapshot_of``, ``run_checks``) streamed or over
    a snapshot loaded whole; print ``{"seconds", "violations"}``."""
    store: Any
    if engine == "sqlite":
        store = SQLiteStore(target)
    else:
        from paycore_adapters.sql.postgres_store import PostgresStore

        store = PostgresStore(target, max_size=2)
    safety = [inv for inv in INVARIANTS if inv.kind == "safety"]
    found: list[Any] = []
    start = time.perf_counter()
    if mode == "streamed":
        with snapshot_of(store) as view:
            found = run_checks(view, None, safety)[0]
    elif mode == "loaded":
        found = run_checks(store.snapshot(), None, safety)[0]
    seconds = time.perf_counter() - start
    store.close()
    print(json.dumps({"seconds": seconds, "violations": len(found)}))
    return 0


def run_child(store: Any, mode: str) -> tuple[dict[str, Any], float]:
    """Run :func:`check_child` in a new process; its output and peak resident MB (the
    kernel's ``ru_maxrss`` of that one process, from ``wait4``)."""
    engine, target = store_target(store)
    argv = [sys.executable, str(Path(__file__).resolve()), CHILD, engine, target, mode]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise BenchmarkError(f"the check in a child process ({mode}) exited {proc.returncode}")
    return json.loads(out), usage.ru_maxrss / 1024


def time_check(store: Any, orders: int, loaded: bool = True) -> Checked:
    _, base = run_child(store, "open")
    streamed, peak = run_child(store, "streamed")
    whole, whole_peak = run_child(store, "loaded") if loaded else (None, None)
    if whole is not None and whole["violations"] != streamed["violations"]:
        raise BenchmarkError(
            f"the streamed check found {streamed['violations']} violations, the loaded one "
            f"{whole['violations']}"
        )
    return Checked(
        orders,
        streamed["seconds"],
        streamed["violations"],
        peak,
        None if whole is None else whole["seconds"],
        whole_peak,
        base,
    )


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


@contextmanager
def fresh_postgres() -> Iterator[Any]:
    """A PostgresStore on a new database of the server ``PAYCORE_BENCH_POSTGRES_DSN``
    names, dropped afterwards."""
    from pg_throughput import database

    from paycore_adapters.sql.postgres_store import PostgresStore

    with database("janitor") as dsn:
        store = PostgresStore(dsn, migrate=True, max_size=4)
        try:
            yield store
        finally:
            store.close()


def fresh(engine: str, synchronous: str) -> Any:
    return fresh_store(synchronous) if engine == "sqlite" else fresh_postgres()


def settle(store: Any) -> None:
    """After a bulk write, what the engine's background work would have done along the
    way: SQLite's checkpoints (the log copied into the file and emptied), PostgreSQL's
    autovacuum's ANALYZE (the planner's statistics of the new rows)."""
    if isinstance(store, SQLiteStore):
        store.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    import psycopg

    with psycopg.connect(store.dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")


def store_mb(store: Any) -> float:
    if isinstance(store, SQLiteStore):
        return store.path.stat().st_size / 1e6
    import psycopg

    with psycopg.connect(store.dsn) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return float(row[0] if row else 0) / 1e6


def scans_of(store: Any, statements: list[Any]) -> dict[str, list[str]]:
    if isinstance(store, SQLiteStore):
        return scanning(store.connection(), statements)
    return pg_scanning(store.dsn, statements)


@dataclass
class Built:
    """A store of ``orders`` finished orders, ready for passes."""

    orders: int
    store: Any
    w: Wiring
    build_seconds: float


def build(
    stack: ExitStack,
    orders: int,
    stock: int,
    synchronous: str,
    check_at: int | None,
    engine: str = "sqlite",
    loaded: bool = True,
) -> tuple[Built, Checked | None]:
    """A store of ``orders`` finished orders (``paycore check`` timed on the way, when
    it holds ``check_at``), settled as the engine's background work would have left it."""
    store = stack.enter_context(fresh(engine, synchronous))
    w = in_memory(store=store)
    stock_shop(w.service, w.provider, orders + stock)
    template = take_template(w, store)
    checked, have, seconds = None, 1, 0.0
    for target in sorted({min(check_at or orders, orders), orders}):
        start = time.perf_counter()
        bulk_finished(store, template, have, target)
        seconds, have = seconds + time.perf_counter() - start, target
        if target == check_at:
            settle(store)
            checked = time_check(store, target, loaded)
    settle(store)
    return Built(orders, store, w, seconds), checked


def measure_sizes(
    sizes: list[int],
    stale: int,
    repeats: int,
    synchronous: str,
    check_at: int | None = None,
    progress: bool = False,
    engine: str = "sqlite",
    loaded: bool = True,
) -> tuple[list[Size], Checked | None]:
    """Build a store per size (``paycore check`` timed in the biggest, at ``check_at``
    orders), then a traced warm-up pass on each and ``repeats`` rounds of one timed pass
    on each, interleaved (who goes first rotates), each over ``stale`` new stale orders:
    machine noise hits every size alike."""
    with ExitStack() as stack:
        built: list[Built] = []
        checked = None
        for orders in sizes:
            at = check_at if orders == sizes[-1] else None
            stock = stale * (repeats + 1) + 1
            b, found = build(stack, orders, stock, synchronous, at, engine, loaded)
            built.append(b)
            checked = found or checked
            if progress:
                print(
                    f"  {engine}: {orders:>10,} orders built in {b.build_seconds:.1f} s",
                    file=sys.stderr,
                )
        traced = [janitor_pass(b.w, b.store, make_stale(b.w, stale, 0), trace=True) for b in built]
        passes: list[list[Pass]] = [[] for _ in built]
        for r in range(1, repeats + 1):
            for i in [*range(r % len(built), len(built)), *range(r % len(built))]:
                b = built[i]
                timed_pass = janitor_pass(b.w, b.store, make_stale(b.w, stale, r), trace=False)
                passes[i].append(timed_pass[0])
                if progress:
                    print(
                        f"  {engine} round {r}: {b.orders:>10,} orders "
                        f"{passes[i][-1].seconds:.3f} s",
                        file=sys.stderr,
                    )
        out = [
            Size(
                b.orders,
                b.build_seconds,
                store_mb(b.store),
                pass_,
                passes[i],
                scans_of(b.store, statements),
            )
            for i, (b, (pass_, statements)) in enumerate(zip(built, traced, strict=True))
        ]
    return out, checked


ENGINES = ("sqlite", "postgresql")


def engine_missing(engine: str) -> str | None:
    """Why ``engine`` cannot be measured here (None: it can)."""
    if engine == "sqlite":
        return None
    try:
        import paycore_adapters.sql.postgres_store  # noqa: F401
    except ImportError:
        return "no PostgreSQL store in this build (the postgresql extra)"
    from pg_throughput import DSN_ENV

    if not os.environ.get(DSN_ENV):
        return f"no server: set {DSN_ENV} to a maintenance database's connection string"
    return None


def durability(engine: str, synchronous: str) -> str:
    if engine == "sqlite":
        return f"SQLite {sqlite3.sqlite_version} synchronous={synchronous}"
    from pg_throughput import server_settings

    return f"PostgreSQL server {server_settings()}"


@dataclass
class Report:
    stale: int
    repeats: int
    synchronous: str
    sizes: list[Size]
    checked: Checked | None
    engine: str = "sqlite"
    settings: str = ""

    @property
    def ratio(self) -> float:
        """The biggest store's best pass over the smallest's."""
        return self.sizes[-1].best.seconds / self.sizes[0].best.seconds

    @property
    def met(self) -> bool:
        return self.ratio <= GOAL

    def as_json(self) -> dict[str, Any]:
        c = self.checked
        return {
            "engine": self.engine,
            "settings": self.settings,
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
            "check": None
            if c is None
            else {
                **asdict(c),
                "check_seconds_per_100k_orders": c.per_100k,
                "loaded_seconds_per_100k_orders": c.loaded_per_100k,
            },
        }


def run(
    sizes: tuple[int, ...],
    stale: int,
    repeats: int,
    synchronous: str = "FULL",
    progress: bool = False,
    engine: str = "sqlite",
    loaded: bool = True,
) -> Report:
    """Every size, smallest first; ``paycore check`` timed on the way to the biggest."""
    ordered = sorted(set(sizes))
    check_at = min(CHECK_PER, ordered[-1])
    measured, checked = measure_sizes(
        ordered, stale, repeats, synchronous, check_at, progress, engine, loaded
    )
    settings = durability(engine, synchronous)
    return Report(stale, repeats, synchronous, measured, checked, engine, settings)


def render(report: Report) -> str:
    lines = [
        f"{report.engine}: one pass of PaymentService.run_janitor over {report.stale} "
        "stale orders (pending, expired, stock held),",
        f"best of {report.repeats} interleaved passes (new stale orders each); "
        f"{report.settings}; python {platform.python_version()}; load average at the end "
        f"{load_average()}",
        "",
        f"{'finished orders':>16}{'built in s':>12}{'size MB':>9}{'best pass s':>13}"
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
        lines.append("every statement of a pass searches an index (its plan): none scans")
    lines += _render_check(report.checked, big.orders)
    return "\n".join(lines)


def _render_check(c: Checked | None, biggest: int) -> list[str]:
    if c is None:
        return []
    out = [
        "",
        f"paycore check (safety, without the provider's books) on the {biggest:,}-order store "
        f"when it held {c.orders:,}, in a process of its own:",
        f"  streamed: {c.check_seconds:.1f} s, {c.violations} violations: "
        f"{c.per_100k:.1f} s per 100,000 orders, peak {c.peak_rss_mb:.0f} MB resident "
        f"(a process that only opens the store: {c.baseline_rss_mb:.0f} MB)",
    ]
    if c.loaded_seconds is not None and c.loaded_per_100k is not None:
        out.append(
            f"  loaded whole (Store.snapshot): {c.loaded_seconds:.1f} s "
            f"({c.loaded_per_100k:.1f} s per 100,000), peak {c.loaded_peak_rss_mb:.0f} MB"
        )
    return out


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of numbers: {text!r}") from None
    if len(set(sizes)) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError("at least two different sizes, each >= 1")
    return sizes


def _engines(text: str) -> tuple[str, ...]:
    engines = tuple(dict.fromkeys(x.strip() for x in text.split(",")))
    if not engines or any(e not in ENGINES for e in engines):
        raise argparse.ArgumentTypeError(f"a comma-separated list of {', '.join(ENGINES)}")
    return engines


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == [CHILD]:
        return check_child(*args_in[1:4])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES, metavar="10000,1000000")
    parser.add_argument("--stale", type=int, default=DEFAULT_STALE, metavar="N")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, metavar="R")
    parser.add_argument("--synchronous", choices=("NORMAL", "FULL"), default="FULL")
    parser.add_argument("--engines", type=_engines, default=ENGINES, metavar="sqlite,postgresql")
    parser.add_argument(
        "--no-loaded", action="store_true", help="skip the check over a snapshot loaded whole"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(args_in)
    batch = Config().job_batch
    if not 1 <= args.stale <= batch or args.repeats < 1:
        parser.error(f"--stale must be 1..{batch} (one janitor batch), --repeats >= 1")
    reports: list[Report] = []
    skipped = {e: why for e in args.engines if (why := engine_missing(e)) is not None}
    try:
        for engine in args.engines:
            if engine not in skipped:
                reports.append(
                    run(
                        args.sizes, args.stale, args.repeats, args.synchronous,
                        not args.json, engine, not args.no_loaded,
                    )
                )  # fmt: skip
    except BenchmarkError as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        doc = {"engines": [r.as_json() for r in reports], "not_measured": skipped}
        print(json.dumps(doc, indent=2))
    else:
        parts = [render(r) for r in reports]
        parts += [f"{engine}: not measured: {why}" for engine, why in skipped.items()]
        print("\n\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
