"""Batches that move on: a job's run takes the rows after where its last run stopped.

A job bounded to ``job_batch`` rows per run that always took the first rows would
never reach the rest while those first rows stay as they are (a debit the bank
keeps processing, a refund it keeps pending, a message the notifier refuses).
:func:`take` keeps a durable cursor per job, the key of the last row taken, so
each run goes on after it and wraps around to the start: with ``n`` rows, every
row is taken at least once in every ``ceil(n / job_batch)`` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from paycore import schema as s
from paycore.records import Cursor
from paycore.unit import Unit

T = TypeVar("T")


def take(u: Unit, job: str, rows: Sequence[T], *, key: Callable[[T], str], limit: int) -> list[T]:
    """Up to ``limit`` of ``rows``, in key order, starting after the job's cursor.

    The cursor moves to the last row taken, in the same transaction as the
    caller's read of ``rows``. Rows that joined or left since the last run are
    fine: the cursor is a key, not a position.
    """
    if limit <= 0 or not rows:
        return []
    cursor = u.get(s.CURSORS, f"batch:{job}")
    taken = following(rows, key=key, after=cursor.value if cursor else None, limit=limit)
    last = key(taken[-1])
    if cursor is None:
        u.create(s.CURSORS, Cursor(f"batch:{job}", last))
    elif cursor.value != last:
        u.save(s.CURSORS, cursor, value=last)
    return taken


def following(
    rows: Sequence[T], *, key: Callable[[T], str], after: str | None, limit: int
) -> list[T]:
    """Up to ``limit`` of ``rows`` in key order, starting after the key ``after`` and
    wrapping around to the first. With no more rows than ``limit`` it is all of them,
    the last being the one at ``after`` (or before where it was), so a cursor moved to
    the last row taken stays where it is from run to run."""
    ordered = sorted(rows, key=key)
    start = (
        0
        if after is None
        else next((i for i, row in enumerate(ordered) if key(row) > after), len(ordered))
    )
    return (ordered[start:] + ordered[:start])[:limit]
