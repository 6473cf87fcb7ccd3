"""A SQL transaction's writes waiting to be sent (:mod:`.transaction`), and how a
store's ``_send`` says one was refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .statements import TableSql

#: The key a log row's write carries (log rows are never looked up by it).
LOG_ROW = "?"


#: A statement waiting to be sent: (table, key, sql, args, check). ``table`` is None for a
#: sequence's write-back; ``check``: its row count must be 1 (an update of a row this
#: transaction never read). Plain tuples: a lifecycle makes a few dozen.
Write = tuple["TableSql | None", str, str, tuple[Any, ...], bool]


def log_run(writes: Sequence[Write], at: int) -> int:
    """How many writes from ``at`` on are log rows of one table, sent as one (1 for any
    other write)."""
    _, key, sql, _, _ = writes[at]
    end = at + 1
    if key == LOG_ROW:
        while end < len(writes) and writes[end][2] is sql:
            end += 1
    return end - at


def table_name(w: Write) -> str:
    """The table ``w`` writes to ("" for a sequence's write-back)."""
    return w[0].map.name if w[0] is not None else ""


class Refused(Exception):
    """A store's ``_send``: the write at ``at`` was refused by a constraint (``exc``)."""

    def __init__(self, at: int, exc: Exception) -> None:
        super().__init__(at, exc)
        self.at, self.exc = at, exc
