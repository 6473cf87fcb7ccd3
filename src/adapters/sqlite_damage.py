"""Is a SQLite store's file damaged? ``PRAGMA quick_check``, read-only, before a check.

A damaged file is not something the store notices by itself: the jobs and the checkouts
read only the pages they need, and a page they never read can be malformed for as long
as nobody reads it (a backup copied over a file whose old ``-wal`` was left beside it is
the common way to get one: docs/operations.md, "Backing up and restoring a SQLite
store"). ``paycore check`` asks SQLite to read every page first.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .sql.sqlite_errors import damaged
from .sql.sqlite_read import open_to_read

#: How many of quick_check's lines a report repeats.
SHOWN = 5


def damage(path: Path, busy_timeout_ms: int = 10_000) -> list[str] | None:
    """What ``PRAGMA quick_check`` finds wrong with the SQLite file at ``path`` (at most
    :data:`SHOWN` lines), or None when it finds it sound.

    The file is opened by a connection that only reads (:mod:`.sql.sqlite_read`): the
    check writes nothing, a crashed writer's ``-wal`` is never checkpointed into the file,
    and no ``-wal``/``-shm`` is left behind that was not there. An error that does not
    say the file is damaged (a lock held past ``busy_timeout_ms``, a missing file, an I/O
    error) is raised as the ``sqlite3.Error`` it is."""
    try:
        conn = open_to_read(path.resolve(), busy_timeout_ms)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if not damaged(exc):
            raise
        return [f"{exc} ({getattr(exc, 'sqlite_errorname', 'SQLITE_CORRUPT')})"]
    lines = [str(row[0]) for row in rows]
    if lines == ["ok"]:
        return None
    more = len(lines) - SHOWN
    return lines[:SHOWN] + ([f"... and {more} more"] if more > 0 else [])
