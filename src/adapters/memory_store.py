"""An in-memory :class:`paycore.ports.Store`: the reference adapter for tests and the harness.

Semantics (every adapter's contract is ``paycore_adapters.testing.StoreContract``):

* One global ``RLock`` is held for a whole transaction: serializable, one writer
  at a time. Opening a transaction while this thread has one open is a
  ``RuntimeError``.
* Writes and sequence increments are buffered in the transaction and applied
  all at once when the block ends normally. Leaving by an exception discards
  them, sequence values included: a failed transaction leaves the store
  byte-for-byte as it was (see :meth:`MemoryStore.fingerprint`). Sequence
  values are therefore never reused by *committed* data, but a value handed
  out by a rolled-back transaction may be handed out again.
* An ``IntegrityError`` rolls the transaction back (as in PostgreSQL): later
  calls on it raise again, and leaving the block normally raises instead of
  committing.
* Faults are injected from outside, by wrapping the store
  (``paycore_adapters.harness.faulty.FaultyStore``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from enum import Enum
from typing import Any, NoReturn, TypeVar, cast

import attrs

from paycore.errors import IntegrityError
from paycore.ports import Snapshot
from paycore.schema import TABLES, Table

T = TypeVar("T")
Fields = tuple[str, ...]


class _Index:
    """Hash indexes of some rows of one table: find-field buckets and unique owners."""

    def __init__(self, table: Table[Any]) -> None:
        singles = (u[0] for u in table.unique if len(u) == 1)
        self.fields = tuple(dict.fromkeys((*table.indexes, *singles)))  # what find may use
        self.table = table
        self.buckets: dict[str, dict[Any, dict[str, None]]] = {f: {} for f in self.fields}
        self.owners: dict[Fields, dict[tuple[Any, ...], str]] = {u: {} for u in table.unique}
        self.all_fields = tuple(
            dict.fromkeys((*self.fields, *(f for u in table.unique for f in u)))
        )

    def add(self, key: str, record: Any) -> None:
        for f in self.fields:
            self.buckets[f].setdefault(getattr(record, f), {})[key] = None
        for fields, values in self.table.unique_values(record):
            self.owners[fields][values] = key

    def keyed(self, record: Any) -> tuple[Any, ...]:
        """Every indexed value of ``record``: if unchanged, its index entries are too."""
        return tuple(getattr(record, f) for f in self.all_fields)

    def copy(self) -> _Index:
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
        for fields, values in self.table.unique_values(record):
            if self.owners[fields].get(values) == key:
                del self.owners[fields][values]


def _values(record: Any, fields: Fields) -> tuple[Any, ...]:
    return tuple(getattr(record, f) for f in fields)


class _TableState:
    def __init__(self, table: Table[Any]) -> None:
        self.rows: dict[str, Any] = {}  # insertion order; an update keeps the row's place
        self.pos: dict[str, int] = {}
        self.index = _Index(table)

    def copy(self) -> _TableState:
        twin = copy.copy(self)
        twin.rows, twin.pos, twin.index = dict(self.rows), dict(self.pos), self.index.copy()
        return twin


class MemoryTransaction:
    """A :class:`paycore.ports.Transaction` over a :class:`MemoryStore`."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.writes: dict[str, dict[str, Any]] = {}  # table name -> key -> record
        self.pos: dict[str, dict[str, int]] = {}  # positions of rows new in this transaction
        self.seqs: dict[str, int] = {}
        self.failed: IntegrityError | None = None
        self.closed = False

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("this transaction is over; open a new one")
        if self.failed is not None:
            raise IntegrityError(
                f"transaction rolled back: {self.failed.message}", **self.failed.fields
            )

    def _fail(self, message: str, table: Table[Any], constraint: Fields, **fields: Any) -> NoReturn:
        self.failed = IntegrityError(message, table=table.name, constraint=constraint, **fields)
        raise self.failed

    def _committed(self, table: Table[Any]) -> _TableState:
        return self._store._tables.get(table.name) or _TableState(table)

    def get(self, table: Table[T], key: str) -> T | None:
        self._check()
        writes = self.writes.get(table.name, {})
        row = writes[key] if key in writes else self._committed(table).rows.get(key)
        return cast("T | None", row)

    def insert(self, table: Table[T], record: T) -> None:
        self._check()
        key = self._typed(table, record)
        if self.get(table, key) is not None:
            self._fail(
                f"{table.name}: a row with {table.key}={key!r} already exists",
                table,
                (table.key,),
                key=key,
            )
        self._write(table, key, record)

    def update(self, table: Table[T], record: T) -> None:
        self._check()
        key = self._typed(table, record)
        if not hasattr(record, "version"):
            raise ValueError(f"{table.name} rows have no version; they cannot be updated")
        stored = self.get(table, key)
        if stored is None:
            self._fail(
                f"{table.name}: no row with {table.key}={key!r} to update",
                table,
                (table.key,),
                key=key,
            )
        version, expected = cast(Any, record).version, cast(Any, stored).version + 1
        if version != expected:
            self._fail(
                f"{table.name}: stale write to {key!r}: version {version}, expected "
                f"{expected}; re-read the row and retry",
                table,
                ("version",),
                key=key,
                version=version,
                expected=expected,
            )
        self._write(table, key, record)

    def _typed(self, table: Table[T], record: T) -> str:
        if not isinstance(record, table.type):
            raise TypeError(f"{table.name} holds {table.type.__name__}, not {type(record)}")
        return table.key_of(record)

    def _write(self, table: Table[Any], key: str, record: Any) -> None:
        committed = self._committed(table)
        writes = self.writes.get(table.name)
        if writes is None:
            writes = self.writes[table.name] = {}
        for fields, values in table.unique_values(record):
            # A transaction writes few rows per table: scanning them beats an index.
            owner = next(
                (k for k, r in writes.items() if k != key and _values(r, fields) == values),
                None,
            )
            if owner is None:
                owner = committed.index.owners[fields].get(values)
                owner = None if owner in writes else owner  # moved away in this transaction
            if owner is not None and owner != key:
                shown = ", ".join(f"{f}={v!r}" for f, v in zip(fields, values, strict=True))
                self._fail(
                    f"{table.name}: unique ({', '.join(fields)}) violated: {shown} "
                    f"already used by {owner!r}",
                    table,
                    fields,
                    key=key,
                    other=owner,
                )
        if key not in writes and key not in committed.rows:
            new = self.pos.setdefault(table.name, {})
            new[key] = len(committed.pos) + len(new)
        writes[key] = record

    def find(self, table: Table[T], field: str, value: object) -> list[T]:
        self._check()
        if field == table.key:
            row = self.get(table, str(value))
            return [row] if row is not None and getattr(row, field) == value else []
        committed = self._committed(table)
        if field not in committed.index.fields:
            raise ValueError(f"{table.name}.{field} is not indexed; declare it in paycore.schema")
        writes = self.writes.get(table.name)
        bucket = committed.index.buckets[field].get(value, {})
        if not writes:
            keys = sorted(bucket, key=committed.pos.__getitem__) if len(bucket) > 1 else bucket
            return [cast(T, committed.rows[k]) for k in keys]
        keys = [k for k in bucket if k not in writes]
        keys.extend(k for k, r in writes.items() if getattr(r, field) == value)
        new = self.pos.get(table.name, {})
        keys.sort(key=lambda k: committed.pos[k] if k in committed.pos else new[k])
        return [cast(T, writes[k] if k in writes else committed.rows[k]) for k in keys]

    def scan(self, table: Table[T]) -> Iterator[T]:
        self._check()
        writes = self.writes.get(table.name, {})
        rows = self._committed(table).rows
        out = [writes.get(key, row) for key, row in rows.items()]
        out.extend(row for key, row in writes.items() if key not in rows)
        return iter(cast(list[T], out))  # eager: later writes do not change this scan

    def next_seq(self, name: str) -> int:
        self._check()
        self.seqs[name] = self.seqs.get(name, self._store._seqs.get(name, 0)) + 1
        return self.seqs[name]


