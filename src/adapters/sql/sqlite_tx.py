"""One SQLite transaction of :class:`paycore_adapters.sql.sqlite_store.SQLiteStore`: the
shared SQL transaction (:mod:`paycore_adapters.sql.transaction`) on the ``sqlite3``
driver, and SQLite's way of naming the constraint it refused."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from paycore.errors import CommitUnknown, DataError, OperationalError
from paycore.schema import TABLES

from .ddl import SQLITE
from .sqlite_errors import failed
from .statements import TableSql
from .transaction import Refused, SqlTransaction, Write, log_run

_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")


def sqlite_sql(table: Any) -> TableSql:
    """``table``'s statements for SQLite (``?`` placeholders, insertion order by rowid)."""
    return TableSql(table, SQLITE, "?")


#: Every table's statements, written once per process: every store shares them (the
#: harness opens a store per example and per explored state).
SQLITE_TABLES: dict[str, TableSql] = {t.name: sqlite_sql(t) for t in TABLES}


def _unencodable(exc: UnicodeEncodeError | OverflowError) -> DataError:
    """A str that is not UTF-8 (a lone surrogate) or an int past 64 bits, which
    ``sqlite3`` cannot bind: a value the store cannot hold, as PostgreSQL's translation
    says (``postgres_errors.encoded``, SQLSTATE class 22); the store rolls the
    transaction back and the same value fails again."""
    return DataError(f"SQLite cannot hold a value: {exc}")


#: SQLite's primary result codes of a ``COMMIT`` that did not happen: it wrote no commit
#: record to the log (the disk full, the database locked or made read-only).
NOT_COMMITTED = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_READONLY})


def commit_failed(exc: sqlite3.Error) -> OperationalError:
    """The port's error for ``exc``, raised by ``COMMIT``: OperationalError when nothing
    was committed (:data:`NOT_COMMITTED`, any extended code of theirs), else
    CommitUnknown (an I/O error may have left a commit record the log replays)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in NOT_COMMITTED:
        return OperationalError(
            "the commit failed; nothing of this transaction was committed (what earlier "
            f"transactions committed stays): {exc}"
        )
    return CommitUnknown(f"the commit failed; it may have happened: {exc}")


def rollback(conn: sqlite3.Connection) -> None:
    """Roll ``conn``'s transaction back, if one is open."""
    with contextlib.suppress(sqlite3.Error):  # a broken (or closed) one committed nothing
        if conn.in_transaction:
            conn.execute("ROLLBACK")


class _Fetched(list[Any]):
    """A query's rows, read whole, answering ``fetchone`` as a cursor does."""

    def fetchone(self) -> Any:
        return self[0] if self else None


class SQLiteTransaction(SqlTransaction):
    """A :class:`paycore.ports.Transaction` on a connection inside ``BEGIN IMMEDIATE``."""

    integrity = sqlite3.IntegrityError
    placeholder = "?"

    def _run(self, sql: str, args: tuple[Any, ...]) -> _Fetched:
        """The statement's rows, all read here: SQLite steps a query as its rows are
        read, so an error while reading them (an I/O error, a damaged page past the first
        row) is raised in this call, translated, and fails the transaction."""
        try:
            return _Fetched(self.conn.execute(sql, args).fetchall())
        except sqlite3.IntegrityError:
            raise
        except (UnicodeEncodeError, OverflowError) as exc:
            raise _unencodable(exc) from None
        except sqlite3.Error as exc:
            raise failed(exc, "the SQLite store failed") from None

    def _send(self, writes: Sequence[Write], commit: bool) -> list[int]:
        """One statement after another (in-process: nothing to save by sending them
        together), a run of log rows in one ``executemany``; the store commits
        afterwards."""
        counts: list[int] = []
        execute = self.conn.execute
        at = 0
        while at < len(writes):
            _, _, sql, args, _ = writes[at]
            end = at + log_run(writes, at)
            try:
                if end - at == 1:
                    counts.append(execute(sql, args).rowcount)
                else:
                    self.conn.executemany(sql, [w[3] for w in writes[at:end]])
                    counts += [1] * (end - at)
            except sqlite3.IntegrityError as exc:
                raise Refused(at, exc) from None
            except (UnicodeEncodeError, OverflowError) as exc:
                raise _unencodable(exc) from None
            except sqlite3.Error as exc:
                raise failed(exc, "the SQLite store failed") from None
            at = end
        return counts

    def _constraint(self, t: TableSql, exc: Exception) -> tuple[str, ...] | None:
        """SQLite names the columns: ``UNIQUE constraint failed: orders.checkout_session_id``."""
        m = _UNIQUE.match(str(exc))
        if m is None:
            return None
        columns = [c.strip().split(".", 1)[-1] for c in m.group(1).split(",")]
        return tuple(t.fields_of.get(c, c) for c in columns)
