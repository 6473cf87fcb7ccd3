"""The demo's days on one SQLite file: the fake provider's books kept beside the store,
what a run left in flight finished before the next day opens, and one run at a time on
a file (:func:`alone`)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO, cast

from paycore import schema as s
from paycore.config import MINUTE, Config
from paycore.errors import PaycoreError, StoreError
from paycore.ports import Store, Tokens
from paycore.records import Flow
from paycore.status import FlowStatus
from paycore.tokens import SeededTokens

from . import fake_state
from .fake_provider import FakeProvider
from .memory import EPOCH_MS, Wiring
from .sql import migrate
from .sql.sqlite_errors import failed
from .stores import StoreFileUnreadable

DAY_MS = 24 * 60 * MINUTE


class DemoBooksMissing(StoreError, code="demo_books_missing"):
    """The demo's store holds data but the fake provider's books beside it are missing:
    a store the demo did not make, or a shop whose intents and refunds exist nowhere."""


class DemoShopMissing(StoreError, code="demo_shop_missing"):
    """The fake provider's books are there but the demo's store beside them is new or
    empty: the books' payments would answer for a shop that no longer exists."""


class DemoStoreRefused(StoreError, code="demo_store_refused"):
    """The demo was given a store it never writes its made-up shop into (PostgreSQL)."""


class DemoBusy(StoreError, code="demo_busy"):
    """Another `paycore demo` is running on this store file: a second run at the same
    time would keep books of its own over the same shop, so it is refused before it reads
    or writes anything. Wait for the other run to end (a killed run holds nothing)."""


def books_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".provider.json")


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".demo-lock")


