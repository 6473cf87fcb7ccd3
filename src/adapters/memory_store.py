"""An in-memory :class:`paycore.ports.Store`: the reference adapter for tests and the harness.

Semantics (every adapter's contract is ``paycore_adapters.testing.StoreContract``; faults
are injected from outside, by ``paycore_adapters.harness.faulty.FaultyStore``):

* One global ``RLock`` is held for a whole transaction: serializable, one writer at a
  time (so a claim holds every row it returns). Opening a transaction while this thread
  has one open is a ``RuntimeError``.
* Writes are applied in place and logged; sequence increments are kept aside until the
  commit. Leaving the block by an exception undoes every write and drops the
  increments: a failed transaction leaves the store byte-for-byte as it was (see
  :meth:`MemoryStore.fingerprint`). Sequence values are therefore never reused by
  *committed* data, but a value handed out by a rolled-back transaction may be again.
* An ``IntegrityError`` rolls the transaction back (as in PostgreSQL): later calls on it
  raise again, and leaving the block normally raises instead of committing.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn, TypeVar

from paycore.errors import IntegrityError
from paycore.ports import Snapshot
from paycore.schema import TABLES, Table

from .claims import ClaimByFind
from .memory_tables import Fields, TableState, fingerprint_of

T = TypeVar("T")


_get_ident = threading.get_ident  # every transaction asks (one lookup fewer)

#: One write of a transaction, as it is undone: (table, key, the row before or None).
_Undo = tuple[TableState, str, Any]


class MemoryTransaction(ClaimByFind):
    """A :class:`paycore.ports.Transaction` over a :class:`MemoryStore`.

    Writes go to the store's rows and indexes at once, and each is logged so that a
    rollback puts back exactly what was there: the transaction holds the store's lock
    from start to end, so no other transaction sees them before the commit. Sequence
    increments are kept aside and applied at the commit.
    """

    __slots__ = ("_seqs", "_tables", "closed", "failed", "live", "seqs", "undo")

    def __init__(self, store: MemoryStore) -> None:
        self._tables = store._tables
        self._seqs = store._seqs
        self.undo: list[_Undo] = []
        self.seqs: dict[str, int] = {}
        self.failed: IntegrityError | None = None
        self.closed = False
        self.live = True  # neither closed nor failed: the hot paths test one flag

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("this transaction is over; open a new one")
        if self.failed is not None:
            raise self.failed.rolled_back()

    def _fail(self, message: str, table: Table[Any], constraint: Fields, **fields: Any) -> NoReturn:
        self.failed = IntegrityError(message, table=table.name, constraint=constraint, **fields)
        self.live = False
        raise self.failed

    def _state(self, table: Table[Any]) -> TableState:
        try:
            return self._tables[table.name]
        except KeyError:  # a table paycore.schema does not list: kept from first use
            state = self._tables[table.name] = TableState(table)
            return state

    def get(self, table: Table[T], key: str) -> T | None:
        if not self.live:
            self._check()
        try:
            rows = self._tables[table.name].rows
        except KeyError:
            rows = self._state(table).rows
        return rows.get(key)

    def insert(self, table: Table[T], record: T) -> None:
        if not self.live:
            self._check()
        if not isinstance(record, table.type):
            self._wrong_type(table, record)
        try:
            state = self._tables[table.name]
        except KeyError:
            state = self._state(table)
        key = str(state.key(record))  # Table.key_of, in one C call
        rows = state.rows
        if key in rows:
            self._fail(
                f"{table.name}: a row with {table.key}={key!r} already exists",
                table,
                (table.key,),
                key=key,
            )
        index = state.index
        keyed = index.keyed
        if keyed is not None:
            if index.owners:
                self._index(state, table, key, record, None)
            else:  # find fields only (the audit log): nothing to check, index at once
                values = keyed(record)
                hash(values)  # an unhashable value fails here, before any index changed
                index.put(key, values, ())
        pos = state.pos
        pos[key] = len(pos)
        rows[key] = record
        state.writes += 1
        self.undo.append((state, key, None))

    def update(self, table: Table[T], record: T) -> None:
        if not self.live:
            self._check()
        if not isinstance(record, table.type):
            self._wrong_type(table, record)
        if not hasattr(record, "version"):
            raise ValueError(f"{table.name} rows have no version; they cannot be updated")
        try:
            state = self._tables[table.name]
        except KeyError:
            state = self._state(table)
        key = str(state.key(record))  # Table.key_of, in one C call
        stored = state.rows.get(key)
        if stored is None:
            self._fail(
                f"{table.name}: no row with {table.key}={key!r} to update",
                table,
                (table.key,),
                key=key,
            )
        version, expected = record.version, stored.version + 1  # type: ignore[attr-defined]
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
        index = state.index
        keyed = index.keyed
        if keyed is not None:
            values, old_values = keyed(record), keyed(stored)
            if values != old_values:  # else: same index entries
                hash(values)  # an unhashable value fails here, before any change
                unique = index.unique_part
                if unique is not None and unique(values) != unique(old_values):
                    self._index(state, table, key, record, stored)  # checked first
                else:  # no unique value moved (a status did): nothing to check
                    index.move(key, old_values, values, (), ())
        state.rows[key] = record
        state.writes += 1
        self.undo.append((state, key, stored))

    @staticmethod
    def _wrong_type(table: Table[Any], record: object) -> NoReturn:
        raise TypeError(f"{table.name} holds {table.type.__name__}, not {type(record)}")

    def _index(self, state: TableState, table: Table[Any], key: str, record: Any, old: Any) -> None:
        """Check ``record``'s unique values, then index it in place of ``old``. Every
        check comes before the first change, so a refused write changes nothing."""
        index = state.index
        keyed = index.keyed
        assert keyed is not None, "only indexed tables come here"
        values = keyed(record)
        hash(values)  # an unhashable value fails here, before any index changed
        if old is not None:
            old_values = keyed(old)
            if old_values == values:
                return  # same indexed values: same index entries
        uniques = index.uniques(record)
        for fields, unique in uniques:
            owner = index.owners[fields].get(unique)
            if owner is not None and owner != key:
                shown = ", ".join(f"{f}={v!r}" for f, v in zip(fields, unique, strict=True))
                self._fail(
                    f"{table.name}: unique ({', '.join(fields)}) violated: {shown} "
                    f"already used by {owner!r}",
                    table,
                    fields,
                    key=key,
                    other=owner,
                )
        if old is not None:
            index.move(key, old_values, values, index.uniques(old), uniques)
        else:
            index.put(key, values, uniques)

    def find(self, table: Table[T], field: str, value: object) -> list[T]:
        if not self.live:
            self._check()
        if field == table.key:
            row = self.get(table, str(value))
            return [row] if row is not None and getattr(row, field) == value else []
        try:
            state = self._tables[table.name]
        except KeyError:
            state = self._state(table)
        buckets = state.index.buckets.get(field)
        if buckets is None:
            raise ValueError(f"{table.name}.{field} is not indexed; declare it in paycore.schema")
        keys = buckets.get(value)
        if not keys:
            return []
        rows = state.rows
        if len(keys) > 1:
            return [rows[k] for k in sorted(keys, key=state.pos.__getitem__)]
        (only,) = keys  # the usual answer: one row (no comprehension's frame)
        return [rows[only]]

    def find_since(
        self, table: Table[T], field: str, value: object, time_field: str, since: int
    ) -> list[T]:
        if (field, time_field) not in table.ranges:
            raise ValueError(f"{table.name}: no range ({field}, {time_field}) in paycore.schema")
        return [r for r in self.find(table, field, value) if getattr(r, time_field) >= since]

    def scan(self, table: Table[T]) -> Iterator[T]:
        if not self.live:
            self._check()
        return iter(list(self._state(table).rows.values()))  # eager: later writes stay out

    def next_seq(self, name: str) -> int:
        if not self.live:
            self._check()
        seqs = self.seqs
        value = seqs[name] = seqs.get(name, self._seqs.get(name, 0)) + 1
        return value

    def rollback(self) -> None:
        """Put back every row and index entry this transaction changed, newest first."""
        for state, key, old in reversed(self.undo):
            index = state.index
            if index.keyed is not None:
                index.remove(key, state.rows[key])
            if old is None:
                del state.rows[key]
                del state.pos[key]
            else:
                state.rows[key] = old
                if index.keyed is not None:
                    index.add(key, old)
        self.undo.clear()
        self.seqs.clear()

    def committed(self, tables: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """``tables`` (name -> rows) as they were before this transaction: copies of
        the tables it changed, with its writes taken out."""
        copies: dict[str, dict[str, Any]] = {}
        for state, key, old in reversed(self.undo):
            rows = copies.get(state.name)
            if rows is None:
                rows = copies[state.name] = dict(state.rows)
            if old is None:
                del rows[key]
            else:
                rows[key] = old
        return {**tables, **copies}


class _Scope:
    """The ``with`` block of one transaction (a class, not a generator: it is hot)."""

    __slots__ = ("store", "tx")

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def __enter__(self) -> MemoryTransaction:
        store = self.store
        me = _get_ident()
        if store._owner == me:
            raise RuntimeError("a transaction is already open in this thread; nesting is a bug")
        store._lock.acquire()
        store._owner = me
        self.tx = store._open = MemoryTransaction(store)
        return self.tx

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        store, tx = self.store, self.tx
        try:
            if exc_type is not None or tx.failed is not None:
                tx.rollback()
                store.stats["rollbacks"] += 1
                if exc_type is None:
                    tx._check()  # raises: an IntegrityError rolled the transaction back
                return
            stats = store.stats
            if tx.undo or tx.seqs:
                store._seqs.update(tx.seqs)
                stats["writes"] += 1
            stats["commits"] += 1
        finally:
            tx.closed, tx.live = True, False
            store._open = store._owner = None
            store._lock.release()


class MemoryStore:
    """A :class:`paycore.ports.Store` in a dict, with hash indexes."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._owner: int | None = None  # thread holding the open transaction
        self._open: MemoryTransaction | None = None  # the open transaction
        self._tables: dict[str, TableState] = {t.name: TableState(t) for t in TABLES}
        self._seqs: dict[str, int] = {}
        self.stats: dict[str, int] = {"commits": 0, "rollbacks": 0, "writes": 0}
        #: The last copy of each table a snapshot made, with the table's write count then.
        self._copies: dict[str, tuple[int, dict[str, Any]]] = {}

    def transaction(self) -> _Scope:
        return _Scope(self)

    def _rows(self) -> dict[str, dict[str, Any]]:
        """Every table's committed rows by name (call with the lock held). A transaction
        open meanwhile can only be this thread's: its writes are left out."""
        tables = {name: state.rows for name, state in self._tables.items()}
        tx = self._open
        return tables if tx is None or not tx.undo else tx.committed(tables)

    def clone(self) -> MemoryStore:
        """An independent store holding the same content, sequences and counters (for
        the harness's explorer, which copies a world per successor state). Rows are
        immutable records and are shared; no transaction may be open."""
        with self._lock:
            if self._open is not None:
                raise RuntimeError("clone() inside a transaction: clone between transactions")
            twin = copy.copy(self)  # a subclass stays itself
            twin._lock, twin._owner = threading.RLock(), None
            twin._tables = {name: state.copy() for name, state in self._tables.items()}
            twin._seqs = dict(self._seqs)
            twin.stats = dict(self.stats)
            twin._copies = dict(self._copies)  # the copies are never written: shareable
        return twin

    def __deepcopy__(self, memo: dict[int, Any]) -> MemoryStore:
        return self.clone()

    def snapshot(self) -> Snapshot:
        """Every table's committed rows. A table's copy is made once per change and
        shared by the snapshots that follow until the table is written again (no one
        writes to a snapshot; the harness takes one after every write)."""
        with self._lock:
            tx = self._open
            if tx is not None and tx.undo:
                return Snapshot({name: dict(rows) for name, rows in self._rows().items()})
            tables = {}
            copies = self._copies
            for name, state in self._tables.items():
                copy_ = copies.get(name)
                if copy_ is None or copy_[0] != state.writes:
                    copy_ = copies[name] = (state.writes, dict(state.rows))
                tables[name] = copy_[1]
            return Snapshot(tables)

    def export(self) -> tuple[dict[str, list[Any]], dict[str, int]]:
        """Every table's rows in insertion order, and the sequences: what restore takes."""
        with self._lock:
            tables = {name: list(rows.values()) for name, rows in self._rows().items()}
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
                (name, list(rows), [row_key(row) for row in rows.values()])
                for name, rows in sorted(self._rows().items())
            ]
            return tables, sorted(self._seqs.items())

    def table_versions(self) -> dict[str, int]:
        """Each table's count of writes, rolled back ones included: a table whose count
        has not moved holds what it held (the harness re-checks only what changed)."""
        return {name: state.writes for name, state in self._tables.items()}

    def fingerprint(self) -> str:
        """SHA-256 of all content: tables by name, rows in insertion order, sequences by name."""
        with self._lock:
            return fingerprint_of(self._rows(), self._seqs)
