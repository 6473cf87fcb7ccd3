"""A transaction's statements sent in one libpq pipeline: one exchange with the server,
without psycopg's Python layer (its pipeline's generators cost more CPU than the
statements' own work on the client). A pipeline may open the transaction (``BEGIN``
before the statements: the transaction's first query, or its first writes, cost one
round trip, not two) and may end it (``COMMIT`` after them).

Each statement is prepared on the connection at its first use (in the same pipeline)
under a name of :mod:`paycore_adapters.sql.postgres_tx`'s; values go in text format.
The server runs the statements in order and skips every one after the first that fails
(``PIPELINE_ABORTED``) up to the sync, the commit included; the caller gets each
statement's result, in order, and the first error. A ``COMMIT`` the server answers
``ROLLBACK`` (the transaction had failed before it) committed nothing: an error too.
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import pq

#: One statement of a pipeline: its SQL (``%s`` placeholders) and its values in text.
Statement = tuple[str, list[bytes | None]]

COMMIT = "COMMIT"
#: What opens every transaction of the store (the isolation psycopg's ``BEGIN`` names
#: for the store's connections, ``postgres_connect.configure``).
BEGIN = b"BEGIN ISOLATION LEVEL SERIALIZABLE"
_SYNC = pq.ExecStatus.PIPELINE_SYNC
#: The index :class:`PipelineFailed` gives a ``BEGIN`` that failed.
AT_BEGIN = -1
_INERROR = pq.TransactionStatus.INERROR


def commit_rolled_back() -> psycopg.Error:
    """What a ``COMMIT`` of a transaction the server had aborted raises: the server ends
    such a transaction with ``ROLLBACK`` (its answer, not an error); nothing committed."""
    return pgerrors.InFailedSqlTransaction(
        "COMMIT was answered ROLLBACK: the transaction had failed, nothing of it was committed"
    )


class Unexpected(Exception):
    """``exc``, an error of no driver's, ended a pipeline; ``committing``: after its
    ``COMMIT`` was queued (the commit may have happened)."""

    def __init__(self, exc: Exception, committing: bool) -> None:
        super().__init__(exc, committing)
        self.exc, self.committing = exc, committing


class PipelineFailed(Exception):
    """The statement at ``at`` (its index in the batch; the batch's length: the commit;
    :data:`AT_BEGIN`: the ``BEGIN``) failed with ``exc``, psycopg's exception for it."""

    def __init__(self, at: int, exc: psycopg.Error) -> None:
        super().__init__(at, exc)
        self.at, self.exc = at, exc


def send(
    conn: psycopg.Connection[tuple[object, ...]],
    names: dict[str, bytes],
    new_name: Callable[[], bytes],
    batch: Sequence[Statement],
    commit: bool,
    *,
    begin: bool = False,
) -> list[int]:
    """Run ``batch`` (and ``COMMIT`` after it, if asked) in one pipeline on ``conn``, inside
    its open transaction, or in one it opens first (``begin``); each statement's row count.

    Raises:
        PipelineFailed: a statement, the commit or the begin failed (the transaction is
            aborted).
        psycopg.OperationalError: the connection failed.
        Unexpected: an error of no driver's (its ``committing`` tells whether the commit
            was queued before it).
    """
    return [res.command_tuples or 0 for res in run(conn, names, new_name, batch, commit, begin)]


def run(
    conn: psycopg.Connection[tuple[object, ...]],
    names: dict[str, bytes],
    new_name: Callable[[], bytes],
    batch: Sequence[Statement],
    commit: bool,
    begin: bool,
) -> list[pq.abc.PGresult]:
    """As :func:`send`, but each statement's result (its rows, its row count)."""
    pg = conn.pgconn
    made: list[tuple[str, bytes]] = []  # statements prepared in this pipeline
    # per result expected: the statement's index, -1 for a prepare, -2 for the begin
    kinds: list[int] = []
    pg.enter_pipeline_mode()
    try:
        _queue(pg, names, new_name, batch, begin, made, kinds)
        if commit:
            pg.send_query_params(COMMIT.encode(), None)
            kinds.append(len(batch))
        pg.pipeline_sync()
        results = _results(pg, len(kinds))
    except psycopg.Error:
        raise
    except Exception as odd:  # a safety net: the caller tells whether it may have committed
        with contextlib.suppress(psycopg.Error):
            conn.close()  # cut mid-exchange: the pool replaces it
        raise Unexpected(odd, commit and len(batch) in kinds) from odd
    finally:
        with contextlib.suppress(psycopg.Error):  # a lost connection stays lost
            pg.exit_pipeline_mode()
    out: list[pq.abc.PGresult] = []
    failed: PipelineFailed | None = None
    prepared = iter(made)
    for j, (kind, res) in enumerate(zip(kinds, results, strict=True)):
        if res.status == pq.ExecStatus.FATAL_ERROR and failed is None:
            exc = pgerrors.error_from_result(res, encoding=conn.info.encoding)
            # a prepare that failed stands for the statement it was made for, the next
            at = kinds[j + 1] if kind == -1 else AT_BEGIN if kind == -2 else kind
            failed = PipelineFailed(at, exc)
        elif kind == len(batch) and res.command_status == b"ROLLBACK" and failed is None:
            failed = PipelineFailed(kind, commit_rolled_back())
        if kind == -1:
            sql, name = next(prepared)
            if res.status == pq.ExecStatus.COMMAND_OK:
                names[sql] = name
        elif 0 <= kind < len(batch):
            out.append(res)
    if failed is not None:
        raise failed
    return out


