"""One PostgreSQL transaction of :class:`paycore_adapters.sql.postgres_store.PostgresStore`:
the shared SQL transaction (:mod:`paycore_adapters.sql.transaction`) on psycopg, and the
translation of the driver's errors into the port's.

The statements are written once per table. A query inside an open transaction runs on
libpq directly (:meth:`PostgresTransaction._query`): prepared once per connection under a
name of this module's, its values sent as text, its rows loaded by psycopg's own loaders
(the connection's ``Transformer``), its errors raised as psycopg's. That costs about half
the CPU of ``Cursor.execute``, whose Python layer (query conversion, preparation
bookkeeping, generators) was most of a lifecycle's driver time. The first statement of a
transaction goes in one libpq pipeline with its ``BEGIN`` (one round trip, where
psycopg sends ``BEGIN`` on its own and waits for it); the writes and the commit go in
one libpq pipeline (:mod:`~paycore_adapters.sql.postgres_pipe`), and a commit on its
own as one libpq command. psycopg's cursor and pipeline run only a statement with a
value of a type psycopg adapts (none of the store's lookups). psycopg prepares nothing
on the store's connections (``prepare_threshold`` is None): it deallocates every statement of the
session (``DEALLOCATE ALL``) at a rollback once it prepared its own, and this module's
with them.
"""

from __future__ import annotations

import itertools
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import psycopg
import psycopg.abc
from psycopg import errors as pgerrors
from psycopg import pq
from psycopg.adapt import Transformer
from psycopg.rows import TupleRow

from paycore.errors import CommitUnknown
from paycore.schema import TABLES

from . import postgres_pipe
from .ddl import NATIVE_SEQUENCES, POSTGRESQL, SEQUENCE_BLOCK, native_sequence
from .kept import KeptRows

# Kept importable from here (the store's and the snapshot's modules import them so).
from .postgres_errors import CONFLICTS as CONFLICTS
from .postgres_errors import encoded
from .postgres_errors import lost as lost
from .postgres_errors import translate as translate
from .postgres_errors import unexpected_error as unexpected_error
from .postgres_pipe import PipelineFailed, numbered
from .statements import TableSql
from .transaction import Refused, SqlTransaction, Write, log_run

Conn = psycopg.Connection[TupleRow]

#: The most log rows one INSERT carries (a row of the widest table has a few dozen values).
ROWS_PER_INSERT = 500


#: Per connection: the statements prepared on it by :meth:`PostgresTransaction._query`,
#: by SQL text, and their names (the connection's own; gone with the connection).
_PREPARED: weakref.WeakKeyDictionary[Any, dict[str, bytes]] = weakref.WeakKeyDictionary()


#: The names of those statements: never one twice in a process, so that a statement
#: made again after the session lost some (``DEALLOCATE ALL``) takes no name still held.
_NAMES = itertools.count()

_IDLE, _INTRANS = pq.TransactionStatus.IDLE, pq.TransactionStatus.INTRANS
#: Draws a block of a native sequence (its name the value).
NEXTVAL = "SELECT nextval(%s)"


class Rows(list[tuple[Any, ...]]):
    """A query's rows, read as a cursor's are (``fetchone``, iteration)."""

    def fetchone(self) -> tuple[Any, ...] | None:
        return self[0] if self else None


def postgres_sql(table: Any) -> TableSql:
    """``table``'s statements for PostgreSQL (``%s`` placeholders, JSON cast to jsonb)."""
    return TableSql(table, POSTGRESQL, "%s")


#: Every table's statements, written once per process and shared by every store.
POSTGRES_TABLES: dict[str, TableSql] = {t.name: postgres_sql(t) for t in TABLES}


