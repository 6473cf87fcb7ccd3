"""The port's transaction over one SQL connection, the same for every SQL store.

A store's subclass says how a statement runs on its driver and which constraint a
driver's integrity error names; everything else is here:

* rows the transaction read or wrote are kept by table and key (it is the only one that
  can change them before it ends: the store's isolation guarantees it), so reading a
  row again costs no statement;
* log rows (``Table.append_only``) wait and are written in one ``executemany`` per table,
  before the transaction reads that table and at its end (:meth:`finish`);
* a sequence drawn several times in one transaction is bumped once and written back
  once, at the end;
* an integrity error fails the transaction: later calls raise, and leaving the block
  rolls it back, as on every store.
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar, NoReturn, TypeVar

from paycore.errors import IntegrityError
from paycore.schema import Table

from ..claims import check_claim
from .statements import TableSql

T = TypeVar("T")


class SqlTransaction(abc.ABC):
    """A :class:`paycore.ports.Transaction` on one connection inside a transaction."""

    #: The statements that draw from a sequence and write it back (``{p}``: placeholder).
    BUMP: ClassVar[str] = (
        "INSERT INTO paycore_sequences (name, value) VALUES ({p}, 1) "
        "ON CONFLICT (name) DO UPDATE SET value = paycore_sequences.value + 1 RETURNING value"
    )
    SET: ClassVar[str] = "UPDATE paycore_sequences SET value = {p} WHERE name = {p}"
    #: The driver's exception for a refused constraint.
    integrity: ClassVar[type[Exception]] = Exception
    placeholder: ClassVar[str] = "?"

    def __init__(self, conn: Any, sql: dict[str, TableSql], writes: Counter[str]) -> None:
        self.conn = conn
        self._sql = sql
        self._writes = writes
        self.failed: IntegrityError | None = None
        self.closed = False
        self.wrote = False
        #: Rows this transaction read or wrote, by table and key (None: known absent).
        self._rows: dict[str, dict[str, Any]] = {}
        #: Log rows (``Table.append_only``) not written yet, by table.
        self._log: dict[str, list[tuple[Any, ...]]] = {}
        #: Sequences this transaction drew from: [the last value it gave, the stored one].
        self._seqs: dict[str, list[int]] = {}

    # --- what a store's driver does ----------------------------------------------------

    @abc.abstractmethod
    def _run(self, sql: str, args: tuple[Any, ...]) -> Any:
        """Run one statement; its cursor. A refused constraint raises ``integrity``;
        any other driver error the port's error."""

    @abc.abstractmethod
    def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one statement for each row, as ``_run`` raises."""

    @abc.abstractmethod
    def _constraint(self, t: TableSql, exc: Exception) -> tuple[str, ...] | None:
        """The fields of the unique constraint ``exc`` refused (None: another kind)."""

    # --- the port ----------------------------------------------------------------------

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("this transaction is over; open a new one")
        if self.failed is not None:
            raise IntegrityError(
                f"transaction rolled back: {self.failed.message}", **self.failed.fields
            )

    def _table(self, table: Table[Any]) -> TableSql:
        if self.closed or self.failed is not None:
            self._check()
        try:
            return self._sql[table.name]
        except KeyError:
            raise ValueError(f"{table.name} is not a table of paycore.schema") from None

    def get(self, table: Table[T], key: str) -> T | None:
        t = self._table(table)
        known = self._rows.get(table.name)
        if known is None:
            known = self._rows[table.name] = {}
        elif key in known:
            return known[key]  # type: ignore[no-any-return]
        if table.name in self._log:
            self._write_log(table.name)
        row = self._run(t.select, (key,)).fetchone()
        record = known[key] = None if row is None else t.map.record(row)
        return record

    def insert(self, table: Table[T], record: T) -> None:
        t = self._table(table)
        if not isinstance(record, table.type):
            raise TypeError(f"{table.name} holds {table.type.__name__}, not {type(record)}")
        self._wrote(table)
        if table.append_only:
            self._log.setdefault(table.name, []).append(t.map.row(record))
            return
        key = table.key_of(record)
        try:
            self._run(t.insert, t.map.row(record))
        except self.integrity as exc:
            self._refused(t, key, exc)
        self._rows.setdefault(table.name, {})[key] = record

    def update(self, table: Table[T], record: T) -> None:
        t = self._table(table)
        if not isinstance(record, table.type):
            raise TypeError(f"{table.name} holds {table.type.__name__}, not {type(record)}")
        if not t.map.versioned:
            raise ValueError(f"{table.name} rows have no version; they cannot be updated")
        key = table.key_of(record)
        version: int = record.version  # type: ignore[attr-defined]
        self._wrote(table)
        try:
            changed = self._run(t.update, (*t.map.row(record), key, version - 1)).rowcount
        except self.integrity as exc:
            self._refused(t, key, exc)
        if changed == 1:
            self._rows.setdefault(table.name, {})[key] = record
            return
        stored = self._run(t.version, (key,)).fetchone()
        if stored is None:
            missing = f"{table.name}: no row with {table.key}={key!r} to update"
            self._fail(missing, t, (table.key,), key=key)
        expected = int(stored[0]) + 1
        self._fail(
            f"{table.name}: stale write to {key!r}: version {version}, expected "
            f"{expected}; re-read the row and retry",
            t,
            ("version",),
            key=key,
            version=version,
            expected=expected,
        )

    def find(self, table: Table[T], field: str, value: object) -> list[T]:
        t = self._table(table)
        if field == table.key:
            row = self.get(table, str(value))
            return [row] if row is not None and getattr(row, field) == value else []
        sql = t.finds.get(field)
        if sql is None:
            raise ValueError(f"{table.name}.{field} is not indexed; declare it in paycore.schema")
        return self._records(t, sql, (t.map.value(value),))

    def find_since(
        self, table: Table[T], field: str, value: object, time_field: str, since: int
    ) -> list[T]:
        t = self._table(table)
        sql = t.ranges.get((field, time_field))
        if sql is None:
            raise ValueError(
                f"{table.name}: no range ({field}, {time_field}); declare it in paycore.schema"
            )
        return self._records(t, sql, (t.map.value(value), since))

    def claim(
        self,
        table: Table[T],
        field: str,
        value: object,
        limit: int,
        *,
        due: tuple[str, int] | None = None,
        after: str | None = None,
    ) -> list[T]:
        """The rows of the store's claim statement (:meth:`TableSql.claim`), kept with
        the rows this transaction read: it holds them until it ends."""
        t = self._table(table)
        check_claim(table, limit, due)
        args: list[Any] = [t.map.value(value)]
        args += [due[1]] if due is not None else []
        args += [after] if after is not None else []
        sql = t.claim(field, None if due is None else due[0], after is not None)
        rows: list[T] = self._records(t, sql, (*args, limit))
        known = self._rows.setdefault(table.name, {})
        for row in rows:
            known[table.key_of(row)] = row
        return rows

    def scan(self, table: Table[T]) -> Iterator[T]:
        return iter(self._records(self._table(table), self._table(table).scan, ()))

    def _records(self, t: TableSql, sql: str, args: tuple[Any, ...]) -> list[Any]:
        if t.map.name in self._log:
            self._write_log(t.map.name)
        record = t.map.record
        return [record(r) for r in self._run(sql, args)]

    def next_seq(self, name: str) -> int:
        """The first draw of a sequence in a transaction bumps its stored value; the
        others count on in memory, written back once at the end (:meth:`finish`)."""
        if self.closed or self.failed is not None:
            self._check()
        self.wrote = True
        drawn = self._seqs.get(name)
        if drawn is not None:
            drawn[0] += 1
            return drawn[0]
        row = self._run(self.BUMP.format(p=self.placeholder), (name,)).fetchone()
        value = int(row[0])
        self._seqs[name] = [value, value]
        return value

    def finish(self) -> None:
        """Write what waits for the end: the log rows, and the sequences drawn from more
        than once. Called before the commit; an integrity error here fails it."""
        for name in list(self._log):
            self._write_log(name)
        for name, (last, stored) in self._seqs.items():
            if last != stored:
                self._run(self.SET.format(p=self.placeholder), (last, name))

    def _write_log(self, name: str) -> None:
        rows = self._log.pop(name)
        t = self._sql[name]
        try:
            self._many(t.insert, rows)
        except self.integrity as exc:
            self._refused(t, "?", exc)

    # --- failures ----------------------------------------------------------------------

    def _wrote(self, table: Table[Any]) -> None:
        self.wrote = True
        self._writes[table.name] += 1

    def _refused(self, t: TableSql, key: str, exc: Exception) -> NoReturn:
        """A constraint refused a write: the port's IntegrityError, naming its fields."""
        name = t.map.name
        fields = self._constraint(t, exc)
        if fields is None:
            self._fail(f"{name}: a constraint refused the write: {exc}", t, (), key=key)
        if fields == (t.table.key,):
            exists = f"{name}: a row with {t.table.key}={key!r} already exists"
            self._fail(exists, t, fields, key=key)
        self._fail(f"{name}: unique ({', '.join(fields)}) violated", t, fields, key=key)

    def _fail(
        self, message: str, t: TableSql, constraint: tuple[str, ...], **fields: Any
    ) -> NoReturn:
        self.failed = IntegrityError(message, table=t.map.name, constraint=constraint, **fields)
        raise self.failed
