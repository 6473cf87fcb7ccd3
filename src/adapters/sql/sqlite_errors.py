"""The SQLite driver's errors as the port's: which failure a retry can get past.

A lock not granted, a full disk or an I/O error is the port's ``OperationalError``
(``store_unavailable``, retryable: the same call may succeed later). A damaged file is
not: SQLite says ``SQLITE_CORRUPT`` ("database disk image is malformed") or
``SQLITE_NOTADB`` for it whenever a statement meets the damaged pages, and will say so
on every later try. That is :class:`StoreDamaged`, whose message tells the operator
what to do (docs/operations.md, "The SQLite files").
"""

from __future__ import annotations

import sqlite3

from paycore.errors import OperationalError

#: SQLite's primary result codes of a damaged file (any extended code of theirs).
DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})

_RESTORE = (
    "the SQLite file is damaged (or is not a database): stop every instance using it "
    "and restore it from a backup (docs/operations.md)"
)


class StoreDamaged(OperationalError, code="store_damaged"):
    """The SQLite store's file is damaged or is not a database: retrying cannot help; stop
    every instance on it and restore it from a backup. An ``OperationalError`` still, so
    the flows treat it as the store failing (nothing of the step kept, no strike against
    the flow), but not retryable."""

    retryable = False


def damaged(exc: sqlite3.Error) -> bool:
    """``exc`` says the file is damaged (:data:`DAMAGED`)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in DAMAGED


def failed(exc: sqlite3.Error, what: str) -> OperationalError:
    """The port's error for ``exc``, raised while doing ``what``: :class:`StoreDamaged`
    for a damaged file, else ``OperationalError``."""
    if damaged(exc):
        name = getattr(exc, "sqlite_errorname", "SQLITE_CORRUPT")
        return StoreDamaged(f"{what}: {exc}: {_RESTORE}", sqlite_error=name)
    return OperationalError(f"{what}: {exc}")