class PostgresTransaction(SqlTransaction):
    """A :class:`paycore.ports.Transaction` on one pooled connection, inside a
    ``SERIALIZABLE`` transaction."""

    integrity = psycopg.IntegrityError
    placeholder = "%s"

    def __init__(
        self,
        conn: Any,
        sql: dict[str, TableSql],
        writes: Counter[str],
        kept: KeptRows | None = None,
        draws: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        super().__init__(conn, sql, writes, kept)
        #: The store's: by a transaction's first query, the native sequences the last
        #: transaction that began with it drew from (:meth:`_begin_with`).
        self.draws = draws
        #: This transaction's first query (None: it began with writes), and the native
        #: sequences it drew from.
        self.first: str | None = None
        self._drew: set[str] = set()
        #: per native sequence: [the last number given, the last of the block drawn]
        self._blocks: dict[str, list[int]] = {}
        #: The cursor every query of the transaction runs on, made at the first: making
        #: one per statement (``Connection.execute``) costs about half again the driver's
        #: own time per statement, and every caller reads its rows before the next.
        self._cursor: psycopg.Cursor[TupleRow] | None = None
        #: Loads the rows of :meth:`_query` (made at its first).
        self._loader: psycopg.abc.Transformer | None = None
        #: The statements prepared on the connection (:meth:`_names`, looked up once).
        self._prepared: dict[str, bytes] | None = None

    def next_seq(self, name: str) -> int:
        """The log tables' sequences (:data:`~paycore_adapters.sql.ddl.NATIVE_SEQUENCES`)
        come from the server's sequence objects, a block of ``SEQUENCE_BLOCK`` numbers per
        draw: ``nextval`` is outside every transaction, so concurrent transactions never
        conflict over it, where the row of ``paycore_sequences`` that nearly every
        writing transaction bumped made SERIALIZABLE run them one at a time. The price:
        numbers skipped (the rest of a block, a rolled-back transaction's), which the
        port allows; order within one aggregate's history is kept, as a transaction
        that changes a row draws after every transaction that changed it before had
        committed."""
        if name not in NATIVE_SEQUENCES:
            return super().next_seq(name)
        if self.closed or self.failed is not None:
            self._check()
        self.wrote = True
        self._drew.add(name)
        block = self._blocks.get(name)
        if block is not None and block[0] < block[1]:
            block[0] += 1
            return block[0]
        (drawn,) = self._run(NEXTVAL, (native_sequence(name),)).fetchone() or (0,)
        first = int(drawn)
        self._blocks[name] = [first, first + SEQUENCE_BLOCK - 1]
        return first

    def _run(self, sql: str, args: tuple[Any, ...]) -> Any:
        """``sql``'s rows (the transaction's cursor, or :class:`Rows`): read them before
        the next statement."""
        status = self.conn.pgconn.transaction_status
        if status in (_INTRANS, _IDLE):
            values = encoded(args)
            if values is not None:
                return self._query(sql, values, status == _IDLE)
        try:
            cur = self._cursor
            if cur is None:
                cur = self._cursor = self.conn.cursor()
            return cur.execute(sql, args)
        except psycopg.IntegrityError:  # SQLSTATE class 23: the caller names the constraint
            raise
        except psycopg.Error as exc:
            raise translate(exc, "a statement failed") from None

    def _query(self, sql: str, values: list[bytes | None], begin: bool = False) -> Rows:
        """Run ``sql`` on libpq, prepared on this connection at its first use (and the
        transaction's ``BEGIN`` before it in one pipeline, if ``begin``); its rows, loaded
        by the connection's loaders (the types psycopg gives). A refused constraint raises
        psycopg's ``IntegrityError``; any other error the port's."""
        conn = self.conn
        try:
            names = self._prepared or self._names()
            if begin:
                res = self._begin_with(names, sql, values)
            else:
                name = names.get(sql)
                if name is None:
                    name = _new_name()
                    _check(conn, conn.pgconn.prepare(name, numbered(sql)))
                    names[sql] = name
                res = _check(conn, conn.pgconn.exec_prepared(name, values))
        except psycopg.IntegrityError:
            raise
        except psycopg.Error as exc:
            self._lost(exc)
            raise translate(exc, "a statement failed") from None
        except postgres_pipe.Unexpected as unexpected:  # a read's pipeline commits nothing
            raise unexpected_error(unexpected.exc, False) from None
        loader = self._loader
        if loader is None:
            loader = self._loader = Transformer(conn)
        loader.set_pgresult(res)
        return Rows(loader.load_rows(0, res.ntuples, tuple))

    def _begin_with(
        self, names: dict[str, bytes], sql: str, values: list[bytes | None]
    ) -> pq.abc.PGresult:
        """``BEGIN`` and the transaction's first query in one pipeline; the query's result.

        The pipeline also draws a block of each native sequence that the last of the
        store's transactions to begin with the same query drew from (a transaction is
        known by its first query: creating an intent, confirming it, taking in an event),
        so its draws cost no exchange of their own. A block drawn and not used is a gap,
        which the log allows. It is drawn after the query, which took the transaction's
        snapshot, so the order :meth:`next_seq` keeps holds: every transaction that
        changed a row this one changes committed before that snapshot, and drew before
        it committed."""
        self.first = sql
        seqs = self.draws.get(sql, ()) if self.draws is not None else ()
        batch: list[postgres_pipe.Statement] = [(sql, values)]
        batch += [(NEXTVAL, [native_sequence(n).encode()]) for n in seqs]
        try:
            res, *drawn = postgres_pipe.run(self.conn, names, _new_name, batch, False, True)
        except PipelineFailed as failed:
            raise failed.exc from None
        for name, got in zip(seqs, drawn, strict=True):
            first = int(got.get_value(0, 0) or 0)
            self._blocks[name] = [first - 1, first + SEQUENCE_BLOCK - 1]
        return res

    def remember_draws(self) -> None:
        """At the end: tell the store which native sequences a transaction that begins as
        this one did draws from."""
        if self.first is not None and self.draws is not None:
            self.draws[self.first] = tuple(sorted(self._drew))

    def _lost(self, exc: psycopg.Error) -> None:
        """A statement named was gone (SQLSTATE 26000: someone deallocated the session's
        statements): every one is made again, under new names."""
        if exc.sqlstate == "26000":
            _PREPARED.pop(self.conn, None)
            self._prepared = None

    def _names(self) -> dict[str, bytes]:
        """The statements prepared on this connection, by SQL."""
        names = _PREPARED.get(self.conn)
        if names is None:
            names = _PREPARED[self.conn] = {}
        self._prepared = names
        return names

    def _send(self, writes: Sequence[Write], commit: bool) -> list[int]:
        """Every write, and the commit if asked, in one pipeline: one round trip. The
        server stops at the first error; the writes it ran have their results, so the
        first without one is the write refused. The pipeline is libpq's
        (:mod:`~paycore_adapters.sql.postgres_pipe`), with the transaction's ``BEGIN``
        first if none is open yet; psycopg's for a value of a type psycopg adapts."""
        conn = self.conn
        status = conn.pgconn.transaction_status
        statements = list(_statements(writes))
        if status in (_INTRANS, _IDLE):
            batch: list[postgres_pipe.Statement] = []
            for _, _, sql, args in statements:
                values = encoded(args)
                if values is None:
                    break  # a value psycopg adapts
                batch.append((sql, values))
            else:
                return self._pipeline(statements, len(writes), batch, commit, status == _IDLE)
        sent: list[tuple[int, int, psycopg.Cursor[TupleRow]]] = []  # (first, writes, cursor)
        failed: psycopg.Error | None = None
        try:
            with conn.pipeline():
                try:
                    for at, n, sql, args in statements:
                        sent.append((at, n, conn.execute(sql, args)))
                    if commit:
                        conn.commit()
                except psycopg.Error as exc:
                    # Kept, not raised through the block: psycopg would log a warning
                    # for the pipeline it then ends aborted, once per retried conflict.
                    failed = exc
        except psycopg.Error as exc:  # the pipeline's end: the first error is the one
            failed = failed or exc
        if failed is not None:
            self._sent_failed(failed, sent, commit)
        self.committed = commit
        counts: list[int] = []
        for _, n, cur in sent:
            counts += [cur.rowcount] if n == 1 else [1] * n
        return counts

    def _pipeline(
        self,
        statements: list[Sent],
        writes: int,
        batch: list[postgres_pipe.Statement],
        commit: bool,
        begin: bool,
    ) -> list[int]:
        """``batch`` (the ``statements`` of ``writes`` writes) in libpq's pipeline, after
        the transaction's ``BEGIN`` if ``begin``; the writes' row counts. Errors as
        :meth:`_sent_failed` tells them."""
        names = self._prepared or self._names()
        try:
            got = postgres_pipe.send(self.conn, names, _new_name, batch, commit, begin=begin)
        except PipelineFailed as failed:
            ok = 0 <= failed.at < len(statements)
            at = statements[failed.at][0] if ok else writes
            self._pipe_failed(failed.exc, at < writes, at, commit)
        except psycopg.Error as exc:  # the connection failed
            self._pipe_failed(exc, False, 0, commit)
        except postgres_pipe.Unexpected as unexpected:
            raise unexpected_error(unexpected.exc, unexpected.committing) from None
        self.committed = commit
        if len(got) == writes:  # a statement per write
            return got
        counts: list[int] = []
        for (_, n, _, _), count in zip(statements, got, strict=True):
            counts += [count] if n == 1 else [1] * n
        return counts

    def _pipe_failed(self, exc: psycopg.Error, write: bool, at: int, commit: bool) -> NoReturn:
        """The port's error for a pipeline refused at write ``at`` (``write`` False: at the
        commit, or the connection failed)."""
        self._lost(exc)
        if isinstance(exc, psycopg.IntegrityError) and write:
            raise Refused(at, exc) from None
        if commit and lost(self.conn, exc):
            raise CommitUnknown(
                f"the connection was lost while committing; the commit may have happened: {exc}"
            ) from None
        raise translate(exc, "a statement failed") from None

    def _sent_failed(
        self, exc: psycopg.Error, sent: list[tuple[int, int, Any]], commit: bool
    ) -> NoReturn:
        """The port's error for psycopg's pipeline, which the server stopped: a refused
        constraint names the first write without a result (else as :meth:`_pipe_failed`)."""
        refused = isinstance(exc, psycopg.IntegrityError)
        at = (
            next((at for at, _, cur in sent if cur.pgresult is None), sent[-1][0]) if refused else 0
        )
        self._pipe_failed(exc, refused, at, commit)

    def _constraint(self, t: TableSql, exc: Exception) -> tuple[str, ...] | None:
        """PostgreSQL names the constraint (any SQLSTATE class 23 error but a unique
        violation names none of the table's unique constraints)."""
        if not isinstance(exc, pgerrors.UniqueViolation):
            return None
        return t.constraints.get(exc.diag.constraint_name or "")


def _new_name() -> bytes:
    return f"paycore_{next(_NAMES)}".encode()


def _check(conn: Conn, res: pq.abc.PGresult) -> pq.abc.PGresult:
    """``res``, or psycopg's exception for the error it reports."""
    if res.status == pq.ExecStatus.FATAL_ERROR:
        raise pgerrors.error_from_result(res, encoding=conn.info.encoding)
    return res


#: A statement that sends writes: (the first write's index, how many writes, SQL, arguments).
Sent = tuple[int, int, str, tuple[Any, ...]]


def _statements(writes: Sequence[Write]) -> Iterator[Sent]:
    """The statements that send ``writes``: (first write's index, how many writes, SQL,
    arguments), a table's log rows in multi-row INSERTs of at most ``ROWS_PER_INSERT``
    (a statement takes at most 65,535 parameters)."""
    at = 0
    while at < len(writes):
        t, _, sql, args, _ = writes[at]
        n = min(log_run(writes, at), ROWS_PER_INSERT)
        if n > 1 and t is not None:
            sql = t.insert_rows(n)
            args = tuple(v for w in writes[at : at + n] for v in w[3])
        yield at, n, sql, args
        at += n
