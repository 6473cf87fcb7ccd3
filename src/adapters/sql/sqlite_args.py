"""What the SQLite store is opened with, checked before anything is opened, and the words
for a file it cannot open.

Every argument of :class:`~paycore_adapters.sql.sqlite_store.SQLiteStore` is refused up
front, typed and by name (``InvalidInput``, ``field``): a truthy string is no decision to
migrate, a negative busy timeout is no timeout. A file that does not exist is refused
unless the store is to create it (``migrate=True``). Only one connection may create the
file: the first of a store asked to migrate, the one that migrates it as it opens
(``mode=rwc``). Every other connection opens the file as it is (``mode=rw``,
https://www.sqlite.org/uri.html): a thread's, a snapshot's reader and the checkpoint
thread's, also on a store that was asked to migrate; a store opened ``read_only``
(``paycore check``'s) opens every connection so that it only reads (:mod:`.sqlite_read`:
``mode=ro`` when a ``-wal`` is there, else ``mode=rw`` with ``query_only``). So
a refused open leaves no empty file behind in place of the one meant, and a file removed
under a running store is an error on every connection opened after, never a new empty
store. (A connection opened before the removal keeps the removed file open, as any
open file: SQLite cannot tell.) Before any connection opens, a path that is not a regular
file is refused; each connection refuses a file that is another program's database
(:mod:`.foreign`) before anything else runs on it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from paycore import catalog, wiring
from paycore.errors import InvalidInput, OperationalError, StoreError

from .foreign import refuse_foreign_on
from .sqlite_errors import failed
from .sqlite_read import QUERY_ONLY, read_uri

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
#: The longest busy timeout taken, in milliseconds (a day): longer is a mistake.
MAX_BUSY_TIMEOUT_MS = 86_400_000
#: The most commits between two checkpoints taken.
MAX_CHECKPOINT_EVERY = 1_000_000


class StoreFileMissing(StoreError, FileNotFoundError, code="store_file_missing"):
    """The store file named does not exist and nothing was asked to create it, or its
    folder does not exist (SQLite creates a store's file, never its folder)."""


def checked(
    path: object,
    synchronous: object,
    busy_timeout_ms: object,
    migrate: object,
    checkpoint_every: object,
) -> tuple[Path, str]:
    """The store's file, resolved, and its ``synchronous`` setting in capitals, once every
    argument is one the store takes.

    Raises:
        InvalidInput: an argument of the wrong kind or out of range (``field``).
        StoreFileMissing: no file at ``path`` and ``migrate`` is false, or no folder
            for it (``path`` in ``fields``: the file, resolved).
    """
    text = os.fspath(path) if isinstance(path, str | os.PathLike) else None
    if not isinstance(text, str) or not text.strip() or text == ":memory:":
        raise InvalidInput("a SQLite store is a file: name its path", field="path")
    if text.startswith("file:"):
        raise InvalidInput("a SQLite store is a file: name its path, not a URI", field="path")
    if not isinstance(synchronous, str) or synchronous.upper() not in SYNCHRONOUS:
        raise InvalidInput(
            f"synchronous must be one of {', '.join(SYNCHRONOUS)}", field="synchronous"
        )
    wiring.whole_number("busy_timeout_ms", busy_timeout_ms, high=MAX_BUSY_TIMEOUT_MS)
    if checkpoint_every is not None:
        wiring.whole_number("checkpoint_every", checkpoint_every, low=1, high=MAX_CHECKPOINT_EVERY)
    create = catalog.flag("migrate", migrate)
    resolved = Path(text).resolve()  # once: a later chdir must not move the store
    if resolved.is_dir():
        raise InvalidInput(f"{resolved} is a folder: name the store's file", field="path")
    if resolved.exists() and not resolved.is_file():  # never opened: it could block, or
        raise InvalidInput(  # SQLite would make FILE-journal beside a device
            f"{resolved} is not a regular file (a device, a FIFO or a socket): name the "
            "store's file",
            field="path",
        )
    folder = resolved.parent
    if not folder.is_dir():  # SQLite creates a store's file, never its folder
        raise StoreFileMissing(
            f"no SQLite store file at {resolved}: {_no_folder(folder)}: name the file of an "
            f"existing store, or make the folder first to create one there",
            path=str(resolved),
        )
    if not create and not resolved.exists():
        raise StoreFileMissing(
            f"no SQLite store file at {resolved}: name an existing store, or create one "
            f"(`paycore migrate --store sqlite:{resolved}` makes a new one)",
            path=str(resolved),
        )
    return resolved, synchronous.upper()


def _no_folder(folder: Path) -> str:
    return f"the folder {folder} {'is not a folder' if folder.exists() else 'does not exist'}"


def uri(path: Path, create: bool, read_only: bool = False) -> str:
    """The URI a connection opens ``path`` by: ``mode=rw`` (never made anew), or, with
    ``create``, ``rwc``: only for the first connection of a store asked to migrate; with
    ``read_only`` (``paycore check``'s), :func:`.sqlite_read.read_uri`'s: ``mode=ro``
    when a ``-wal`` is there, else ``mode=rw`` with ``query_only`` (:func:`prepare`)."""
    if read_only:
        return read_uri(path)
    return f"{path.as_uri()}?mode={'rwc' if create else 'rw'}"


def prepare(conn: sqlite3.Connection, path: Path, read_only: bool) -> None:
    """A store's new connection to ``path``, before anything else runs on it: one that
    only reads gets ``query_only``; then any refuses another program's database
    (:func:`.foreign.refuse_foreign_on`, closing ``conn``: reading the table list writes
    nothing of paycore's), and one that may write puts the file in WAL.

    Raises:
        StoreNotPaycore: the file is another program's database.
        sqlite3.Error: the file could not be read.
    """
    if read_only:
        conn.execute(QUERY_ONLY)
    refuse_foreign_on(conn, path)
    if not read_only:
        conn.execute("PRAGMA journal_mode=WAL")


def cannot_open(exc: sqlite3.Error, path: Path, create: bool = False) -> OperationalError:
    """The store's error for a connection to ``path`` that could not be opened (``create``:
    the one connection that may create the file): SQLite's words, which say only "unable
    to open database file", and what they mean here, with ``path`` in ``fields``:

    * the folder does not exist (removed under a running store, or never made);
    * the file does not exist (removed or moved under a running store): it is never made
      anew, see the module's docstring;
    * the folder cannot be written: in WAL mode SQLite creates ``-wal`` and ``-shm`` files
      beside the store even to read it, so a store in a read-only folder cannot be opened
      at all, by ``paycore check`` either.
    """
    err = failed(exc, f"cannot open the SQLite store at {path}")
    if type(err) is not OperationalError:  # a damaged file: its own words
        return err
    if not path.parent.is_dir():
        why = f": {_no_folder(path.parent)}"
    elif not create and not path.exists():
        why = (
            ": the file is not there any more (removed or moved while the store was open), "
            "and paycore never makes it anew: stop every instance using it and put the "
            "store back, or restore it from a backup (docs/operations.md)"
        )
    elif not os.access(path.parent, os.W_OK):
        why = (
            f": the folder {path.parent} cannot be written, and SQLite needs to create "
            f"{path.name}-wal and {path.name}-shm beside the store even to read it: let "
            "paycore's user write to the folder (or copy the store to one it can write to)"
        )
    else:
        why = ""
    return OperationalError(f"{err.message}{why}", path=str(path))