class _Scope:
    """The ``with`` block of one transaction (a class, not a generator: it is hot)."""

    __slots__ = ("store", "tx")

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def __enter__(self) -> MemoryTransaction:
        store = self.store
        me = threading.get_ident()
        if store._owner == me:
            raise RuntimeError("a transaction is already open in this thread; nesting is a bug")
        store._lock.acquire()
        store._owner = me
        self.tx = MemoryTransaction(store)
        return self.tx

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        store, tx = self.store, self.tx
        try:
            if exc_type is not None:
                store.stats["rollbacks"] += 1
                return
            if tx.failed is not None:
                store.stats["rollbacks"] += 1
                tx._check()  # raises: an IntegrityError rolled the transaction back
            if tx.writes or tx.seqs:
                store._apply(tx)
                store.stats["writes"] += 1
            store.stats["commits"] += 1
        finally:
            tx.closed = True
            store._owner = None
            store._lock.release()


class MemoryStore:
    """A :class:`paycore.ports.Store` in a dict, with hash indexes."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._owner: int | None = None  # thread holding the open transaction
        self._tables: dict[str, _TableState] = {t.name: _TableState(t) for t in TABLES}
        self._seqs: dict[str, int] = {}
        self.stats: dict[str, int] = {"commits": 0, "rollbacks": 0, "writes": 0}

    def transaction(self) -> _Scope:
        return _Scope(self)

    def _apply(self, tx: MemoryTransaction) -> None:
        """Make a transaction's writes visible; raises nothing, so it is all-or-nothing."""
        for name, writes in tx.writes.items():
            state = self._tables[name]
            index = state.index
            moved = []
            for key, record in writes.items():
                old = state.rows.get(key)
                if old is None or index.keyed(old) != index.keyed(record):
                    if old is not None:
                        index.remove(key, old)
                    moved.append((key, record))
            for key, record in writes.items():
                state.pos.setdefault(key, len(state.pos))
                state.rows[key] = record
            for key, record in moved:
                index.add(key, record)
        self._seqs.update(tx.seqs)

    def clone(self) -> MemoryStore:
        """An independent store holding the same content, sequences and counters (for
        the harness's explorer, which copies a world per successor state). Rows are
        immutable records and are shared; no transaction may be open."""
        with self._lock:
            twin = copy.copy(self)  # a subclass stays itself
            twin._lock, twin._owner = threading.RLock(), None
            twin._tables = {name: state.copy() for name, state in self._tables.items()}
            twin._seqs = dict(self._seqs)
            twin.stats = dict(self.stats)
        return twin

    def __deepcopy__(self, memo: dict[int, Any]) -> MemoryStore:
        return self.clone()

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot({name: dict(s.rows) for name, s in self._tables.items()})

    def export(self) -> tuple[dict[str, list[Any]], dict[str, int]]:
        """Every table's rows in insertion order, and the sequences: what restore takes."""
        with self._lock:
            tables = {name: list(state.rows.values()) for name, state in self._tables.items()}
            return tables, dict(self._seqs)

    @classmethod
    def restore(cls, tables: Mapping[str, list[Any]], seqs: Mapping[str, int]) -> MemoryStore:
        """A store holding exactly what :meth:`export` returned (unknown tables ignored)."""
        store = cls()
        by_name = {t.name: t for t in TABLES}
        for name, rows in tables.items():
            state = store._tables.get(name)
            if state is None:
                continue
            for record in rows:
                key = by_name[name].key_of(record)
                state.pos[key] = len(state.pos)
                state.rows[key] = record
                state.index.add(key, record)
        store._seqs.update(seqs)
        return store

    def state_key(self, row_key: Callable[[Any], object] = lambda row: row) -> object:
        """Everything that decides what this store does next, as a picklable value (for
        the harness's explorer): every table's keys and rows in insertion order, by
        table name, and the sequences by name. ``row_key`` stands in for each row (the
        explorer passes a cached digest: rows are immutable and shared between states).
        """
        with self._lock:
            tables = [
                (name, list(state.rows), [row_key(row) for row in state.rows.values()])
                for name, state in sorted(self._tables.items())
            ]
            return tables, sorted(self._seqs.items())

    def fingerprint(self) -> str:
        """SHA-256 of all content: tables by name, rows in insertion order, sequences by name."""
        digest = hashlib.sha256()
        with self._lock:
            for name in sorted(self._tables):
                for key, row in self._tables[name].rows.items():
                    digest.update(_dump(["row", name, key, row]))
            for name in sorted(self._seqs):
                digest.update(_dump(["seq", name, self._seqs[name]]))
        return digest.hexdigest()


def _canon(value: Any) -> Any:
    if attrs.has(type(value)):
        fields = attrs.fields(type(value))
        return [
            type(value).__qualname__,
            [[f.name, _canon(getattr(value, f.name))] for f in fields],
        ]
    if isinstance(value, Enum):
        return ["enum", type(value).__qualname__, _canon(value.value)]
    if isinstance(value, Mapping):
        items = [[_canon(k), _canon(v)] for k, v in value.items()]
        return ["map", sorted(items, key=lambda kv: json.dumps(kv[0], sort_keys=True))]
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return ["repr", type(value).__qualname__, repr(value)]


def _dump(value: Any) -> bytes:
    return json.dumps(_canon(value), separators=(",", ":")).encode() + b"\n"
