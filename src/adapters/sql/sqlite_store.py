"""The SQLite store: paycore's embedded default, one file on disk.

* WAL journal; every transaction ``BEGIN IMMEDIATE``, so writers serialize on the
  database's lock (waiting up to ``busy_timeout_ms``) and a transaction never has to
  be upgraded from reading to writing half-way (no lock upgrade deadlock).
* ``synchronous=FULL`` by default: a committed payment survives a power cut, not only
  a crash of the process. ``NORMAL`` keeps every commit through a process crash and
  may lose the last ones to a power cut; it is a choice for the operator to make
  (``sqlite:PATH?synchronous=NORMAL``), never paycore's default for money.
* Checkpoints of the write-ahead log run on a thread of their own, every
  ``checkpoint_every`` commits, instead of inside the commit that happens to fill the
  log (:mod:`paycore_adapters.sql.checkpointer`); ``checkpoint_every=None`` keeps
  SQLite's own, inside commits.
* One connection per thread, opened on first use; a snapshot reads through a second
  one, so it sees only committed data even while this thread's transaction is open;
  ``paycore check`` reads one read transaction streamed instead, on a connection of its
  own (:meth:`SQLiteStore.streamed`).
* Errors at the edge: a unique or key violation is the port's ``IntegrityError``
  (the transaction is then rolled back, as on the other stores); a lock not granted
  within the timeout, a full disk or an I/O error is ``OperationalError``, a damaged
  file ``StoreDamaged``, not retryable (:mod:`.sqlite_errors`); at ``COMMIT`` a full
  disk, a lock or a read-only file (nothing committed), else ``CommitUnknown``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from paycore.ports import Snapshot
from paycore.schema import TABLES

from ..memory_tables import content_key, fingerprint_of
from . import migrate
from .checkpointer import BOUND, LOG_LIMIT, Checkpointer
from .kept import KeptRows
from .sqlite_args import cannot_open, checked, prepare, uri
from .sqlite_errors import failed
from .sqlite_tx import SQLITE_TABLES, SQLiteTransaction, commit_failed, rollback
from .streamed import BATCH, CACHE, StreamedSnapshot, sqlite_view

T = TypeVar("T")

#: Commits between two checkpoints of the log (:mod:`.checkpointer`): a lifecycle's
#: seven commits change about 70 pages, so about 1,000 pages a checkpoint.
CHECKPOINT_EVERY = 100


class SQLiteStore:
    """A :class:`paycore.ports.Store` in one SQLite file (``paycore_adapters.sql``)."""

    dialect = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 10_000,
        migrate: bool = False,
        checkpoint_every: int | None = CHECKPOINT_EVERY,
        read_only: bool = False,
    ) -> None:
        # Every argument checked and the file found (unless made) before anything opens;
        # ``read_only`` (``paycore check``'s): connections that only read, no checkpoints.
        self.path, self.synchronous = checked(
            path, synchronous, busy_timeout_ms, migrate, checkpoint_every
        )
        self.read_only = read_only is True  # only _open_schema's connection may create it
        self._uri = uri(self.path, create=False, read_only=self.read_only)
        self.busy_timeout_ms = busy_timeout_ms
        every = None if self.read_only else checkpoint_every
        self.checkpoints = (
            None if every is None else Checkpointer(self.path, every, busy_timeout_ms)
        )
        self._local = threading.local()
        #: Every connection open, with the thread it serves (None: closed by its user).
        self._connections: list[tuple[threading.Thread | None, sqlite3.Connection]] = []
        self._guard = threading.Lock()
        #: The process that opened the connections, and those a forked child inherited:
        #: kept, never used (https://www.sqlite.org/howtocorrupt.html, 2.6) and never
        #: closed (the collector would close them if dropped).
        self._pid, self._inherited = os.getpid(), list[sqlite3.Connection]()
        self._kept = KeptRows()  # rows that never change, kept across transactions
        self._sql = SQLITE_TABLES
        #: Writes made to each table through this object, rolled back ones included (what
        #: the harness re-checks by; other processes' writes are not counted).
        self.writes: Counter[str] = Counter()
        self.stats: dict[str, int] = {"commits": 0, "rollbacks": 0, "writes": 0}
        self.disposable = False
        self._open_schema(migrate)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, synchronous={self.synchronous})"

    # --- connections -------------------------------------------------------------------

    def _connect(self, owned: bool = True, create: bool = False) -> sqlite3.Connection:
        """A new connection; ``owned``: the calling thread's, closed once it has ended;
        ``create``: the one that may create the file (:mod:`.sqlite_args`)."""
        try:
            # Each connection is used by the thread that opened it; only close() may come
            # from another, so the driver's same-thread check is off.
            conn = sqlite3.connect(
                uri(self.path, create=True) if create else self._uri,
                uri=True,
                isolation_level=None,
                timeout=self.busy_timeout_ms / 1000,
                check_same_thread=False,
            )
            prepare(conn, self.path, self.read_only)  # query_only, or refuse foreign + WAL
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            if self.checkpoints is not None:  # the thread checkpoints; this is the bound
                conn.execute(f"PRAGMA wal_autocheckpoint={BOUND}")
                conn.execute(f"PRAGMA journal_size_limit={LOG_LIMIT}")
        except sqlite3.Error as exc:
            raise cannot_open(exc, self.path, create) from None
        owner = threading.current_thread() if owned else None
        ended: list[tuple[threading.Thread | None, sqlite3.Connection]] = []
        with self._guard:
            live: list[tuple[threading.Thread | None, sqlite3.Connection]] = []
            for t, c in self._connections:  # one pass: each thread asked once
                (live if t is None or t.is_alive() else ended).append((t, c))
            self._connections[:] = [*live, (owner, conn)]
        for _, old in ended:  # an ended thread cannot be inside a transaction
            old.close()
        return conn

    def _here(self) -> None:
        """In a process forked after this store connected: set the parent's connections
        aside and start anew (the thread that forked is the child's only one until it
        starts others, and the parent's threads may have held the guard)."""
        if self._pid == os.getpid():
            return
        with _FORKED:
            if self._pid != os.getpid():
                self._inherited += [c for _, c in self._connections]
                self._guard, self._connections = threading.Lock(), []
                self._local, self._pid = threading.local(), os.getpid()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection for transactions."""
        self._here()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _reader(self) -> sqlite3.Connection:
        self._here()
        conn: sqlite3.Connection | None = getattr(self._local, "reader", None)
        if conn is None:
            conn = self._local.reader = self._connect()
        return conn

    def close(self) -> None:
        """Close every connection this store opened (in any thread), after the checkpoint
        its thread may be running (in a forked child, only the child's own)."""
        self._here()
        if self.checkpoints is not None:
            self.checkpoints.close()
        with self._guard:
            conns = [c for _, c in self._connections]
            self._connections.clear()
        for conn in conns:
            conn.close()
        self._local = threading.local()

    # --- schema ------------------------------------------------------------------------

    def schema_version(self) -> int:
        conn = self.connection()
        try:
            exists = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"
            found = conn.execute(exists, (migrate.TABLE,)).fetchone()
            row = found and conn.execute(f"SELECT max(version) FROM {migrate.TABLE}").fetchone()
        except sqlite3.Error as exc:  # a damaged file: the opener's store_file_unreadable
            raise failed(exc, "reading the schema version failed") from None
        return int(row[0] or 0) if row else 0

    def migrate(self) -> list[int]:
        """Apply every pending migration, each in its own transaction; the versions applied."""
        conn, done = self.connection(), list[int]()
        table = f"{migrate.TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
        try:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table}")
        except sqlite3.Error as exc:  # a damaged file
            raise failed(exc, "migrating failed") from None
        for mig in migrate.pending(self.dialect, self.schema_version()):
            script = (
                f"BEGIN IMMEDIATE;\n{mig.sql}\n"
                f"INSERT INTO {migrate.TABLE} VALUES ({mig.version}, '{mig.name}');\nCOMMIT;"
            )
            try:
                conn.executescript(script)
            except sqlite3.Error as exc:
                rollback(conn)
                if self.schema_version() >= mig.version:  # another opener applied it first
                    continue
                raise failed(exc, f"migration {mig.version} failed") from None
            done.append(mig.version)
        return done

    def _open_schema(self, apply: bool) -> None:
        if apply and not self.read_only:  # this thread's first one, which may create the file
            self._local.conn = self._connect(create=True)
            self.migrate()
        migrate.require_latest(
            self.dialect, self.schema_version(), f"the SQLite store at {self.path}",
            f"paycore migrate --store sqlite:{self.path}",
        )  # fmt: skip

    # --- the port ----------------------------------------------------------------------

    def transaction(self) -> _Scope:
        return _Scope(self)

    def snapshot(self) -> Snapshot:
        """Every table's committed rows, read in one read transaction."""
        conn = self._reader()
        try:
            conn.execute("BEGIN")
            try:
                tables = {name: sql.all_rows(conn) for name, sql in self._sql.items()}
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise failed(exc, "snapshot failed") from None
        return Snapshot(tables)

    @contextlib.contextmanager
    def streamed(self, *, batch: int = BATCH, cache: int = CACHE) -> Iterator[StreamedSnapshot]:
        """One read transaction on a connection of its own, read in batches of ``batch``
        rows, ``cache`` rows looked up kept at most (:mod:`paycore_adapters.sql.streamed`):
        what ``paycore check`` reads a big store through. WAL gives the transaction the
        database as it was at its first read while writers go on."""
        self._here()
        conn = self._connect(owned=False)
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM paycore_sequences").fetchone()  # the instant
            yield sqlite_view(conn, self._sql, batch=batch, cache=cache)
        except sqlite3.Error as exc:
            raise failed(exc, "snapshot failed") from None
        finally:
            with self._guard:
                self._connections[:] = [(t, c) for t, c in self._connections if c is not conn]
            conn.close()  # ends the read transaction

    def sequences(self) -> dict[str, int]:
        try:
            rows = self._reader().execute("SELECT name, value FROM paycore_sequences")
            return dict(rows.fetchall())
        except sqlite3.Error as exc:
            raise failed(exc, "reading the sequences failed") from None

    def fingerprint(self) -> str:
        """SHA-256 of all committed content, in the memory store's canonical form."""
        return fingerprint_of(self.snapshot().tables, self.sequences())

    def count(self, name: str, wrote: bool = False) -> None:
        """Count an ended transaction in :attr:`stats` (threads end them at once)."""
        with self._guard:
            self.stats[name] += 1
            if wrote:
                self.stats["writes"] += 1

    def table_versions(self) -> dict[str, int]:
        return {t.name: self.writes[t.name] for t in TABLES}

    # --- for the harness's explorer ----------------------------------------------------

    def clone(self) -> SQLiteStore:
        """An independent store in a new file beside this one, holding this one's committed
        content, with its counters (the explorer copies a world per successor state). A
        clone of a disposable store is disposable too (:meth:`dispose_when_dropped`)."""
        path = self.path.with_name(f"{self.path.stem}.{next(_CLONES)}.db")
        target = sqlite3.connect(path)
        try:
            self._reader().backup(target)
        finally:
            target.close()
        every = None if self.checkpoints is None else self.checkpoints.every
        twin = SQLiteStore(
            path,
            synchronous=self.synchronous,
            busy_timeout_ms=self.busy_timeout_ms,
            checkpoint_every=every,
        )
        twin.writes, twin.stats = Counter(self.writes), dict(self.stats)
        if self.disposable:
            twin.dispose_when_dropped()
        return twin

    def __deepcopy__(self, memo: dict[int, Any]) -> SQLiteStore:
        return self.clone()

    def state_key(self, row_key: Callable[[Any], object] | None = None) -> object:
        """Everything that decides what this store does next (``memory_tables.content_key``)."""
        return content_key(self.snapshot().tables, self.sequences())

    def dispose_when_dropped(self) -> None:
        """Close this store's connections and delete its files once nothing refers to it
        any more (for the harness's throwaway stores)."""
        self._here()
        self.disposable = True
        pid = self._pid
        weakref.finalize(self, _dispose, self._connections, self.path, self.checkpoints, pid)


class _Scope:
    """The ``with`` block of one transaction."""

    __slots__ = ("conn", "store", "tx")

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def __enter__(self) -> SQLiteTransaction:
        store = self.store
        conn = store.connection()
        local = store._local
        if getattr(local, "open", False):
            raise RuntimeError("a transaction is already open in this thread; nesting is a bug")
        self.conn = conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise failed(exc, "could not begin a transaction") from None
        local.open = True
        self.tx = SQLiteTransaction(conn, store._sql, store.writes, store._kept)
        return self.tx

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        store, tx, conn = self.store, self.tx, self.conn
        tx.closed = True
        store._local.open = False
        if exc_type is not None or tx.failed is not None:
            rollback(conn)
            store.count("rollbacks")
            if exc_type is None and tx.failed is not None:
                raise tx.rolled_back()
            return
        try:
            tx.finish()
        except BaseException:
            rollback(conn)
            store.count("rollbacks")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            rollback(conn)
            raise commit_failed(exc) from None
        store.count("commits", tx.wrote)
        tx.kept_after_commit()
        if tx.wrote and store.checkpoints is not None:
            store.checkpoints.committed()


_CLONES = itertools.count(1)
#: Serializes setting a forked child's store up anew; made anew in every child.
_FORKED = threading.Lock()


def _fork_guard() -> None:
    global _FORKED
    _FORKED = threading.Lock()


os.register_at_fork(after_in_child=_fork_guard)


def _dispose(
    connections: list[tuple[threading.Thread | None, sqlite3.Connection]],
    path: Path,
    checkpoints: Checkpointer | None,
    pid: int,
) -> None:
    if pid != os.getpid():  # a forked child's exit: the files and connections are the parent's
        return
    if checkpoints is not None:
        checkpoints.close()
    for _, conn in connections:
        conn.close()
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


__all__ = ["SQLiteStore", "SQLiteTransaction"]
