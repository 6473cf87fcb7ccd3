"""The in-memory store's tables: rows in insertion order and their hash indexes.

Part of :mod:`paycore_adapters.memory_store`; nothing here takes the store's lock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from paycore.schema import Table

Fields = tuple[str, ...]


class Index:
    """Hash indexes of one table's rows: find-field buckets and unique owners.

    They always describe the rows as they are now, own uncommitted writes included
    (the transaction holding the store's lock is the only one that can see them)."""

    def __init__(self, table: Table[Any]) -> None:
        singles = (u[0] for u in table.unique if len(u) == 1)
        self.fields = tuple(dict.fromkeys((*table.indexes, *singles)))  # what find may use
        self.table = table
        self.buckets: dict[str, dict[Any, dict[str, None]]] = {f: {} for f in self.fields}
        self.owners: dict[Fields, dict[tuple[Any, ...], str]] = {u: {} for u in table.unique}
        every = tuple(dict.fromkeys((*self.fields, *(f for u in table.unique for f in u))))
        #: Every indexed value of a row, in one C call (None: the table has no index).
        self.keyed: Callable[[Any], Any] | None = attrgetter(*every) if every else None

    def add(self, key: str, record: Any) -> None:
        for f in self.fields:
            self.buckets[f].setdefault(getattr(record, f), {})[key] = None
        if self.owners:
            for fields, values in self.table.unique_values(record):
                self.owners[fields][values] = key

    def copy(self) -> Index:
        twin = copy.copy(self)
        twin.buckets = {
            f: {v: dict(keys) for v, keys in b.items()} for f, b in self.buckets.items()
        }
        twin.owners = {u: dict(o) for u, o in self.owners.items()}
        return twin

    def remove(self, key: str, record: Any) -> None:
        for f in self.fields:
            bucket = self.buckets[f].get(getattr(record, f), {})
            bucket.pop(key, None)
        for fields, values in self.table.unique_values(record) if self.owners else ():
            if self.owners[fields].get(values) == key:
                del self.owners[fields][values]


class TableState:
    def __init__(self, table: Table[Any]) -> None:
        self.name = table.name
        #: The row's key field (``Table.key_of`` is ``str`` of it).
        self.key: Callable[[Any], Any] = attrgetter(table.key)
        self.rows: dict[str, Any] = {}  # insertion order; an update keeps the row's place
        self.pos: dict[str, int] = {}
        self.index = Index(table)

    def copy(self) -> TableState:
        twin = copy.copy(self)
        twin.rows, twin.pos, twin.index = dict(self.rows), dict(self.pos), self.index.copy()
        return twin
