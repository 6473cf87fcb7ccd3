"""The in-memory store's transaction: reads and writes in place, with an undo log.

Part of :mod:`paycore_adapters.memory_store` (its semantics are described there);
:class:`MemoryTransaction` is opened by the store's ``transaction()`` with the store's
lock held.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from paycore.errors import DataError, IntegrityError, StoreError
from paycore.schema import Table

from .claims import ClaimByFind
from .memory_tables import Fields, TableState
from .sql.statements import check_limit
from .sql.tx_failure import rolled_back

if TYPE_CHECKING:
    from .memory_store import MemoryStore

T = TypeVar("T")


#: One write of a transaction, as it is undone: (table, key, the row before or None).
_Undo = tuple[TableState, str, Any]

#: The integers every store holds (SQLite's INTEGER, PostgreSQL's bigint: 64 bits).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


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
        self.failed: StoreError | None = None
        self.closed = False
        self.live = True  # neither closed nor failed: the hot paths test one flag

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("this transaction is over; open a new one")
        if self.failed is not None:
            raise rolled_back(self.failed)

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
        # Only a table with unique constraints comes here: its index's ``uniques`` is
        # ``Table.unique_values`` (called straight, a frame fewer).
        uniques = table.unique_values(record)
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
            index.move(key, old_values, values, table.unique_values(old), uniques)
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
        self,
        table: Table[T],
        field: str,
        value: object,
        time_field: str,
        since: int,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[T]:
        if (field, time_field) not in table.ranges:
            raise ValueError(f"{table.name}: no range ({field}, {time_field}) in paycore.schema")
        check_limit(table, limit)
        if not INT64_MIN <= since <= INT64_MAX:  # as a SQL store refuses it, failing it
            if not self.live:
                self._check()
            self.failed, self.live = DataError(f"no store holds the moment {since}"), False
            raise self.failed
        rows = [r for r in self.find(table, field, value) if getattr(r, time_field) >= since]
        if after is not None:
            key = table.key_of
            rows = sorted((r for r in rows if key(r) > after), key=key)
        return rows if limit is None else rows[:limit]

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
