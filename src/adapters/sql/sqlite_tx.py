"""One SQLite transaction of :class:`paycore_adapters.sql.sqlite_store.SQLiteStore`,
and each table's statements (prepared once per table, cached by the driver)."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from typing import Any, NoReturn, TypeVar

from paycore.errors import IntegrityError, OperationalError
from paycore.schema import Table

from .columns import table_map
from .ddl import SQLITE, quote

T = TypeVar("T")

_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")


class TableSql:
    """A table's statements and how its rows become records."""

    def __init__(self, table: Table[Any]) -> None:
        m = self.map = table_map(table)
        self.table = table
        name = quote(m.name)
        cols = ", ".join(quote(c) for c in m.column_names)
        order = SQLITE.order_column
        key = quote(m.key_column)
        self.select = f"SELECT {cols} FROM {name} WHERE {key} = ?"
        self.scan = f"SELECT {cols} FROM {name} ORDER BY {order}"
        self.insert = (
            f"INSERT INTO {name} ({cols}) VALUES ({', '.join('?' for _ in m.column_names)})"
        )
        sets = ", ".join(f"{quote(c)} = ?" for c in m.column_names)
        self.update = f"UPDATE {name} SET {sets} WHERE {key} = ? AND {quote('version')} = ?"
        self.version = f"SELECT {quote('version')} FROM {name} WHERE {key} = ?"
        singles = (u[0] for u in table.unique if len(u) == 1)
        #: The fields ``find`` may look rows up by, and each one's statement.
        self.finds = {
            f: f"SELECT {cols} FROM {name} WHERE {quote(m.column_of(f))} = ? ORDER BY {order}"
            for f in dict.fromkeys((*table.indexes, *singles))
        }
        #: The (field, time field) pairs ``find_since`` may use, and each one's statement.
        self.ranges = {
            (f, tf): f"SELECT {cols} FROM {name} WHERE {quote(m.column_of(f))} = ? "
            f"AND {quote(m.column_of(tf))} >= ? ORDER BY {order}"
            for f, tf in table.ranges
        }
        #: Column names back to the field a constraint is declared on.
        self.fields_of = {m.column_of(f): f for u in table.unique for f in u}
        self.fields_of[m.key_column] = table.key

    def all_rows(self, conn: sqlite3.Connection) -> dict[str, Any]:
        record, key = self.map.record, self.table.key_of
        out: dict[str, Any] = {}
        for row in conn.execute(self.scan):
            rec = record(row)
            out[key(rec)] = rec
        return out


class SQLiteTransaction:
    """A :class:`paycore.ports.Transaction` on a connection inside ``BEGIN IMMEDIATE``."""

    def __init__(
        self, conn: sqlite3.Connection, sql: dict[str, TableSql], writes: Counter[str]
    ) -> None:
        self.conn = conn
        self._sql = sql
        self._writes = writes
        self.failed: IntegrityError | None = None
        self.closed = False
        self.wrote = False
        #: Rows this transaction read or wrote, by table and key (None: known absent). The
        #: transaction holds the write lock: no one else changes them before it ends.
        self._rows: dict[str, dict[str, Any]] = {}
        #: Log rows (``Table.append_only``) not written yet, by table.
        self._log: dict[str, list[tuple[Any, ...]]] = {}
        #: Sequences this transaction drew from: [the last value it gave, the stored one].
        self._seqs: dict[str, list[int]] = {}

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

    def _run(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, args)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise OperationalError(f"the SQLite store failed: {exc}") from None

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
        except sqlite3.IntegrityError as exc:
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
        except sqlite3.IntegrityError as exc:
            self._refused(t, key, exc)
        if changed == 1:
            self._rows.setdefault(table.name, {})[key] = record
            return
        stored = self._run(t.version, (key,)).fetchone()
        if stored is None:
            self._fail(
                f"{table.name}: no row with {table.key}={key!r} to update", t, (table.key,), key=key
            )
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
        if table.name in self._log:
            self._write_log(table.name)
        record = t.map.record
        return [record(r) for r in self._run(sql, (t.map.value(field, value),))]

    def find_since(
        self, table: Table[T], field: str, value: object, time_field: str, since: int
    ) -> list[T]:
        t = self._table(table)
        sql = t.ranges.get((field, time_field))
        if sql is None:
            raise ValueError(
                f"{table.name}: no range ({field}, {time_field}); declare it in paycore.schema"
            )
        if table.name in self._log:
            self._write_log(table.name)
        record = t.map.record
        return [record(r) for r in self._run(sql, (t.map.value(field, value), since))]

    def scan(self, table: Table[T]) -> Iterator[T]:
        t = self._table(table)
        if table.name in self._log:
            self._write_log(table.name)
        record = t.map.record
        return iter([record(r) for r in self._run(t.scan, ())])

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
        row = self._run(
            "INSERT INTO paycore_sequences (name, value) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            (name,),
        ).fetchone()
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
                self._run("UPDATE paycore_sequences SET value = ? WHERE name = ?", (last, name))

    def _write_log(self, name: str) -> None:
        rows = self._log.pop(name)
        t = self._sql[name]
        try:
            self.conn.executemany(t.insert, rows)
        except sqlite3.IntegrityError as exc:
            self._refused(t, "?", exc)
        except sqlite3.Error as exc:
            raise OperationalError(f"the SQLite store failed: {exc}") from None

    # --- failures ----------------------------------------------------------------------

    def _wrote(self, table: Table[Any]) -> None:
        self.wrote = True
        self._writes[table.name] += 1

    def _refused(self, t: TableSql, key: str, exc: sqlite3.IntegrityError) -> NoReturn:
        """A constraint refused a write: the port's IntegrityError, naming its fields."""
        name = t.map.name
        m = _UNIQUE.match(str(exc))
        if m is None:
            self._fail(f"{name}: a constraint refused the write: {exc}", t, (), key=key)
        columns = [c.strip().split(".", 1)[-1] for c in m.group(1).split(",")]
        fields = tuple(t.fields_of.get(c, c) for c in columns)
        if fields == (t.table.key,):
            self._fail(
                f"{name}: a row with {t.table.key}={key!r} already exists", t, fields, key=key
            )
        self._fail(f"{name}: unique ({', '.join(fields)}) violated", t, fields, key=key)

    def _fail(
        self, message: str, t: TableSql, constraint: tuple[str, ...], **fields: Any
    ) -> NoReturn:
        self.failed = IntegrityError(message, table=t.map.name, constraint=constraint, **fields)
        raise self.failed
