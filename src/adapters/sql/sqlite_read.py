"""How paycore opens a SQLite file it only reads: ``paycore check``'s ``PRAGMA
quick_check`` and its read-only store (``read_only``).

One rule for all of them (:func:`read_uri`):

* ``PATH-wal`` exists: ``mode=ro``. The log is a crashed writer's, or a live service's
  that owns the files; a read-only connection never checkpoints it into the file as it
  closes, so the file and its log stay as they were for whoever looks next.
* otherwise: ``mode=rw`` with ``PRAGMA query_only=ON``. No statement can write, but the
  connection recovers a hot rollback journal another program's crash left (as any opener
  does: a ``mode=ro`` one cannot, and fails), and the last one to close removes the
  ``-wal`` and ``-shm`` that reading a WAL file made. A ``mode=ro`` connection leaves
  them, and made by another account (an operator's ``paycore check``) they can keep the
  service from writing its store (``attempt to write a readonly database``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

#: What every connection that only reads runs first (redundant with ``mode=ro``).
QUERY_ONLY = "PRAGMA query_only=ON"


def read_uri(path: Path) -> str:
    """The URI a connection that only reads ``path`` opens it by (the module's rule)."""
    wal = path.with_name(f"{path.name}-wal")
    return f"{path.as_uri()}?mode={'ro' if wal.exists() else 'rw'}"


def open_to_read(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection to ``path`` that only reads (:func:`read_uri`, :data:`QUERY_ONLY`).

    Raises:
        sqlite3.Error: the file could not be opened.
    """
    conn = sqlite3.connect(read_uri(path), uri=True, timeout=busy_timeout_ms / 1000)
    try:
        conn.execute(QUERY_ONLY)
    except sqlite3.Error:
        conn.close()
        raise
    return conn
