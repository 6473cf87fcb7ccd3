"""How the background jobs take their work: rows claimed through the store
(:meth:`paycore.ports.Transaction.claim`), never a scan of every candidate.

On PostgreSQL a claim locks the rows it returns until the transaction ends and skips
the rows another open transaction holds (``FOR UPDATE SKIP LOCKED``): two instances
running the same job at once take different rows instead of colliding on the same
ones. On a store that runs one writing transaction at a time the claimer holds every
row anyway, and a job does what it did with ``find``: the same rows, in the same order.

A claim's lock lasts only as long as its transaction. What a job starts from a claim
lives longer (a flow, a message being sent) and is fenced by what fenced it before:
flow leases with version checks, unique flow ids, idempotency keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from paycore import schema as s
from paycore.records import Cursor
from paycore.schema import Table
from paycore.unit import Unit

T = TypeVar("T")


def each(
    u: Unit,
    table: Table[T],
    field: str,
    value: object,
    step: int,
    *,
    due: tuple[str, int] | None = None,
) -> Iterator[T]:
    """Claimed rows, in insertion order, each once: ``step`` at first, then twice as many
    each time the caller wants more (rows it passed over stay claimed). The caller
    stops when its batch is full, so a run costs what its batch holds, plus the rows it
    passed over, never the whole table."""
    seen: set[str] = set()
    limit = max(step, 1)
    while True:
        rows = u.claim(table, field, value, limit, due=due)
        for row in rows:
            key = table.key_of(row)
            if key not in seen:
                seen.add(key)
                yield row
        if len(rows) < limit:
            return
        limit *= 2


def take(
    u: Unit,
    job: str,
    table: Table[T],
    field: str,
    value: object,
    limit: int,
    *,
    due: tuple[str, int] | None = None,
) -> list[T]:
    """Up to ``limit`` claimed rows whose ``field`` is ``value`` (and, with ``due``, whose
    time field is at most the moment), in key order, going on after the job's cursor
    (the key of the last row its last run took) and wrapping around to the first:
    :func:`take_read` over rows claimed."""
    return take_read(
        u,
        job,
        lambda after, n: u.claim(table, field, value, n, due=due, after=after),
        table.key_of,
        limit,
    )


def take_read(
    u: Unit, job: str, read: Callable[[str, int], list[T]], key: Callable[[T], str], limit: int
) -> list[T]:
    """Up to ``limit`` rows of ``read``, going on after the job's cursor and wrapping
    around (:func:`following`); the cursor moves to the last row taken.

    The cursor row is claimed: the run that holds it moves it (in this transaction); a
    run of another instance at the same time finds it held, takes the rows after it
    that the first did not take, and leaves it where it is, so neither waits for the
    other.
    """
    if limit <= 0:
        return []
    name = f"batch:{job}"
    held = u.claim(s.CURSORS, "name", name, 1)
    cursor = held[0] if held else u.get(s.CURSORS, name)
    taken = following(read, key, (cursor.value or "") if cursor is not None else "", limit)
    if not taken:
        return []
    last = key(taken[-1])
    if cursor is None:
        u.create(s.CURSORS, Cursor(name, last))
    elif held and cursor.value != last:
        u.save(s.CURSORS, cursor, value=last)
    return taken


def cursor_of(u: Unit, job: str) -> str:
    """Where the job's cursor stands (``""``: at the start, or no run took anything yet)."""
    cursor = u.get(s.CURSORS, f"batch:{job}")
    return (cursor.value or "") if cursor is not None else ""


def put_back(u: Unit, job: str, moved_to: str, back_to: str) -> None:
    """Move the job's cursor back from ``moved_to`` (where this run's take left it) to
    ``back_to``, so the next run starts with the rows this one took and did not do;
    unless another run has moved it since (then that run's place stands)."""
    cursor = u.get(s.CURSORS, f"batch:{job}")
    if cursor is not None and cursor.value == moved_to and moved_to != back_to:
        u.save(s.CURSORS, cursor, value=back_to)


def following(
    read: Callable[[str, int], list[T]], key: Callable[[T], str], after: str, limit: int
) -> list[T]:
    """Up to ``limit`` rows in key order from the first key past ``after``, wrapping
    around to the first: ``read(after, n)`` gives at most ``n`` rows in key order past a
    key (``""``: from the first), so a run reads at most twice its batch, never the
    whole table. With no more rows than ``limit`` it is all of them, the last being the
    one at ``after`` (or before where it was)."""
    taken = read(after, limit)
    if len(taken) < limit and after:
        # Wrap around: the rows up to the cursor (they come first in key order).
        have = {key(row) for row in taken}
        more = read("", limit - len(taken))
        taken += [r for r in more if key(r) <= after and key(r) not in have]
    return taken
