"""What every store's ``Transaction.claim`` checks, and the claim of a store that runs
one writing transaction at a time (memory): ``find`` with its filters and a limit."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

import attrs

from paycore.schema import Table

T = TypeVar("T")


def check_claim(table: Table[Any], limit: int, due: tuple[str, int] | None) -> None:
    """Raise ValueError for a claim no store can make (the port's contract)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"{table.name}: a claim takes at least one row, not {limit!r}")
    if due is not None:
        names = {f.name for f in attrs.fields(table.type)}
        if due[0] not in names:
            raise ValueError(f"{table.name}: no field {due[0]!r} to claim rows due by")


def pick(
    rows: Iterable[T],
    key: Callable[[T], str],
    limit: int,
    due: tuple[str, int] | None,
    after: str | None,
) -> list[T]:
    """``rows`` (in insertion order) as a claim returns them: those due, in key order
    past ``after`` when it is given, at most ``limit``."""
    if due is not None:
        time_field, moment = due
        rows = [r for r in rows if getattr(r, time_field) <= moment]
    if after is not None:
        rows = sorted((r for r in rows if key(r) > after), key=key)
    return list(rows)[:limit]


class _Finds(Protocol):
    def find(self, table: Table[T], field: str, value: object) -> list[T]: ...


class ClaimByFind:
    """``Transaction.claim`` for a store that runs one writing transaction at a time.

    Such a transaction already holds every row until it ends: no other transaction can
    change one, nor claim it, meanwhile. So a claim is ``find`` with the claim's filters
    and a limit, and the next claimer, which starts after this one ended, sees what this
    one left (the rows it changed, and the ones it did not take).
    """

    __slots__ = ()

    def claim(
        self: _Finds,
        table: Table[T],
        field: str,
        value: object,
        limit: int,
        *,
        due: tuple[str, int] | None = None,
        after: str | None = None,
    ) -> list[T]:
        check_claim(table, limit, due)
        return pick(self.find(table, field, value), table.key_of, limit, due, after)
