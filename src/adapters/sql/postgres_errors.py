"""The PostgreSQL store's translation of psycopg's errors into the port's
(:data:`paycore.errors.ADAPTER_ERRORS`): a conflict that may run again, a value the
store cannot hold, an outage, a commit whose fate is unknown."""

from __future__ import annotations

from typing import Any

import psycopg

from paycore.errors import CommitUnknown, DataError, OperationalError, StoreConflict, StoreError

from .postgres_pipe import text_values

#: SQLSTATEs of a transaction refused because another one conflicted with it: it rolled
#: back whole and may run again (serialization_failure, deadlock_detected, and
#: lock_not_available: a row lock waited on past the session's ``lock_timeout``).
CONFLICTS = frozenset({"40001", "40P01", "55P03"})


def translate(exc: psycopg.Error, doing: str) -> StoreError:
    """The port's error for a driver error raised while ``doing`` (not for a refused
    constraint, which the transaction names). A value the store cannot hold (psycopg's
    ``DataError``: refused before sending, as text with NUL, or SQLSTATE class 22; class
    54, as a key past the index's limit) is a DataError: the same value fails again."""
    if exc.sqlstate in CONFLICTS:
        return StoreConflict(f"{doing}: {exc.sqlstate} {exc}".strip(), sqlstate=exc.sqlstate)
    if isinstance(exc, psycopg.DataError) or (exc.sqlstate or "")[:2] == "54":
        return DataError(f"{doing}: PostgreSQL cannot hold a value: {exc}", sqlstate=exc.sqlstate)
    return OperationalError(f"{doing}: the PostgreSQL store failed: {exc}".strip())


def lost(conn: psycopg.Connection[Any], exc: psycopg.Error) -> bool:
    """Did ``exc`` cut the connection (so a commit sent may have happened)? psycopg's
    ``DataError`` without a SQLSTATE refused a value before sending anything."""
    if exc.sqlstate is None and isinstance(exc, psycopg.DataError):
        return conn.broken
    return conn.broken or exc.sqlstate is None or exc.sqlstate[:2] in ("08", "57")


def encoded(args: tuple[Any, ...]) -> list[bytes | None] | None:
    """``text_values(args)``; a str that is not UTF-8 (a lone surrogate) is a DataError."""
    try:
        return text_values(args)
    except UnicodeEncodeError as exc:
        raise DataError(f"PostgreSQL cannot hold a value: {exc}") from None


def unexpected_error(exc: BaseException, committing: bool) -> OperationalError:
    """The port's error for ``exc``, an error of no driver's while talking to the server:
    once ``COMMIT`` was sent (``committing``) the commit may have happened."""
    if committing:
        return CommitUnknown(f"the commit may have happened; waiting for it failed: {exc!r}")
    return OperationalError(f"the PostgreSQL store failed: {exc!r}")
