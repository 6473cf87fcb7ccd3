"""Checkout lifecycles per second on a real database: paycore vs the reference lifecycle.

For each engine (the list is :data:`ENGINES`), each durability setting and each number
of workers, paycore's lifecycles and the reference lifecycle's are timed in the same
run, interleaved (who goes first rotates every round), best of N, on a fresh database
each time. The goal is paycore/reference >= 0.5 on every engine at every concurrency:
the reference is the least SQL a careful engineer writes for one safe checkout, so
half its rate is what paycore's safety may cost at most.

A paycore lifecycle is :mod:`core_throughput`'s: create a payment intent (a new
checkout session, one cart line), confirm it with ``pm_card_visa`` and handle the two
webhook events the provider sends for it. Lifecycle ``i`` buys product ``i % 10``
(10 SKUs, as the reference uses), so workers do not all queue on one stock row.

* **SQLite** -- :class:`paycore_adapters.sql.sqlite_store.SQLiteStore` on a fresh file
  (WAL, ``BEGIN IMMEDIATE``) with ``synchronous`` NORMAL and FULL (both by default, or
  one with ``--synchronous``); the reference (``reference_lifecycle.run``) on a fresh
  file beside it with the same ``synchronous``. Workers are threads, as the
  reference's are: each its own :class:`paycore.service.PaymentService` (its own worker
  id, alerts and notifier) on the one store object, whose connections are per thread;
  one fake provider (thread-safe) stands for the one Stripe account every instance
  shares, so a webhook may reach another worker than the one that confirmed.
* **PostgreSQL** -- on the server ``PAYCORE_BENCH_POSTGRES_DSN`` names (a database per
  measurement, made and dropped), with its durability settings as they are (the report
  prints them): paycore's workers are processes, the reference is ``pgbench`` with
  ``reference_lifecycle.pgbench`` (see ``pg_throughput.py``). Without a server the
  report says it was not measured, and why.

Store work per lifecycle, next to the reference's own 7 transactions and 21 statements:
transactions are ``BEGIN``s (and ``SQLiteStore.stats`` the ones that wrote); statements
are every SQL statement the driver runs on the worker's connection, counted by a trace
callback (``sqlite3.Connection.set_trace_callback``), ``BEGIN``/``COMMIT`` left out as
the reference's 21 leaves them out.

After every paycore run: every lifecycle completed (orders created and paid, payments
succeeded, webhook events taken in, counted on a snapshot), no flow left unfinished, no
alert, and no safety invariant violated (``paycore.invariants.check`` on a snapshot
with the provider's ledger).

Usage::

    .venv/bin/python benchmarks/store_throughput.py [--lifecycles N] [--repeats R]
        [--workers 1,8] [--synchronous NORMAL|FULL|both] [--json]

The exit code is 0 whether or not the goal is met; it is 1 only when a measurement
fails or does not complete its lifecycles, or the reference cannot be found.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pg_throughput
from core_throughput import (
    REFERENCE_FILE,
    BenchmarkError,
    Census,
    Measurement,
    completed,
    load_reference,
    measure_reference,
    paycore_counts,
    paycore_lifecycles,
    reference_dir,
    stock_shop,
    timed,
    unfinished_flows,
)

from paycore.invariants import Ledger, check
from paycore.service import PaymentService
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import LocalStore, ManualClock, RecordingAlerts, RecordingNotifier
from paycore_adapters.sql.sqlite_store import SQLiteStore

GOAL = 0.5  # paycore lifecycles/s divided by the reference's, per engine and concurrency
DEFAULT_LIFECYCLES = 1000
DEFAULT_REPEATS = 3
DEFAULT_WARMUP = 10  # untimed lifecycles per worker on each fresh store
DEFAULT_WORKERS = (1, 8)
SKUS = 10  # as the reference lifecycle's
SYNCHRONOUS = ("NORMAL", "FULL")
#: The reference's own figures per lifecycle (it reports them with every run).
REFERENCE_TRANSACTIONS, REFERENCE_STATEMENTS = 7, 21
#: pgbench sends each line of the reference's script and waits for its answer: the 21
#: statements and each transaction's BEGIN and COMMIT.
REFERENCE_ROUND_TRIPS = REFERENCE_STATEMENTS + 2 * REFERENCE_TRANSACTIONS


def load_average() -> str:
    """The machine's load over the last 1, 5 and 15 minutes (as ``uptime`` shows it)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# --- paycore on any local store, on threads ----------------------------------------------


