"""The PostgreSQL store: several service instances on one database (psycopg 3 and
psycopg_pool, the ``postgresql`` extra).

* Every transaction is ``SERIALIZABLE``: PostgreSQL refuses the one of two concurrent
  transactions whose effects no serial order explains (SQLSTATE 40001), and breaks a
  deadlock by refusing one (40P01); a row lock waited on past the session's
  ``lock_timeout`` is refused too (55P03). Each becomes :class:`paycore.errors.StoreConflict`;
  the transaction rolled back whole and the engine runs it again from its start
  (``config.store_conflict_retries`` times at most).
* A unique or key violation (23505) is the port's ``IntegrityError`` with the fields the
  memory store gives (``table``, ``constraint`` as field names, ``key``); PostgreSQL
  aborts the transaction, and the scope rolls it back, as every store does.
* An error from ``COMMIT`` with the connection lost (or the server going away) is
  :class:`paycore.errors.CommitUnknown`: the commit may have happened. An error the
  server answered is a definite failure (``StoreConflict`` or ``OperationalError``).
* A snapshot reads in one ``SERIALIZABLE READ ONLY DEFERRABLE`` transaction: a state
  some serial order of the committed transactions produced, never a transient one a
  checker would misread as a violation (inside an open transaction of the same thread,
  not deferrable: see :meth:`PostgresStore.snapshot`). ``paycore check`` reads the same
  kind of transaction streamed instead (:meth:`PostgresStore.streamed`): server-side
  cursors in batches, lookups by key, never the whole database in memory.
* Connections come from a pool (``min_size``..``max_size``); one transaction holds
  one connection from its first statement to its commit. How they are set up (session
  timeouts, TCP keepalives) and replaced once dead: :mod:`.postgres_connect`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg import pq
from psycopg_pool import PoolTimeout

from paycore.errors import CommitUnknown, OperationalError, StoreConflict
from paycore.ports import Snapshot
from paycore.schema import TABLES

from ..memory_tables import content_key, fingerprint_of
from ..signing import Secret
from . import migrate, postgres_pipe, postgres_schema, server_clock
from .ddl import NATIVE_SEQUENCES, SEQUENCE_BLOCK, native_sequence, quote, ranked
from .dsn import shown as dsn_shown
from .kept import KeptRows
from .postgres_connect import (
    Pool,
    PooledTransaction,
    check_arguments,
    configure,
    opening,
    settings,
    why_not,
)
from .postgres_tx import (
    CONFLICTS,
    POSTGRES_TABLES,
    Conn,
    PostgresTransaction,
    lost,
    translate,
    unexpected_error,
)
from .streamed import BATCH, CACHE, StreamedSnapshot, postgres_view

#: How many times a snapshot taken inside a transaction is read again when refused.
SNAPSHOT_ATTEMPTS = 5


class PostgresStore:
    """A :class:`paycore.ports.Store` on a PostgreSQL database (``paycore_adapters.sql``).

    Args:
        dsn: a libpq connection string or ``postgresql://`` URL.
        min_size, max_size: the pool's connections (one per concurrent transaction).
        timeout: seconds to wait for a free connection before ``OperationalError``.
        migrate: apply pending migrations first (else a database that needs them is
            refused with the command to run).
        lock_timeout, idle_in_transaction_timeout: the sessions' timeouts in seconds
            (0: none); None: the URL's (``options=-c lock_timeout=2s``), else
            :mod:`.postgres_connect`'s defaults (5 s, 30 s).

    Raises:
        InvalidInput: an argument of the wrong kind or out of range (``field``).
        OperationalError: the database cannot be reached, or the URL is garbled.
        SchemaNotMigrated, SchemaTooNew: the database's schema is not this paycore's.
    """

    dialect = "postgresql"

    def __init__(
        self,
        dsn: str | Secret,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
        migrate: bool = False,
        lock_timeout: float | None = None,
        idle_in_transaction_timeout: float | None = None,
    ) -> None:
        pool, sessions = (min_size, max_size, timeout), (lock_timeout, idle_in_transaction_timeout)
        check_arguments(dsn, pool, migrate, sessions)  # InvalidInput before connecting
        self.dsn = dsn  # held as a Secret (the property below)
        del dsn  # from here on the URL is a Secret in every frame of this call
        #: What the connections are opened with: the URL, screened, with TCP keepalives.
        self._conninfo = opening(self._dsn)
        session = settings(self._dsn.reveal(), lock_timeout, idle_in_transaction_timeout)
        self._pool = Pool(
            self._conninfo.reveal,  # called at each connect: the pool keeps no plain copy
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            configure=configure(session),
            open=False,
        )
        self._local = threading.local()
        self._pid = os.getpid()  # the process whose server sessions the pool holds
        self._sql = POSTGRES_TABLES
        self._kept = KeptRows()  # rows that never change, kept across transactions
        #: Writes made to each table through this object, rolled back ones included.
        self.writes: Counter[str] = Counter()
        #: Native sequences drawn, by first query (``PostgresTransaction._begin_with``).
        self._draws: dict[str, tuple[str, ...]] = {}
        self.stats: dict[str, int] = {"commits": 0, "rollbacks": 0, "writes": 0, "conflicts": 0}
        try:
            # One connection first, so a wrong address, database or password is told at
            # once, in the server's words, instead of after the pool's timeout.
            psycopg.connect(self._conninfo.reveal(), connect_timeout=max(1, int(timeout))).close()
            self._pool.open(wait=True, timeout=timeout)
        except (psycopg.Error, PoolTimeout) as exc:
            self._pool.close()
            reason = f"cannot connect to the PostgreSQL store {self}: {exc}"
            raise OperationalError(reason) from None
        try:
            self._open_schema(migrate)
        except BaseException:
            self._pool.close()
            raise

    @property
    def dsn(self) -> str:
        """The URL the store was opened with, password and all: for the point of use only
        (a tool's own connection beside the store). The store holds it as a
        :class:`~paycore_adapters.signing.Secret`, which no repr, ``vars()`` or error
        tracker's recorded locals shows."""
        return self._dsn.reveal()

    @dsn.setter
    def dsn(self, value: str | Secret) -> None:
        self._dsn = Secret.of(value)

    def __repr__(self) -> str:  # never raises, never shows the password: dsn.shown
        return f"PostgresStore({dsn_shown(self._dsn.reveal())})"

    def close(self) -> None:
        if self._pid == os.getpid():  # in a forked child, the sessions are the parent's
            self._pool.close()

    def closer(self) -> Callable[[], None]:
        """What closes this store's connections without holding the store (for a
        finalizer that runs once the store is dropped)."""
        pid, close = self._pid, self._pool.close
        return lambda: None if os.getpid() != pid else close()

    def _here(self) -> None:
        """Refuse a process forked after the store opened: its pool holds the parent's
        server sessions (a child using one would run inside the parent's transactions)
        and none of the pool's threads."""
        if self._pid != os.getpid():
            raise OperationalError(
                f"the PostgreSQL store {self} was opened in process {self._pid}, which "
                "then forked this one: open the store after forking (in each worker "
                "process of a pre-forking server, not before: no --preload)"
            )

    def _renew(self, dead: Conn) -> Conn:
        """A fresh connection for a transaction whose connection died (given back, and
        every connection as old replaced: ``Pool.renew``)."""
        self._pool.renew(dead)
        return self._getconn()

    def _getconn(self) -> Conn:
        self._here()
        try:
            return self._pool.checkout()  # one not already dead (postgres_connect.alive)
        except PoolTimeout as exc:
            why = why_not(self._pool, self._conninfo)  # the pool only logs libpq's reason
            raise OperationalError(f"no connection to the PostgreSQL store: {exc}; {why}") from None

    # --- schema ------------------------------------------------------------------------

    def schema_version(self) -> int:
        with self._read_only(False, "reading the schema version failed") as conn:
            return postgres_schema.version(conn)

    def migrate(self) -> list[int]:
        """Apply every pending migration (:func:`.postgres_schema.migrate`); the versions
        applied."""
        return postgres_schema.migrate(self._conninfo.reveal(), f"the PostgreSQL store {self}")

    def _open_schema(self, apply: bool) -> None:
        if apply:
            self.migrate()
        migrate.require_latest(
            self.dialect, self.schema_version(), f"the PostgreSQL store {self}",
            "paycore migrate --store URL (with its URL)",
        )  # fmt: skip

    # --- the port ----------------------------------------------------------------------

    def transaction(self) -> _Scope:
        return _Scope(self)

    def snapshot(self) -> Snapshot:
        """Every table's committed rows, read in one serializable read-only transaction.

        Outside a transaction it is ``DEFERRABLE``: PostgreSQL waits until no open writer
        can contradict it. Inside one of this thread's transactions that wait would never
        end (the writer is this thread), so the snapshot is taken at once; PostgreSQL then
        refuses it (40001) rather than show a state no serial order explains, and it is
        read again, a few times at most."""
        deferrable = not getattr(self._local, "open", False)
        for _ in range(SNAPSHOT_ATTEMPTS - 1):
            with contextlib.suppress(StoreConflict):
                return Snapshot(self._read_all(deferrable))
        return Snapshot(self._read_all(deferrable))  # the last attempt's refusal is raised

    def _read_all(self, deferrable: bool) -> dict[str, dict[str, object]]:
        with self._read_only(deferrable) as conn:
            return {name: sql.all_rows(conn) for name, sql in self._sql.items()}

    @contextlib.contextmanager
    def _read_only(self, deferrable: bool, doing: str = "snapshot failed") -> Iterator[Conn]:
        """A pooled connection in a ``READ ONLY`` transaction (``DEFERRABLE`` if asked),
        rolled back and given back at the end; a driver error is the port's."""
        conn = self._getconn()
        try:
            conn.read_only, conn.deferrable = True, deferrable
            yield conn
        except psycopg.Error as exc:
            raise translate(exc, doing) from None
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
                conn.read_only = conn.deferrable = False
            self._pool.putconn(conn)

    @contextlib.contextmanager
    def streamed(self, *, batch: int = BATCH, cache: int = CACHE) -> Iterator[StreamedSnapshot]:
        """One ``SERIALIZABLE READ ONLY`` transaction on a pooled connection, each table
        read through a server-side cursor ``batch`` rows at a time, ``cache`` rows looked
        up kept at most (:mod:`paycore_adapters.sql.streamed`): what ``paycore check``
        reads a big store through. ``DEFERRABLE`` as :meth:`snapshot` is; inside one of
        this thread's transactions it is not, and a refusal (40001) while reading is
        raised as ``StoreConflict`` (rows already given cannot be read again)."""
        with self._read_only(not getattr(self._local, "open", False)) as conn:
            # A check may pause inside its snapshot (reading the provider's books again):
            # no idle timeout for this read-only transaction, which holds no lock.
            conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
            conn.execute("SELECT 1 FROM paycore_sequences LIMIT 1")  # the instant
            yield postgres_view(conn, self._sql, batch=batch, cache=cache)

    def server_readings(self, local: Callable[[], int], n: int) -> list[tuple[int, int, int]]:
        """``clock_skew.ServerTimed``, on one pooled connection (``server_clock``)."""
        with self._read_only(False) as conn:
            return server_clock.readings(conn, local, n)

    def sequences(self) -> dict[str, int]:
        """Each sequence drawn from, with a number no number it gave exceeds and the next
        draw does: the last one given for a row of ``paycore_sequences``, the end of the
        last block drawn for a native sequence."""
        self._here()
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT name, value FROM paycore_sequences").fetchall()
            out = {str(name): int(value) for name, value in rows}
            for name in NATIVE_SEQUENCES:
                seq = quote(native_sequence(name))
                found = conn.execute(f"SELECT last_value, is_called FROM {seq}").fetchone()
                if found is not None and found[1]:
                    out[name] = int(found[0]) + SEQUENCE_BLOCK - 1
        return out

    def fingerprint(self) -> str:
        """SHA-256 of all committed content, in the memory store's canonical form."""
        return fingerprint_of(*ranked(self.snapshot().tables, self.sequences()))

    def state_key(self, row_key: Callable[[Any], object] | None = None) -> object:
        """Everything that decides what this store does next (``memory_tables.content_key``):
        what the harness's explorer tells states apart by. No ``clone``: the explorer
        rebuilds a state on PostgreSQL by replaying its path (``method="replay"``)."""
        return content_key(*ranked(self.snapshot().tables, self.sequences()))

    def emptied(self) -> None:
        """Its database was emptied behind its back (the harness reuses databases):
        forget the rows it keeps, and count from zero as a new store does."""
        self._kept.forget()
        self.writes.clear()
        self.stats.update(dict.fromkeys(self.stats, 0))

    def table_versions(self) -> dict[str, int]:
        return {t.name: self.writes[t.name] for t in TABLES}


class _Scope:
    """The ``with`` block of one transaction: a pooled connection from start to end."""

    __slots__ = ("store", "tx")

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    @property
    def conn(self) -> Conn:
        """The transaction's (another if its first went dead: ``PooledTransaction``)."""
        return self.tx.conn  # type: ignore[no-any-return]

    def __enter__(self) -> PostgresTransaction:
        store = self.store
        if getattr(store._local, "open", False):
            raise RuntimeError("a transaction is already open in this thread; nesting is a bug")
        conn = store._getconn()
        store._local.open = True
        self.tx = PooledTransaction(
            conn, store._renew, store._sql, store.writes, store._kept, store._draws
        )
        return self.tx

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        store, tx, conn = self.store, self.tx, self.conn
        tx.closed = True
        tx.remember_draws()
        store._local.open = False
        try:
            if exc_type is not None or tx.failed is not None:
                _rollback(conn)
                store.stats["rollbacks"] += 1
                if isinstance(exc, StoreConflict):
                    store.stats["conflicts"] += 1
                if exc_type is None and tx.failed is not None:
                    raise tx.rolled_back()
                return
            _finish(store, tx, conn)
            if not tx.committed:  # else it went with the last writes
                _commit(store, conn)
            tx.kept_after_commit()
        finally:
            store._pool.putconn(conn)
        store.stats["commits"] += 1
        if tx.wrote:
            store.stats["writes"] += 1


def _finish(store: PostgresStore, tx: PostgresTransaction, conn: Conn) -> None:
    """What the transaction left for its end (log rows, sequences); a failure there
    rolls it back."""
    try:
        tx.finish()
    except BaseException as exc:
        _rollback(conn)
        store.stats["rollbacks"] += 1
        if isinstance(exc, StoreConflict):
            store.stats["conflicts"] += 1
        raise


def _commit(store: PostgresStore, conn: Conn) -> None:
    """``COMMIT`` (on libpq: psycopg's ``Connection.commit`` costs several times the CPU);
    nothing to send for a transaction that ran no statement."""
    try:
        if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
            postgres_pipe.command(conn, b"COMMIT")
    except psycopg.Error as exc:
        _rollback(conn)
        if exc.sqlstate in CONFLICTS:
            store.stats["conflicts"] += 1
            raise translate(exc, "the commit was refused") from None
        if lost(conn, exc):
            raise CommitUnknown(
                f"the connection was lost while committing; the commit may have happened: {exc}"
            ) from None
        raise OperationalError(f"the commit failed: {exc}") from None
    except Exception as exc:  # of no driver's, once COMMIT was sent: cut mid-exchange,
        conn.close()  # the connection is not used again (the pool replaces it)
        raise unexpected_error(exc, True) from None


def _rollback(conn: Conn) -> None:
    with contextlib.suppress(psycopg.Error):  # a broken connection committed nothing
        conn.rollback()


__all__ = ["PostgresStore", "PostgresTransaction"]
