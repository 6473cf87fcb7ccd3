"""The in-memory store's tables: rows in insertion order, their hash indexes, and the
canonical form of a row that fingerprints are made of.

Part of :mod:`paycore_adapters.memory_store`; nothing here takes the store's lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from enum import Enum
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

import attrs

from paycore.schema import Table

T = TypeVar("T")

Fields = tuple[str, ...]


#: A row's unique values as ``Table.unique_values`` gives them: (fields, values) pairs.
Uniques = list[tuple[Fields, tuple[Any, ...]]]


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
        #: Every indexed value of a row as a tuple, in one C call (None: the table has no
        #: index). The find fields come first, in order; a lone field is asked for twice
        #: so that the answer is a tuple too.
        self.keyed: Callable[[Any], tuple[Any, ...]] | None = (
            attrgetter(*every, *every[:1])
            if len(every) == 1
            else attrgetter(*every)
            if every
            else None
        )
        #: The values of a row's unique fields, out of its ``keyed`` values (None: the
        #: table has no unique constraint): an update that leaves them as they were
        #: needs no unique check and changes no owner.
        in_unique = [i for i, f in enumerate(every) if any(f in u for u in table.unique)]
        self.unique_part: Callable[[tuple[Any, ...]], object] | None = (
            itemgetter(*in_unique) if in_unique else None
        )

    def uniques(self, record: Any) -> Uniques:
        return self.table.unique_values(record) if self.owners else []

    def add(self, key: str, record: Any) -> None:
        if self.keyed is not None:  # else the table has no index
            self.put(key, self.keyed(record), self.uniques(record))

    def put(self, key: str, values: tuple[Any, ...], uniques: Uniques | tuple[()]) -> None:
        """Index ``key`` under a row's indexed ``values`` (``keyed``) and ``uniques``."""
        for i, bucket in enumerate(self.buckets.values()):  # in the order of ``fields``
            keys = bucket.get(values[i])
            if keys is None:
                bucket[values[i]] = {key: None}
            else:
                keys[key] = None
        for fields, unique in uniques:
            self.owners[fields][unique] = key

    def move(
        self,
        key: str,
        old_values: tuple[Any, ...],
        values: tuple[Any, ...],
        old_uniques: Uniques | tuple[()],
        uniques: Uniques | tuple[()],
    ) -> None:
        """Re-index ``key`` from a row's old values to its new ones, touching only the
        buckets and owners whose value changed (an update most often moves a status)."""
        for i, bucket in enumerate(self.buckets.values()):
            old, new = old_values[i], values[i]
            if old == new:
                continue
            keys = bucket.get(old)
            if keys is not None:
                keys.pop(key, None)
            keys = bucket.get(new)
            if keys is None:
                bucket[new] = {key: None}
            else:
                keys[key] = None
        if old_uniques != uniques:
            for fields, unique in old_uniques:
                if self.owners[fields].get(unique) == key:
                    del self.owners[fields][unique]
            for fields, unique in uniques:
                self.owners[fields][unique] = key

    def copy(self) -> Index:
        twin = _shallow(self)
        twin.buckets = {
            f: {v: dict(keys) for v, keys in b.items()} for f, b in self.buckets.items()
        }
        twin.owners = {u: dict(o) for u, o in self.owners.items()}
        return twin

    def remove(self, key: str, record: Any) -> None:
        if self.keyed is not None:
            self.drop(key, self.keyed(record), self.uniques(record))

    def drop(self, key: str, values: tuple[Any, ...], uniques: Uniques) -> None:
        """Take ``key`` out of the entries ``put`` made for the same values."""
        for i, bucket in enumerate(self.buckets.values()):
            keys = bucket.get(values[i])
            if keys is not None:
                keys.pop(key, None)
        for fields, unique in uniques:
            if self.owners[fields].get(unique) == key:
                del self.owners[fields][unique]


class TableState:
    def __init__(self, table: Table[Any]) -> None:
        self.name = table.name
        #: The row's key field (``Table.key_of`` is ``str`` of it).
        self.key: Callable[[Any], Any] = attrgetter(table.key)
        self.rows: dict[str, Any] = {}  # insertion order; an update keeps the row's place
        self.pos: dict[str, int] = {}
        self.index = Index(table)
        #: Writes made to this table (rolled back ones too): it has not changed while
        #: this has not moved.
        self.writes = 0

    def copy(self) -> TableState:
        twin = _shallow(self)
        twin.rows, twin.pos, twin.index = dict(self.rows), dict(self.pos), self.index.copy()
        return twin


def _shallow(obj: T) -> T:
    """``copy.copy`` of a plain object, without its generic protocol (the explorer copies
    every table of a store per state it visits)."""
    twin: T = object.__new__(type(obj))
    twin.__dict__.update(obj.__dict__)
    return twin


def canon(value: Any) -> Any:
    """A row as plain JSON values, the same for equal rows (for fingerprints)."""
    if attrs.has(type(value)):
        fields = attrs.fields(type(value))
        return [
            type(value).__qualname__,
            [[f.name, canon(getattr(value, f.name))] for f in fields],
        ]
    if isinstance(value, Enum):
        return ["enum", type(value).__qualname__, canon(value.value)]
    if isinstance(value, Mapping):
        items = [[canon(k), canon(v)] for k, v in value.items()]
        return ["map", sorted(items, key=lambda kv: json.dumps(kv[0], sort_keys=True))]
    if isinstance(value, list | tuple):
        return [canon(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return ["repr", type(value).__qualname__, repr(value)]


def fingerprint_of(tables: Mapping[str, Mapping[str, Any]], seqs: Mapping[str, int]) -> str:
    """SHA-256 of a store's content: tables by name, rows in insertion order, sequences
    by name (every store's ``fingerprint``, so that stores compare by it)."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        for key, row in tables[name].items():
            digest.update(dump(["row", name, key, row]))
    for name in sorted(seqs):
        digest.update(dump(["seq", name, seqs[name]]))
    return digest.hexdigest()


def content_key(tables: Mapping[str, Mapping[str, Any]], seqs: Mapping[str, int]) -> object:
    """A SQL store's content as the explorer tells states apart by (the memory store's
    ``state_key`` shape): each table's keys and rows in insertion order, by table name,
    and the sequences. The rows stand in for themselves: records read from a database
    are new objects each time, so a cache by identity would only grow."""
    tables_ = [(name, list(rows), list(rows.values())) for name, rows in sorted(tables.items())]
    return tables_, sorted(seqs.items())


def dump(value: Any) -> bytes:
    """One canonical JSON line for ``value``."""
    return json.dumps(canon(value), separators=(",", ":")).encode() + b"\n"
