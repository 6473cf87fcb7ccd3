"""`paycore check --store URL`: the invariant catalog, run read-only against a live store.

One consistent snapshot of the store (a read transaction; on SQLite and PostgreSQL
read in batches through cursors rather than loaded whole), every safety invariant
over it (``--all``: the convergence ones too, meaningful once the system is quiet),
the violations printed, exit status 1 if there are any. No provider is configured
here (the demo's fake provider's books may be given with ``--fake-books``), so the
invariants that compare the store with the provider's books are reported as not
checked, by name, rather than run against an empty ledger (which would report every
payment as missing at the provider).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from paycore.config import Config
from paycore.errors import PaycoreError
from paycore.invariants import INVARIANTS, Invariant, Ledger, Violation
from paycore.ports import IntentView, RefundView, SnapshotView, Store

from . import fake_state
from .cli_ops import store_url
from .clock_skew import ServerTimed, SkewReading, measure, tolerance_ms
from .fake_provider import FakeProvider
from .memory import ManualClock
from .runtime import SystemClock
from .stores import STORE_ENV, open_store


class LedgerUnavailable(Exception):
    """An invariant asked for the provider's books, and no provider is configured."""


class _NoLedger:
    """A ledger without the provider's books: ``now`` only."""

    def __init__(self, now: int) -> None:
        self.now = now

    @property
    def intents(self) -> Sequence[IntentView]:
        raise LedgerUnavailable

    @property
    def refunds(self) -> Sequence[RefundView]:
        raise LedgerUnavailable

    def refunded(self, *_: Any, **__: Any) -> int:
        raise LedgerUnavailable


def add_parser(sub: Any) -> None:
    p = sub.add_parser("check", help="run the invariants read-only against a store")
    p.add_argument(
        "--store",
        default=None,
        help=f"sqlite:PATH, memory, json:PATH or a file path (default: ${STORE_ENV})",
    )
    p.add_argument("--all", action="store_true", help="the convergence invariants too")
    p.add_argument(
        "--fake-books",
        default=None,
        help="the demo's fake provider's books (PATH.provider.json) as the provider's side",
    )
    p.add_argument("--json", action="store_true")


@contextlib.contextmanager
def snapshot_of(store: object) -> Iterator[SnapshotView]:
    """The store as the checks read it: a SQL store's streamed snapshot (one read
    transaction, read in batches: :mod:`paycore_adapters.sql.streamed`), so a big
    database is never held whole; any other store's :class:`~paycore.ports.Snapshot`."""
    streamed = getattr(store, "streamed", None)
    if callable(streamed):
        with streamed() as view:
            yield view
    else:
        yield cast(Store, store).snapshot()


def run_checks(
    snapshot: SnapshotView, ledger: Ledger | None, invariants: Sequence[Invariant]
) -> tuple[list[Violation], list[str]]:
    """(every violation, the ids of the invariants that needed a ledger not given)."""
    book = ledger if ledger is not None else cast(Ledger, _NoLedger(int(time.time() * 1000)))
    found: list[Violation] = []
    unchecked: list[str] = []
    for inv in invariants:
        try:
            found.extend(inv.check(snapshot, book))
        except LedgerUnavailable:
            unchecked.append(inv.id)
    return found, unchecked


def _fake_ledger(path: str) -> Ledger:
    """The demo's fake provider's books. The demo's shop charges through Connect (the
    fake makes each request's account the charge's destination): ``connect=True``."""
    clock = ManualClock()
    fake = FakeProvider(clock)
    fake_state.loads(Path(path).read_text(encoding="utf-8"), fake, clock)
    return Ledger(fake.intents(), fake.refunds(), clock.now(), connect=True)


def _clock(store: object) -> SkewReading | None:
    """This host's clock against the store's server (PostgreSQL); None without a server."""
    return measure(store, SystemClock()) if isinstance(store, ServerTimed) else None


def _clock_line(reading: SkewReading) -> str:
    tolerance = tolerance_ms(Config())
    within = "within" if reading.bound_ms <= tolerance else "BEYOND"
    return (
        f"clock: this host's clock is {reading.describe()}, {within} the default "
        f"tolerance of {tolerance} ms (Config.max_clock_skew_ms)"
    )


def check(args: argparse.Namespace, out: TextIO) -> int:
    url = store_url(args)
    if url is None:
        print(f"error: usage: give the store with --store URL or {STORE_ENV}", file=sys.stderr)
        return 2
    kinds = ("safety", "convergence") if args.all else ("safety",)
    chosen = [inv for inv in INVARIANTS if inv.kind in kinds]
    ledger = None
    if args.fake_books is not None:
        try:
            ledger = _fake_ledger(args.fake_books)
        except (OSError, fake_state.FakeStateUnreadable) as exc:
            print(f"error: cannot read the fake provider's books: {exc}", file=sys.stderr)
            return 2
    started = time.perf_counter()
    try:
        opened = open_store(url)
        try:
            reading = _clock(opened.store)
            with snapshot_of(opened.store) as snapshot:
                found, unchecked = run_checks(snapshot, ledger, chosen)
        finally:
            opened.close()
    except PaycoreError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    checked = len(chosen) - len(unchecked)
    if args.json:
        doc = {
            "checked": [i.id for i in chosen if i.id not in unchecked],
            "not_checked_without_provider": unchecked,
            "violations": [
                {"invariant": v.invariant, "subject": v.subject, "detail": v.detail} for v in found
            ],
            "elapsed_s": round(elapsed, 3),
            "clock": None
            if reading is None
            else {
                "offset_ms": reading.offset_ms,
                "uncertainty_ms": reading.uncertainty_ms,
                "default_tolerance_ms": tolerance_ms(Config()),
            },
        }
        print(json.dumps(doc, indent=2), file=out)
    else:
        for v in found:
            print(f"VIOLATED {v}", file=out)
        print(
            f"{checked} invariants checked, {len(found)} violations; not checked without "
            f"the provider's books: {', '.join(unchecked) or 'none'} ({elapsed:.2f} s)",
            file=out,
        )
        if reading is not None:
            print(_clock_line(reading), file=out)
    return 1 if found else 0
