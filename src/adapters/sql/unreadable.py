"""A row that cannot be read as its record: what ``paycore check`` reports instead of
stopping at it.

The SQL stores write every row from a record, so every row reads back as one; a row an
operator edited by hand (``status = 'shipped'``, a ``lines`` column that is no longer
JSON, a text where an amount belongs) or a schema that drifted does not. The streamed
snapshot (:mod:`.streamed`) reads each row through its ``StreamedSnapshot._read``: a
row that fails is kept as an :class:`Unreadable` (its table, its key, and the column and
value that failed when one field can be named, found by :func:`diagnose`) and skipped,
and the check goes on; ``paycore check`` reports each as a ``record-readable`` finding
(exit status 1). It is not an invariant of the catalog: the catalog's invariants are
properties of records, checked on every store (the memory store included, which holds
records, never rows); this one is the reader's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from paycore.invariants import Violation

from .columns import TableMap

#: The finding's name, as ``paycore check`` prints it (``[record-readable]``).
FINDING = "record-readable"
#: The longest value repeated in a finding, in characters.
SHOWN = 80


@attrs.frozen
class Unreadable:
    """A row of ``table`` whose key column holds ``key`` that is not a record."""

    table: str
    key: str
    column: str | None
    value: str | None
    error: str

    def violation(self) -> Violation:
        where = "" if self.column is None else f"column {self.column} holds {self.value}: "
        detail = f"the row cannot be read as its record: {where}{self.error}"
        return Violation(FINDING, f"{self.table}/{self.key}", detail)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[: SHOWN - 3]}..."


def _error(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return f"{getattr(exc, 'code', type(exc).__name__)}: {message}"


def diagnose(m: TableMap[Any], row: Sequence[Any], exc: BaseException) -> Unreadable:
    """What is wrong with ``row`` of the table ``m`` maps, whose reading raised ``exc``:
    each field read on its own, the first that fails named with its value (else only
    ``exc``: the record as a whole refused the values)."""
    key = row[m.column_names.index(m.key_column)]
    at = 0
    for f in m.fields:
        given = tuple(row[at : at + len(f.columns)])
        at += len(f.columns)
        try:
            f.read(*given)
        except Exception as field_exc:
            names = "/".join(c.name for c in f.columns)
            value = _shown(given[0] if len(given) == 1 else given)
            return Unreadable(m.name, str(key), names, value, _error(field_exc))
    return Unreadable(m.name, str(key), None, None, _error(exc))