def _queue(
    pg: pq.abc.PGconn,
    names: dict[str, bytes],
    new_name: Callable[[], bytes],
    batch: Sequence[Statement],
    begin: bool,
    made: list[tuple[str, bytes]],
    kinds: list[int],
) -> None:
    """Queue the ``BEGIN`` (if asked) and ``batch``'s statements, each prepared first at
    its first use; each result expected goes in ``kinds``, each statement prepared in
    ``made``."""
    if begin:
        pg.send_query_params(BEGIN, None)
        kinds.append(-2)
    for i, (sql, values) in enumerate(batch):
        name = names.get(sql)
        if name is None:
            name = new_name()
            pg.send_prepare(name, numbered(sql))
            made.append((sql, name))
            kinds.append(-1)
        pg.send_query_prepared(name, values)
        kinds.append(i)


def wait(pg: pq.abc.PGconn, writing: bool = False) -> None:
    """Until ``pg``'s socket can be read (or written, if ``writing``), in ``poll``:
    ``select`` refuses a descriptor numbered past ``FD_SETSIZE`` (1,024), which a process
    holding many files or sockets gives its connections. Waiting here lets other threads
    run (libpq's own wait would hold the interpreter's lock)."""
    poller = select.poll()
    poller.register(pg.socket, select.POLLOUT if writing else select.POLLIN)
    poller.poll()


def command(conn: psycopg.Connection[tuple[object, ...]], sql: bytes) -> None:
    """Run ``sql`` (a command without parameters: ``COMMIT``) outside a pipeline, waited
    for as a pipeline's results are (:func:`_result`).

    Raises:
        psycopg.Error: the server refused it, or the connection failed; a ``COMMIT`` of
            a transaction the server had aborted (not sent) or answered ``ROLLBACK``.
    """
    pg = conn.pgconn
    commit = sql == COMMIT.encode()
    if commit and pg.transaction_status == _INERROR:
        raise commit_rolled_back()
    pg.send_query(sql)
    while pg.flush():
        wait(pg, writing=True)
    failed: pq.abc.PGresult | None = None
    answer = None
    for _ in range(3):  # a command's result, then the end marker
        res = _result(pg)
        if res is None:
            if failed is not None:
                raise pgerrors.error_from_result(failed, encoding=conn.info.encoding)
            if commit and answer == b"ROLLBACK":
                raise commit_rolled_back()
            return
        if res.status == pq.ExecStatus.FATAL_ERROR:
            failed = res
        answer = res.command_status
    raise psycopg.OperationalError(
        f"{sql.decode()} had no end: "
        f"{pg.error_message.decode(errors='replace').strip() or 'the connection was lost'}"
    )


def _results(pg: pq.abc.PGconn, expected: int) -> list[pq.abc.PGresult]:
    """The results of ``expected`` commands and the sync; each command's is followed by
    an end marker (None). Bounded: a connection that stops answering is an error."""
    while pg.flush():  # a non-blocking connection sends what it can at a time
        wait(pg, writing=True)
    out: list[pq.abc.PGresult] = []
    for _ in range(2 * expected + 2):
        while pg.is_busy():  # as _result waits (inlined: a pipeline reads a dozen)
            wait(pg)
            pg.consume_input()
        res = pg.get_result()
        if res is None:
            continue
        if res.status == _SYNC:
            if len(out) != expected:
                break
            return out
        out.append(res)
    raise psycopg.OperationalError(
        f"the pipeline ended after {len(out)} of {expected} results: "
        f"{pg.error_message.decode(errors='replace').strip() or 'the connection was lost'}"
    )


def _result(pg: pq.abc.PGconn) -> pq.abc.PGresult | None:
    """The next result, waited for in :func:`wait` (which lets other threads run: libpq's
    own wait in ``get_result`` would hold the interpreter's lock, and a thread of this
    process holding the row lock the statement waits for could never release it)."""
    while pg.is_busy():
        wait(pg)
        pg.consume_input()
    return pg.get_result()


def text_value(value: object) -> bytes | None:
    """One value in PostgreSQL's text format (:func:`text_values`); TypeError for a type
    psycopg adapts."""
    got = text_values((value,))
    if got is None:
        raise TypeError(type(value))
    return got[0]


def text_values(args: Sequence[Any]) -> list[bytes | None] | None:
    """``args`` in PostgreSQL's text format (the types the store's lookups pass), or None
    if one of them is of a type psycopg adapts, or a str holding NUL: libpq sends a text
    value as a C string, cut at its first NUL, where psycopg refuses it. One loop, no
    call per value: a lifecycle sends a few hundred values."""
    out: list[bytes | None] = []
    append = out.append
    for v in args:
        kind = type(v)
        if kind is str:
            if "\x00" in v:
                return None
            append(v.encode())
        elif v is None:
            append(None)
        elif kind is int:
            append(b"%d" % v)
        elif kind is bool:
            append(b"t" if v else b"f")
        else:
            return None
    return out


def numbered(sql: str) -> bytes:
    """``sql`` with its ``%s`` placeholders numbered as the server's ``$1, $2 ...``."""
    parts = sql.split("%s")
    out = [parts[0]]
    for n, part in enumerate(parts[1:], 1):
        out += [f"${n}", part]
    return "".join(out).encode()
