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
  raise again, and leaving the block normally raises instead of committing. So does a
  ``DataError`` for a moment no SQL store holds (``find_since`` past 64 bits), as the
  SQL stores fail a transaction on any store error, even one the caller caught.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from typing import Any

from paycore.ports import Snapshot
from paycore.schema import TABLES

from .memory_tables import TableState, fingerprint_of
from .memory_tx import MemoryTransaction

__all__ = ["MemoryStore", "MemoryTransaction"]


_get_ident = threading.get_ident  # every transaction asks (one lookup fewer)


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
        #: The last snapshot's tables, with every table's write count then (in the
        #: order of ``_tables``): a table whose count has not moved is shared.
        self._last: tuple[list[int], dict[str, dict[str, Any]]] | None = None
        #: The last copy of a table :meth:`table_rows` made, with its count of writes then.
        self._one: dict[str, tuple[int, dict[str, Any]]] = {}

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
            twin._last = self._last  # the copies are never written: shareable
            twin._one = dict(self._one)
        return twin

    def __deepcopy__(self, memo: dict[int, Any]) -> MemoryStore:
        return self.clone()

    def snapshot(self) -> Snapshot:
        """Every table's committed rows. A table's copy is made once per change and
        shared by the snapshots that follow until the table is written again (no one
        writes to a snapshot; the harness takes one after every write).

        The write counters of every table are read in one comprehension and compared
        with the last snapshot's as lists, so a snapshot after a write costs a copy of
        the tables it changed and no Python loop over the others."""
        with self._lock:
            tx = self._open
            if tx is not None and tx.undo:
                return Snapshot({name: dict(rows) for name, rows in self._rows().items()})
            states = self._tables
            writes = [state.writes for state in states.values()]
            last = self._last
            if last is None or len(last[0]) != len(writes):  # first, or a table was added
                tables = {name: self._copy_of(name, state) for name, state in states.items()}
            elif last[0] == writes:
                tables = last[1]
            else:
                tables = dict(last[1])
                for (name, state), now, then in zip(states.items(), writes, last[0], strict=True):
                    if now != then:
                        tables[name] = self._copy_of(name, state)
            self._last = (writes, tables)
            return Snapshot(tables)

    def table_rows(self, name: str) -> Mapping[str, Any]:
        """One table's committed rows by key, as :meth:`snapshot` would give them, without
        copying the other tables (the harness finds the runnable flows after every step
        from the flows alone). The copy is shared with the snapshots that follow until the
        table is written again; nobody writes to it."""
        with self._lock:
            tx = self._open
            if tx is not None and tx.undo:
                return dict(self._rows().get(name, {}))
            state = self._tables.get(name)
            return {} if state is None else self._copy_of(name, state)

    def _copy_of(self, name: str, state: TableState) -> dict[str, Any]:
        """A copy of ``state``'s rows: the one :meth:`table_rows` made at the same count
        of writes, else a new one."""
        made = self._one.get(name)
        if made is not None and made[0] == state.writes:
            return made[1]
        rows = dict(state.rows)
        self._one[name] = (state.writes, rows)
        return rows

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
