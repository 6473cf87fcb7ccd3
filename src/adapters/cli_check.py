"""`paycore check --store URL`: the invariant catalog, run read-only against a live store.

One consistent snapshot of the store (a read transaction; on SQLite and PostgreSQL
read in batches through cursors rather than loaded whole), every safety invariant
over it (``--all``: the convergence ones too, meaningful once the system is quiet),
the violations printed, exit status 1 if there are any. A SQLite file is first read
whole by ``PRAGMA quick_check`` (:mod:`paycore_adapters.sqlite_damage`): a damaged file
is reported as such, exit status 3, and no invariant is run over it.

The provider's side of the books comes from Stripe with ``--provider stripe`` (the key
from ``$STRIPE_SECRET_KEY``, never from the command line): the intents created within
``--window-hours`` and their refunds (:mod:`paycore_adapters.provider_books`), read
before the store's snapshot, so that every intent read was made before it; a violation
found is confirmed against the books read again after the snapshot
(:func:`run_confirmed`), since an object read before it may have moved on since (an
intent canceled, then its order). Over such a window only the safety invariants use the
books, which say where they begin (``Ledger.since``): ``recorded-intent-exists`` looks
only for the intents of payments made well inside it. The demo's fake provider's books
may be given whole with ``--fake-books``. Without either, the invariants that compare the
store with the provider's books are reported as not checked, by name, rather than run
against an empty ledger (which would report every payment as missing at the provider).

``memory`` is refused (exit 2): it would be a new, empty store of this command's own,
whose check always passed (:func:`paycore_adapters.stores.refuse_unshared`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO, cast

import attrs

from paycore.config import Config
from paycore.errors import InvalidInput, PaycoreError
from paycore.invariants import INVARIANTS, BooksUnavailable, Invariant, Ledger, Violation
from paycore.ports import IntentView, RefundView, SnapshotView, Store

from . import fake_state
from .cli_errors import FileUnreadable
from .cli_ops import store_url, usage
from .clock_skew import ServerTimed, SkewReading, measure, tolerance_ms
from .fake_provider import FakeProvider
from .memory import ManualClock
from .provider_books import WINDOWED, window_ledger
from .runtime import SystemClock
from .sql.unreadable import FINDING, Unreadable
from .sqlite_damage import damage
from .stores import STORE_ENV, open_store, parse_url, refuse_unshared
from .stripe_provider import KEY_ENV, StripeProvider

#: How far back ``--provider`` reads the provider's intents by default: the reconciler's
#: window (``Config.reconcile_window_ms``).
DEFAULT_WINDOW_HOURS = Config().reconcile_window_ms // 3_600_000


#: Seconds a PostgreSQL check waits for its snapshot before saying so on stderr.
WAIT_NOTE_S = 3.0

#: The exit status of a check that found the store's file damaged (0: no violation;
#: 1: violations; 2: the check could not run).
DAMAGED = 3


class LedgerUnavailable(BooksUnavailable):
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
        help=f"sqlite:PATH, postgresql://..., json:PATH or a file path (default: ${STORE_ENV})",
    )
    p.add_argument("--all", action="store_true", help="the convergence invariants too")
    books = p.add_mutually_exclusive_group()
    books.add_argument(
        "--fake-books",
        default=None,
        help="the demo's fake provider's books (PATH.provider.json) as the provider's side",
    )
    books.add_argument(
        "--provider",
        choices=("stripe",),
        default=None,
        help=f"read the provider's side from Stripe (the key from ${KEY_ENV})",
    )
    p.add_argument(
        "--window-hours",
        type=int,
        default=DEFAULT_WINDOW_HOURS,
        help="with --provider: the intents created this many hours back (default: %(default)s)",
    )
    p.add_argument("--stripe-api-base", default=None, help=argparse.SUPPRESS)  # an emulator
    p.add_argument(
        "--no-connect",
        action="store_true",
        help="with --provider: the shop charges its own account, not sellers' (no Connect)",
    )
    p.add_argument("--json", action="store_true")


@contextlib.contextmanager
def snapshot_of(store: object) -> Iterator[SnapshotView]:
    """The store as the checks read it: a SQL store's streamed snapshot (one read
    transaction, read in batches: :mod:`paycore_adapters.sql.streamed`), so a big
    database is never held whole; any other store's :class:`~paycore.ports.Snapshot`.
    On PostgreSQL a line on stderr says so when the snapshot is not there after
    :data:`WAIT_NOTE_S` (``DEFERRABLE``: it waits for other sessions' serializable
    writers to end)."""
    streamed = getattr(store, "streamed", None)
    if not callable(streamed):
        yield cast(Store, store).snapshot()
        return
    with contextlib.ExitStack() as stack:
        note = _wait_note() if getattr(store, "dialect", None) == "postgresql" else None
        try:
            view = stack.enter_context(streamed())
        finally:
            if note is not None:
                note.cancel()
        yield view


def _wait_note() -> threading.Timer:
    def say() -> None:
        print(
            f"waiting for a safe snapshot (for {WAIT_NOTE_S:g} s so far): "
            "another session holds a SERIALIZABLE transaction that writes; the check "
            "starts when it ends (pg_stat_activity shows it)",
            file=sys.stderr,
            flush=True,
        )

    timer = threading.Timer(WAIT_NOTE_S, say)
    timer.daemon = True
    timer.start()
    return timer


def unreadable_rows(snapshot: SnapshotView) -> list[Violation]:
    """The rows the snapshot could not read as their records, as ``record-readable``
    findings (:mod:`paycore_adapters.sql.unreadable`): a streamed SQL snapshot skips them
    and the invariants go on without them; other snapshots hold records only."""
    kept: dict[Any, Unreadable] = getattr(snapshot, "unreadable", {})
    return [u.violation() for u in kept.values()]


def run_checks(
    snapshot: SnapshotView,
    ledger: Ledger | None,
    invariants: Sequence[Invariant],
    ledger_kinds: frozenset[str] | None = None,
) -> tuple[list[Violation], list[str]]:
    """(every violation, the ids of the invariants that needed a ledger not given).
    ``ledger_kinds``: the invariant kinds the ledger is given to (None: every kind); the
    others run without it, as when none is given."""
    none = cast(Ledger, _NoLedger(int(time.time() * 1000)))
    found: list[Violation] = []
    unchecked: list[str] = []
    for inv in invariants:
        given = ledger if ledger_kinds is None or inv.kind in ledger_kinds else None
        try:
            found.extend(inv.check(snapshot, given if given is not None else none))
        except LedgerUnavailable:
            unchecked.append(inv.id)
    return found, unchecked


def run_confirmed(
    snapshot: SnapshotView,
    ledger: Ledger | None,
    invariants: Sequence[Invariant],
    ledger_kinds: frozenset[str] | None,
    reread: Callable[[], Ledger] | None,
) -> tuple[list[Violation], list[str]]:
    """:func:`run_checks`, with each violation of an invariant that reads the provider's
    books confirmed against the books read again after the snapshot (``reread``; None:
    the books cannot change meanwhile). Books read before the snapshot may show an object
    as it was before the store moved on (an intent still live whose order the snapshot
    shows canceled, the intent having been canceled first): such a violation is reported
    only if it holds against the books on both sides of the snapshot, by invariant and
    subject. A violation of an invariant that reads only the store stands as found, and
    the books are read again only when there is something to confirm."""
    found, unchecked = run_checks(snapshot, ledger, invariants, ledger_kinds)
    if not found or reread is None:
        return found, unchecked
    flagged = [i for i in invariants if i.id in {v.invariant for v in found}]
    _, reading = run_checks(snapshot, None, flagged)  # the flagged that read the books
    if not reading:
        return found, unchecked
    again, _ = run_checks(snapshot, reread(), [i for i in flagged if i.id in reading], ledger_kinds)
    holds = {(v.invariant, v.subject) for v in again}
    kept = [v for v in found if v.invariant not in reading or (v.invariant, v.subject) in holds]
    return kept, unchecked


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


@attrs.frozen
class _Books:
    """The provider's books the arguments name: the ledger, the invariant kinds it serves
    (None: all), and how to read it again (None: a file, which does not change)."""

    ledger: Ledger | None = None
    kinds: frozenset[str] | None = None
    reread: Callable[[], Ledger] | None = None


def _books(args: argparse.Namespace) -> _Books:
    """Raises PaycoreError: the provider or the books file could not be read."""
    if args.fake_books is not None:
        try:
            return _Books(_fake_ledger(args.fake_books))
        except (OSError, UnicodeDecodeError, fake_state.FakeStateUnreadable) as exc:
            raise FileUnreadable(f"cannot read the fake provider's books: {exc}") from None
    if args.provider is None:
        return _Books()
    if args.window_hours < 1:
        raise InvalidInput("--window-hours must be at least 1", field="window_hours")
    connect = not args.no_connect
    provider = StripeProvider.from_settings(api_base=args.stripe_api_base, connect=connect)
    since = int(time.time() * 1000) - args.window_hours * 3_600_000

    def read() -> Ledger:  # from one start, however late it is read again
        books = window_ledger(provider, since, int(time.time() * 1000), connect=connect)
        return attrs.evolve(books, since=since)  # a window: older intents are not in it

    return _Books(read(), WINDOWED, read)


def check(args: argparse.Namespace, out: TextIO) -> int:
    url = store_url(args)
    if url is None:
        return usage()
    kinds = ("safety", "convergence") if args.all else ("safety",)
    chosen = [inv for inv in INVARIANTS if inv.kind in kinds]
    started = time.perf_counter()
    try:
        refuse_unshared(url, "check")
        damaged = _damaged_file(url)
        if damaged is not None:
            _report_damage(args, out, *damaged)
            return DAMAGED
        books = _books(args)  # before the snapshot: see the module's doc
        opened = open_store(url, read_only=True)  # SQLite: connections that only read
        try:
            reading = _clock(opened.store)
            with snapshot_of(opened.store) as snapshot:
                found, unchecked = run_confirmed(
                    snapshot, books.ledger, chosen, books.kinds, books.reread
                )
                found = unreadable_rows(snapshot) + found
        finally:
            opened.close()
    except PaycoreError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    _report(args, out, chosen, found, unchecked, elapsed, reading)
    return 1 if found else 0


def _damaged_file(url: str) -> tuple[Path, list[str]] | None:
    """(the file, what ``PRAGMA quick_check`` found) for a SQLite store whose file is
    damaged; None for a sound file, a missing one (opening it says so) or another store.
    Raises PaycoreError for a URL that names nothing, as opening the store would."""
    parsed = parse_url(url)
    if parsed.kind != "sqlite" or parsed.path is None or not parsed.path.is_file():
        return None
    try:
        found = damage(parsed.path)
    except sqlite3.Error:
        return None  # not damage (a lock, an I/O error): opening the store reports it
    return None if found is None else (parsed.path.resolve(), found)


def _report_damage(args: argparse.Namespace, out: TextIO, path: Path, found: list[str]) -> None:
    advice = (
        "the file is damaged: stop every instance and restore it from a backup "
        '(docs/operations.md, "Backing up and restoring a SQLite store"); '
        "no invariant was checked"
    )
    if args.json:
        doc = {"store_damaged": {"path": str(path), "quick_check": found, "advice": advice}}
        print(json.dumps({**doc, "checked": [], "violations": []}, indent=2), file=out)
        return
    print(f"DAMAGED store_damaged: {path}: PRAGMA quick_check found:", file=out)
    for line in found:
        print(f"  {line}", file=out)
    print(advice, file=out)


def _report(
    args: argparse.Namespace,
    out: TextIO,
    chosen: Sequence[Invariant],
    found: Sequence[Violation],
    unchecked: Sequence[str],
    elapsed: float,
    reading: SkewReading | None,
) -> None:
    checked = len(chosen) - len(unchecked)
    if args.json:
        doc = {
            "checked": [i.id for i in chosen if i.id not in unchecked],
            "not_checked_without_provider": list(unchecked),
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
        return
    for v in found:
        print(f"VIOLATED {v}", file=out)
    unreadable = sum(v.invariant == FINDING for v in found)
    if unreadable:
        print(
            f"{unreadable} rows could not be read as their records: the invariants ran "
            "without them, so rows that refer to them may be reported above as missing",
            file=out,
        )
    why = "over a window of" if args.provider is not None else "without"
    print(
        f"{checked} invariants checked, {len(found)} violations; not checked {why} "
        f"the provider's books: {', '.join(unchecked) or 'none'} ({elapsed:.2f} s)",
        file=out,
    )
    if reading is not None:
        print(_clock_line(reading), file=out)