@dataclass
class Shop:
    """Workers on one store: a service each (own worker id, alerts and notifier), one
    provider and one clock for all."""

    store: LocalStore
    provider: FakeProvider
    clock: ManualClock
    services: list[PaymentService]
    alerts: list[RecordingAlerts]

    def raised(self) -> list[str]:
        return [a.kind for alerts in self.alerts for a in alerts.raised]


def open_shop(store: LocalStore, workers: int, stock: int) -> Shop:
    """``workers`` services on ``store``, with the bench shop's SKUs stocked."""
    clock = ManualClock()
    provider = FakeProvider(clock)
    alerts = [RecordingAlerts() for _ in range(workers)]
    services = [
        PaymentService(
            store, provider, clock, alerts[w], RecordingNotifier(), worker_id=f"bench-{w + 1}"
        )
        for w in range(workers)
    ]
    stock_shop(services[0], provider, stock, skus=SKUS)
    return Shop(store, provider, clock, services, alerts)


def run_workers(shop: Shop, per: int, warmup: int) -> float:
    """Each worker thread runs ``warmup`` untimed lifecycles, then all wait for each
    other and run ``per`` timed ones; the seconds from that start until the last ends."""
    workers = len(shop.services)
    start = threading.Barrier(workers + 1)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        svc, first = shop.services[w], 1 + w * (warmup + per)  # 0 is the main thread's
        try:
            paycore_lifecycles(svc, shop.provider, first, warmup, SKUS)
        except BaseException as exc:
            errors.append(exc)
        start.wait()
        if not errors:
            try:
                paycore_lifecycles(svc, shop.provider, first + warmup, per, SKUS)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()

    def timed_part() -> None:
        start.wait()
        for t in threads:
            t.join()

    seconds = timed(timed_part)
    if errors:
        raise BenchmarkError(f"paycore: a worker failed: {errors[0]!r}") from errors[0]
    return seconds


def measure_shop(shop: Shop, lifecycles: int, warmup: int) -> Measurement:
    """Time ``lifecycles`` paycore lifecycles spread over the shop's workers and check
    that each completed, with no flow unfinished, no alert and no safety violation."""
    workers = len(shop.services)
    per = lifecycles // workers
    # One lifecycle first, in this thread: the store's installation row, the imports.
    paycore_lifecycles(shop.services[0], shop.provider, 0, 1, SKUS)
    before = paycore_counts(shop.store.snapshot())
    seconds = run_workers(shop, per, warmup)
    snap = shop.store.snapshot()
    unfinished = unfinished_flows(snap)
    if unfinished or shop.raised():
        raise BenchmarkError(f"paycore: flows unfinished {unfinished[:5]}, alerts {shop.raised()}")
    violations = len(check(snap, shop_ledger(shop), ("safety",)))
    return completed(before, snap, per * workers, seconds, workers * warmup, violations)


def shop_ledger(shop: Shop) -> Ledger:
    """The provider's books, as the invariants read them."""
    return Ledger(shop.provider.intents(), shop.provider.refunds(), shop.clock.now())


# --- SQLite --------------------------------------------------------------------------------