@contextlib.contextmanager
def alone(store_path: Path) -> Iterator[None]:
    """Run the block as the only demo run on ``store_path``, or raise :class:`DemoBusy`
    at once. The lock is the process's (``flock`` on ``PATH.demo-lock``): the system
    drops it when the process ends, killed or not. The lock file is removed on the way
    out, while still locked; a run that opened it just before finds it gone and opens
    the new one, so two runs never hold two files each believing it is alone."""
    path = lock_path(store_path)
    fd = _lock(store_path, path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _lock(store_path: Path, path: Path) -> int:
    """The locked descriptor of the lock file at ``path`` (the file there now)."""
    while True:  # again only if a run ended between our open and our lock
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreFileUnreadable(
                f"cannot make the demo's lock file {path} ({exc.strerror}): the store's "
                "folder must exist and be writable"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with contextlib.suppress(FileNotFoundError):
                if _same_file(os.stat(path), os.fstat(fd)):
                    return fd
        except BlockingIOError:
            os.close(fd)
            raise DemoBusy(
                f"another `paycore demo` is running on {store_path}: wait for it to end, "
                "or give another file",
                path=str(store_path),
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreFileUnreadable(
                f"cannot lock the demo's lock file {path} ({exc.strerror})"
            ) from None
        os.close(fd)


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_files(store: Store, store_path: Path) -> bool:
    """Before the day is wired: the store and the books beside it must be one shop's, both
    there (a later day) or neither (the first). Returns whether the shop is new: no books,
    or books holding nothing but the account's set-up beside an empty store (a first run
    killed after its first save of the books and before the shop's first row: no call
    for the shop was made yet, so nothing in the store can be missing from the books,
    and the books are written afresh).

    Raises:
        DemoBooksMissing: the store holds data, its books are missing.
        DemoShopMissing: the books hold a shop's calls, the store is new or empty.
        StoreDamaged: the store's file is damaged."""
    path = books_path(store_path)
    fresh = not path.exists()
    if fresh and _holds_rows(store):
        raise DemoBooksMissing(
            f"{store_path} holds data, but the demo's provider's books ({path}) are "
            "missing: a store the demo did not make, or books deleted; the demo runs only "
            "on a file of its own: give a new file"
        )
    if not fresh and not _holds_rows(store):
        if _only_set_up(path):
            return True
        raise DemoShopMissing(
            f"the demo's provider's books ({path}) are there but the shop's store "
            f"{store_path} is new or empty: delete the books too to start a new shop"
        )
    return fresh


#: The books' lists and maps that any call for a shop leaves something in (the set-up
#: of the shop's account leaves only ``accounts``, ``seq`` and the clock).
_CALLS_KEPT = ("intents", "refunds", "saved", "events", "undelivered", "reversals")


def _only_set_up(path: Path) -> bool:
    """Whether the books at ``path`` hold nothing but accounts set up (no intent, refund,
    kept answer or event); False for books that cannot be read as such."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    if not isinstance(doc, dict) or doc.get("format") != fake_state.FORMAT:
        return False
    return all(isinstance(doc.get(k), list | dict) and not doc[k] for k in _CALLS_KEPT)


def tokens(store: Store) -> Tokens:
    """The run's random tokens (installation id, payment and refund references).

    A new shop draws ``SeededTokens(0)``, so day 1 replays exactly. A later run draws a
    sequence seeded from what the store holds when it starts: its installation and every
    payment's and refund's reference. Every reference a run keeps is among them (a new
    payment's or refund's, or one a checkout drew again for its payment), so a run (a
    killed one too) that kept any leaves the next run another seed, and no reference is
    drawn twice; the same file replays the same run."""
    with store.transaction() as tx:
        installation = tx.get(s.INSTALLATION, "this")
        if installation is None:
            return SeededTokens(0)
        held = [installation.id]
        held += sorted(str(p.reference) for p in tx.scan(s.PAYMENTS))
        held += sorted(str(r.reference) for r in tx.scan(s.REFUNDS))
    digest = hashlib.sha256(" ".join(held).encode()).digest()
    return SeededTokens(int.from_bytes(digest[:8], "big"))


def resume(w: Wiring, store_path: Path, out: TextIO, *, fresh: bool) -> int:
    """Put the fake provider's books back (saved after its every call from now on), finish
    what the last run left in flight, and move the clock to the next day's opening;
    return that day's number (1 for a new shop, ``fresh``: its books are written anew).
    The files were checked (:func:`check_files` says whether the shop is new)."""
    path = books_path(store_path)
    if not fresh:
        fake_state.loads(path.read_text(encoding="utf-8"), w.provider, w.clock)
    saving = fake_state.SavedAfterEveryCall(w.provider, w.clock, path)
    w.provider = cast(FakeProvider, saving)
    w.service.engine.provider = saving
    saving.save()
    if fresh:
        return 1
    day = (w.clock.now() - EPOCH_MS) // DAY_MS + 2
    opening = EPOCH_MS + (day - 1) * DAY_MS
    # An hour before the day opens, or later: a run killed while finishing the last
    # one's flights saved a later time, and the clock never goes back.
    w.clock.advance(max(0, opening - 60 * MINUTE - w.clock.now()))
    _finish_in_flight(w, day, out)
    # The day opens at its hour, or at once after a catch-up that took longer.
    w.clock.advance(max(0, opening - w.clock.now()))
    return day


def _holds_rows(store: object) -> bool:
    """Whether any table of the SQLite store has a row (one row read a table at most).

    Raises:
        StoreDamaged: the file is damaged (read outside the store's own translation)."""
    conn = getattr(store, "connection")()  # noqa: B009 - the SQLite store's
    try:
        names = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        tables = [n for (n,) in names if n != migrate.TABLE]
        return any(
            conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{n}")').fetchone()[0] for n in tables
        )
    except sqlite3.Error as exc:
        raise failed(exc, "reading the demo's store failed") from None


#: At most this many catch-up rounds before a day opens (each one delivers the webhooks
#: the provider holds, runs the janitor and the jobs, then moves the clock on).
CATCH_UP_ROUNDS = 36


def catch_up_step_ms(config: Config) -> int:
    """The most one catch-up round moves the clock: a flow that asked first waits out
    ``create_landing_ms`` before it sends again, its retry comes within
    ``backoff_cap_ms``, and a lease the killed run held lapses within ``lease_ms``. With
    :data:`CATCH_UP_ROUNDS` this bounds the whole catch-up (12 hours by default)."""
    return config.create_landing_ms + config.backoff_cap_ms + config.lease_ms


def _finish_in_flight(w: Wiring, day: int, out: TextIO) -> None:
    """Before the day opens (every lease of the last run has lapsed): webhooks the
    provider still holds, the janitor and the jobs, round after round until no flow is
    left active. Each round moves the clock to the earliest time an active flow is due
    (its retry, its lease's end), at least a minute and at most
    :func:`catch_up_step_ms`; at most :data:`CATCH_UP_ROUNDS` rounds. A flow left in
    flight by a run killed during a provider call asks the provider first (its key is a
    day old), waits for a lost request to land, then sends again: minutes of the
    clock, which a fixed few rounds of a minute did not cover."""
    svc = w.service
    before = svc.flows(FlowStatus.ACTIVE)
    out.write(f"\n== Before day {day} opens: {len(before)} flows left in flight by the last run\n")
    longest = catch_up_step_ms(svc.config)
    left = before
    for _ in range(CATCH_UP_ROUNDS if before else 0):
        for event in w.provider.take_events():
            with contextlib.suppress(PaycoreError):  # recorded; the jobs finish it
                svc.handle_webhook(event)
        svc.run_janitor()
        svc.run_jobs()
        left = svc.flows(FlowStatus.ACTIVE)
        if not left:
            break
        w.clock.advance(_until_due(left, w.clock.now(), longest))
    active = {f.id for f in left}
    for flow in before:
        if flow.id not in active:
            out.write(f"   {flow.id}: {svc.flow(flow.id).status.value} (was at {flow.step})\n")
    for flow in left:
        out.write(f"   {flow.id} still active at {flow.step}: {flow.last_error or ''}\n")
    out.write(f"   finished; {len(left)} flows still active\n")


def _until_due(flows: list[Flow], now: int, longest: int) -> int:
    """How far to move the clock for the next round: to the earliest time one of
    ``flows`` can run again (its ``next_run_at``, or its lease's end if later), at
    least a minute (a flow due now that did not run waits on something else) and at
    most ``longest``."""
    due = min(max(f.next_run_at, f.lease_until) for f in flows)
    return min(max(due - now, MINUTE), longest)
