"""The demo's days on one SQLite file: the fake provider's books kept beside the store,
and what a run left in flight finished before the next day opens."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TextIO, cast

from paycore.config import MINUTE
from paycore.errors import PaycoreError, StoreError
from paycore.status import FlowStatus

from . import fake_state
from .fake_provider import FakeProvider
from .memory import EPOCH_MS, Wiring
from .sql import migrate

DAY_MS = 24 * 60 * MINUTE


class DemoBooksMissing(StoreError, code="demo_books_missing"):
    """The demo's store holds data but the fake provider's books beside it are missing:
    a store the demo did not make, or a shop whose intents and refunds exist nowhere."""


class DemoShopMissing(StoreError, code="demo_shop_missing"):
    """The fake provider's books are there but the demo's store beside them is new or
    empty: the books' payments would answer for a shop that no longer exists."""


class DemoStoreRefused(StoreError, code="demo_store_refused"):
    """The demo was given a store it never writes its made-up shop into (PostgreSQL)."""


def books_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".provider.json")


def resume(w: Wiring, store_path: Path, out: TextIO) -> int:
    """Put the fake provider's books back (saved after its every call from now on), finish
    what the last run left in flight, and move the clock to the next day's opening;
    return that day's number (1 on a new file)."""
    path = books_path(store_path)
    fresh = not path.exists()
    if fresh and _holds_rows(w.store):
        raise DemoBooksMissing(
            f"{store_path} holds data, but the demo's provider's books ({path}) are "
            "missing: a store the demo did not make, or books deleted; the demo runs only "
            "on a file of its own: give a new file"
        )
    if not fresh and not _holds_rows(w.store):
        raise DemoShopMissing(
            f"the demo's provider's books ({path}) are there but the shop's store "
            f"{store_path} is new or empty: delete the books too to start a new shop"
        )
    if not fresh:
        fake_state.loads(path.read_text(encoding="utf-8"), w.provider, w.clock)
    saving = fake_state.SavedAfterEveryCall(w.provider, w.clock, path)
    w.provider = cast(FakeProvider, saving)
    w.service.engine.provider = saving
    saving.save()
    if fresh:
        return 1
    day = (w.clock.now() - EPOCH_MS) // DAY_MS + 2
    # An hour before the day opens, or later: a run killed while finishing the last
    # one's flights saved a later time, and the clock never goes back.
    w.clock.advance(max(0, EPOCH_MS + (day - 1) * DAY_MS - 60 * MINUTE - w.clock.now()))
    _finish_in_flight(w, day, out)
    w.clock.advance(60 * MINUTE)
    return day


def _holds_rows(store: object) -> bool:
    """Whether any table of the SQLite store has a row (one row read a table at most)."""
    conn = getattr(store, "connection")()  # noqa: B009 - the SQLite store's
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    tables = [n for (n,) in names if n != migrate.TABLE]
    return any(conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{n}")').fetchone()[0] for n in tables)


def _finish_in_flight(w: Wiring, day: int, out: TextIO) -> None:
    """An hour before the day opens (every lease of the last run has lapsed): webhooks
    the provider still holds, the janitor and the jobs, until no flow is left active."""
    svc = w.service
    active = len(svc.flows(FlowStatus.ACTIVE))
    out.write(f"\n== Before day {day} opens: {active} flows left in flight by the last run\n")
    for _ in range(5):
        for event in w.provider.take_events():
            with contextlib.suppress(PaycoreError):  # recorded; the jobs finish it
                svc.handle_webhook(event)
        svc.run_janitor()
        svc.run_jobs()
        if not svc.flows(FlowStatus.ACTIVE):
            break
        w.clock.advance(MINUTE)
    left = len(svc.flows(FlowStatus.ACTIVE))
    out.write(f"   finished; {left} flows still active\n")