@contextmanager
def sqlite_store(synchronous: str) -> Iterator[SQLiteStore]:
    """A SQLite store on a fresh file (migrated), deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="paycore-bench-") as d:
        store = SQLiteStore(Path(d) / "paycore.db", synchronous=synchronous, migrate=True)
        try:
            yield store
        finally:
            store.close()


def sqlite_paycore(lifecycles: int, workers: int, setting: str, warmup: int) -> Measurement:
    with sqlite_store(setting) as store:
        shop = open_shop(store, workers, stock=lifecycles + (warmup + 1) * workers + 1)
        return measure_shop(shop, lifecycles, warmup)


def sqlite_reference(lifecycles: int, workers: int, setting: str) -> Measurement:
    return measure_reference(lifecycles, workers=workers, synchronous=setting)


def classify(sql: str) -> str:
    """The kind of one traced SQL statement."""
    word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    if word in ("BEGIN", "COMMIT", "ROLLBACK"):
        return "control"
    if word == "INSERT" and "paycore_sequences" in sql:
        return "sequences"
    return {"SELECT": "reads", "INSERT": "inserts", "UPDATE": "updates"}.get(word, "other")


def sqlite_census(setting: str, lifecycles: int = 20, warmup: int = 5) -> Census:
    """paycore's store work per lifecycle on SQLite (one worker, after ``warmup``
    lifecycles): every statement the driver runs on the connection, by a trace callback;
    transactions are its BEGINs, writing ones from ``SQLiteStore.stats``."""
    with sqlite_store(setting) as store:
        shop = open_shop(store, 1, stock=lifecycles + warmup)
        svc = shop.services[0]
        paycore_lifecycles(svc, shop.provider, 0, warmup, SKUS)
        seen: Counter[str] = Counter()
        conn = store.connection()
        conn.set_trace_callback(lambda sql: seen.update((classify(sql), sql.split(None, 1)[0])))
        writes = store.stats["writes"]
        paycore_lifecycles(svc, shop.provider, warmup, lifecycles, SKUS)
        conn.set_trace_callback(None)
        writes = store.stats["writes"] - writes
    kinds = ("reads", "inserts", "updates", "sequences")
    statements = sum(seen[k] for k in (*kinds, "other"))
    return Census(
        seen["BEGIN"] / lifecycles,
        writes / lifecycles,
        statements / lifecycles,
        *(seen[k] / lifecycles for k in kinds),
    )


# --- PostgreSQL ----------------------------------------------------------------------------


# --- the engines -----------------------------------------------------------------------------


def always_there() -> str | None:
    return None


@dataclass(frozen=True)
class Engine:
    """One database: its durability settings and the functions that measure it."""

    name: str
    label: str
    settings: tuple[str, ...]
    #: Why it cannot be measured in this build (None: it can).
    missing: Callable[[], str | None]
    #: (lifecycles, workers, setting, warmup) -> paycore's measurement.
    paycore: Callable[[int, int, str, int], Measurement] | None = None
    #: (lifecycles, workers, setting) -> the reference's measurement.
    reference: Callable[[int, int, str], Measurement] | None = None
    #: setting -> paycore's store work per lifecycle.
    census: Callable[[str], Census] | None = None


ENGINES: tuple[Engine, ...] = (
    Engine(
        "sqlite",
        "SQLite (WAL, BEGIN IMMEDIATE)",
        SYNCHRONOUS,
        always_there,
        sqlite_paycore,
        sqlite_reference,
        sqlite_census,
    ),
    Engine(
        "postgresql",
        "PostgreSQL (SERIALIZABLE; workers are processes)",
        ("server",),
        pg_throughput.missing,
        pg_throughput.paycore,
        pg_throughput.reference,
        pg_throughput.census,
    ),
)


# --- the run -------------------------------------------------------------------------------


@dataclass
class Cell:
    """One engine, durability setting and number of workers: every repeat of both."""

    engine: str
    setting: str
    workers: int
    paycore: list[Measurement]
    reference: list[Measurement]

    def best(self, kind: str) -> Measurement:
        return min(getattr(self, kind), key=lambda m: m.seconds)

    @property
    def ratio(self) -> float:
        return self.best("paycore").rate / self.best("reference").rate

    @property
    def met(self) -> bool:
        return self.ratio >= GOAL

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": self.engine, "setting": self.setting}
        out["workers"] = self.workers
        for kind in ("paycore", "reference"):
            best = self.best(kind)
            out[kind] = {
                "lifecycles": best.lifecycles,
                "best_seconds": best.seconds,
                "lifecycles_per_second": best.rate,
                "all_seconds": [m.seconds for m in getattr(self, kind)],
            }
        out["paycore"]["safety_violations"] = self.best("paycore").violations
        out["ratio"], out["goal_met"] = self.ratio, self.met
        return out


@dataclass
class Report:
    lifecycles: int
    repeats: int
    cells: list[Cell]
    census: dict[str, dict[str, Census]]  # engine -> setting -> paycore's work
    unmeasured: dict[str, str]  # engine -> why not

    def as_json(self) -> dict[str, Any]:
        return {
            "lifecycles": self.lifecycles,
            "repeats": self.repeats,
            "goal": GOAL,
            "python_version": platform.python_version(),
            "sqlite_version": sqlite3.sqlite_version,
            "machine": platform.platform(),
            "load_average": os.getloadavg(),
            "reference_path": str(reference_dir() / REFERENCE_FILE),
            "cells": [c.as_json() for c in self.cells],
            "store_work_per_lifecycle": {
                engine: {setting: asdict(c) for setting, c in by.items()}
                for engine, by in self.census.items()
            },
            "reference_work_per_lifecycle": {
                "transactions": REFERENCE_TRANSACTIONS,
                "statements": REFERENCE_STATEMENTS,
                "round_trips_postgresql": REFERENCE_ROUND_TRIPS,
            },
            "not_measured": self.unmeasured,
        }


def measure_cell(
    engine: Engine,
    setting: str,
    workers: int,
    lifecycles: int,
    repeats: int,
    warmup: int,
    progress: bool = False,
) -> Cell:
    """``repeats`` interleaved rounds of paycore and the reference, after one discarded
    warm-up round of each."""
    assert engine.paycore is not None and engine.reference is not None
    kinds: dict[str, Callable[[], Measurement]] = {
        "paycore": lambda: engine.paycore(lifecycles, workers, setting, warmup),  # type: ignore[misc]
        "reference": lambda: engine.reference(lifecycles, workers, setting),  # type: ignore[misc]
    }
    order = list(kinds)
    for kind in order:  # warm-up round: imports, allocator, page cache; discarded
        kinds[kind]().check()
    cell = Cell(engine.name, setting, workers, [], [])
    for r in range(repeats):
        for kind in order[r % 2 :] + order[: r % 2]:
            m = kinds[kind]().check()
            getattr(cell, kind).append(m)
            if progress:
                print(
                    f"  {engine.name} {setting} {workers}w round {r + 1}/{repeats} "
                    f"{kind:<9} {m.seconds:8.3f} s",
                    file=sys.stderr,
                )
    return cell


def run(
    lifecycles: int,
    repeats: int,
    workers: tuple[int, ...] = DEFAULT_WORKERS,
    synchronous: tuple[str, ...] = SYNCHRONOUS,
    warmup: int = DEFAULT_WARMUP,
    progress: bool = False,
    engines: tuple[str, ...] = (),
) -> Report:
    """Every available engine (or those named), at each of its settings chosen and each
    worker count."""
    load_reference()  # fail early, with its message, when the reference is not there
    report = Report(lifecycles, repeats, [], {}, {})
    for engine in ENGINES:
        if engines and engine.name not in engines:
            continue
        why = engine.missing()
        if why is not None or engine.census is None:
            report.unmeasured[engine.name] = why or "no measurement written"
            continue
        settings = [x for x in engine.settings if engine.name != "sqlite" or x in synchronous]
        report.census[engine.name] = {x: engine.census(x) for x in settings}
        for setting in settings:
            for w in workers:
                cell = measure_cell(engine, setting, w, lifecycles, repeats, warmup, progress)
                report.cells.append(cell)
    return report


def render(report: Report) -> str:
    lines = [
        f"paycore store throughput: {report.lifecycles} lifecycles per measurement, best of "
        f"{report.repeats} interleaved repeats, a fresh database each",
        f"paycore lifecycle = create_payment_intent (1 line, {SKUS} SKUs in turn) + confirm "
        "(pm_card_visa) + 2 webhooks; workers are threads on SQLite, processes on "
        "PostgreSQL, each its own PaymentService",
        f"reference lifecycle = {reference_dir() / REFERENCE_FILE} on SQLite (same "
        "synchronous, same number of threads), reference_lifecycle.pgbench by pgbench on "
        "PostgreSQL (same server, same number of clients)",
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"{platform.machine()}, load average at the end {load_average()}",
        *(
            [f"postgresql server: {pg_throughput.server_settings()}"]
            if any(c.engine == "postgresql" for c in report.cells)
            else []
        ),
        "",
        f"{'engine':<12}{'durability':<12}{'workers':>8}{'paycore/s':>11}{'reference/s':>13}"
        f"{'ratio':>7}  goal >= {GOAL}   all repeats paycore | reference (s)",
    ]
    for c in report.cells:
        pc, ref = c.best("paycore"), c.best("reference")
        runs = " ".join(f"{m.seconds:.2f}" for m in c.paycore)
        ref_runs = " ".join(f"{m.seconds:.2f}" for m in c.reference)
        lines.append(
            f"{c.engine:<12}{c.setting:<12}{c.workers:>8}{pc.rate:>11,.0f}{ref.rate:>13,.0f}"
            f"{c.ratio:>7.2f}  {'met' if c.met else 'BELOW GOAL':<12} {runs} | {ref_runs}"
        )
    for engine, why in report.unmeasured.items():
        lines.append(f"{engine:<12}not measured: {why}")
    lines += [
        "",
        "store work per lifecycle (the reference: its own figures, every transaction writes):",
    ]
    lines.append(
        f"{'':<26}{'transactions':>13}{'writing':>9}{'statements':>12}{'round trips':>13}   "
        "(SELECT / INSERT / UPDATE / sequence upserts)"
    )
    for engine, by in report.census.items():
        for setting, work in by.items():
            trips = "-" if work.round_trips is None else f"{work.round_trips:g}"
            lines.append(
                f"{'paycore ' + engine + ' ' + setting:<26}{work.transactions:>13g}"
                f"{work.write_transactions:>9g}{work.statements:>12g}"
                f"{trips:>13}   ({work.reads:g} / "
                f"{work.inserts:g} / {work.updates:g} / {work.sequences:g})"
            )
    lines.append(
        f"{'reference':<26}{REFERENCE_TRANSACTIONS:>13}{REFERENCE_TRANSACTIONS:>9}"
        f"{REFERENCE_STATEMENTS:>12}{REFERENCE_ROUND_TRIPS:>13} (PostgreSQL)"
    )
    lines += [
        "paycore: transactions are BEGINs on the worker's connection; statements are the SQL "
        "it runs there,",
        "counted by sqlite3's trace callback (set_trace_callback) on SQLite and where the",
        "store sends them on PostgreSQL (libpq, psycopg's cursor), BEGIN and COMMIT left out;",
        "round trips are the exchanges with the PostgreSQL server (a pipeline is one: a",
        "BEGIN with the first query, writes with their COMMIT; SQLite: in-process).",
        "",
        "after every paycore run: every lifecycle's order paid, payment succeeded and 2 "
        "webhooks taken in,",
        "no flow unfinished, no alert, safety violations "
        f"{sum(c.best('paycore').violations or 0 for c in report.cells)} "
        "(paycore.invariants.check on a snapshot).",
    ]
    return "\n".join(lines)


def _choices(text: str) -> tuple[int, ...]:
    try:
        workers = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of numbers: {text!r}") from None
    if not workers or min(workers) < 1:
        raise argparse.ArgumentTypeError("workers must be >= 1")
    return workers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--lifecycles", type=int, default=DEFAULT_LIFECYCLES, metavar="N")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, metavar="R")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, metavar="W")
    parser.add_argument("--workers", type=_choices, default=DEFAULT_WORKERS, metavar="1,8")
    parser.add_argument(
        "--synchronous",
        choices=(*SYNCHRONOUS, "both"),
        default="both",
        help="SQLite's durability setting, for paycore and the reference alike",
    )
    parser.add_argument(
        "--engines",
        default="",
        help="measure only these engines (comma-separated: sqlite,postgresql)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.lifecycles < max(args.workers) or args.repeats < 1 or args.warmup < 0:
        parser.error("--lifecycles must be >= the most workers, --repeats >= 1, --warmup >= 0")
    synchronous = SYNCHRONOUS if args.synchronous == "both" else (args.synchronous,)
    try:
        report = run(
            args.lifecycles,
            args.repeats,
            args.workers,
            synchronous,
            args.warmup,
            progress=not args.json,
            engines=tuple(e for e in args.engines.split(",") if e),
        )
    except BenchmarkError as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.as_json(), indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
