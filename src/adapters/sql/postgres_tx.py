"""One PostgreSQL transaction of :class:`paycore_adapters.sql.postgres_store.PostgresStore`,
each table's statements, and the translation of the driver's errors into the port's.

The statements are written once per table; psycopg prepares a statement on the server
after its fifth use on a connection, so a busy connection sends only its name and values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, NoReturn, TypeVar

import psycopg
from psycopg import errors as pgerrors
from psycopg.rows import TupleRow

from paycore.errors import IntegrityError, OperationalError, StoreConflict
from paycore.schema import Table

from .columns import table_map
from .ddl import POSTGRESQL, quote, unique_name

T = TypeVar("T")
Conn = psycopg.Connection[TupleRow]

#: SQLSTATEs of a transaction refused because another one conflicted with it: it rolled
#: back whole and may run again (serialization_failure, deadlock_detected).
CONFLICTS = frozenset({"40001", "40P01"})


def translate(exc: psycopg.Error, doing: str) -> OperationalError:
    """The port's error for a driver error raised while ``doing`` (not for a unique
    violation, which :meth:`PostgresTransaction._refused` names)."""
    if exc.sqlstate in CONFLICTS:
        return StoreConflict(f"{doing}: {exc.sqlstate} {exc}".strip(), sqlstate=exc.sqlstate)
    return OperationalError(f"{doing}: the PostgreSQL store failed: {exc}".strip())


class TableSql:
    """A table's statements (``%s`` placeholders, JSON columns cast to ``jsonb``) and
    the constraint names back to the fields they are declared on."""

    def __init__(self, table: Table[Any]) -> None:
        m = self.map = table_map(table)
        self.table = table
        name = quote(m.name)
        cols = ", ".join(quote(c) for c in m.column_names)
        order = quote(POSTGRESQL.order_column)
        key = quote(m.key_column)
        slots = ", ".join("%s::jsonb" if c.kind == "json" else "%s" for c in m.columns)
        self.select = f"SELECT {cols} FROM {name} WHERE {key} = %s"
        self.scan = f"SELECT {cols} FROM {name} ORDER BY {order}"
        self.insert = f"INSERT INTO {name} ({cols}) VALUES ({slots})"
        sets = ", ".join(
            f"{quote(c.name)} = %s::jsonb" if c.kind == "json" else f"{quote(c.name)} = %s"
            for c in m.columns
        )
        self.update = f"UPDATE {name} SET {sets} WHERE {key} = %s AND {quote('version')} = %s"
        self.version = f"SELECT {quote('version')} FROM {name} WHERE {key} = %s"
        singles = (u[0] for u in table.unique if len(u) == 1)
        #: The fields ``find`` may look rows up by, and each one's statement.
        self.finds = {
            f: f"SELECT {cols} FROM {name} WHERE {quote(m.column_of(f))} = %s ORDER BY {order}"
            for f in dict.fromkeys((*table.indexes, *singles))
        }
        #: The (field, time field) pairs ``find_since`` may use, and each one's statement.
        self.ranges = {
            (f, tf): f"SELECT {cols} FROM {name} WHERE {quote(m.column_of(f))} = %s "
            f"AND {quote(m.column_of(tf))} >= %s ORDER BY {order}"
            for f, tf in table.ranges
        }
        #: Constraint names (as the migrations create them) back to their fields.
        self.constraints: dict[str, tuple[str, ...]] = {
            unique_name(m, fields): tuple(fields) for fields in table.unique
        }
        self.constraints[f"{m.name}_pkey"] = (table.key,)

    def all_rows(self, conn: Conn) -> dict[str, Any]:
        record, key = self.map.record, self.table.key_of
        out: dict[str, Any] = {}
        for row in conn.execute(self.scan):
            rec = record(row)
            out[key(rec)] = rec
        return out


class PostgresTransaction:
    """A :class:`paycore.ports.Transaction` on one pooled connection, inside a
    ``SERIALIZABLE`` transaction."""

    def __init__(self, conn: Conn, sql: dict[str, TableSql], writes: Counter[str]) -> None:
        self.conn = conn
        self._sql = sql
        self._writes = writes
        self.failed: IntegrityError | None = None
        self.closed = False
        self.wrote = False

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

    def _run(self, sql: str, args: tuple[Any, ...]) -> psycopg.Cursor[TupleRow]:
        try:
            return self.conn.execute(sql, args)
        except psycopg.IntegrityError:  # SQLSTATE class 23: the caller names the constraint
            raise
        except psycopg.Error as exc:
            raise translate(exc, "a statement failed") from None

    def get(self, table: Table[T], key: str) -> T | None:
        t = self._table(table)
        row = self._run(t.select, (key,)).fetchone()
        return None if row is None else t.map.record(row)

    def insert(self, table: Table[T], record: T) -> None:
        t = self._table(table)
        if not isinstance(record, table.type):
            raise TypeError(f"{table.name} holds {table.type.__name__}, not {type(record)}")
        self._wrote(table)
        try:
            self._run(t.insert, t.map.row(record))
        except psycopg.IntegrityError as exc:
            self._refused(t, table.key_of(record), exc)

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
        except psycopg.IntegrityError as exc:
            self._refused(t, key, exc)
        if changed == 1:
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
        record = t.map.record
        return [record(r) for r in self._run(sql, (t.map.value(field, value), since))]

    def scan(self, table: Table[T]) -> Iterator[T]:
        t = self._table(table)
        record = t.map.record
        return iter([record(r) for r in self._run(t.scan, ())])

    def next_seq(self, name: str) -> int:
        if self.closed or self.failed is not None:
            self._check()
        self.wrote = True
        row = self._run(
            "INSERT INTO paycore_sequences (name, value) VALUES (%s, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = paycore_sequences.value + 1 "
            "RETURNING value",
            (name,),
        ).fetchone()
        assert row is not None  # RETURNING always gives the row
        return int(row[0])

    # --- failures ----------------------------------------------------------------------

    def _wrote(self, table: Table[Any]) -> None:
        self.wrote = True
        self._writes[table.name] += 1

    def _refused(self, t: TableSql, key: str, exc: psycopg.IntegrityError) -> NoReturn:
        """A constraint refused a write: the port's IntegrityError, naming the fields of a
        unique constraint (PostgreSQL has aborted the transaction; the scope rolls it back)."""
        name = t.map.name
        fields = None
        if isinstance(exc, pgerrors.UniqueViolation):
            fields = t.constraints.get(exc.diag.constraint_name or "")
        if fields is None:
            self._fail(f"{name}: a constraint refused the write: {exc}", t, (), key=key)
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
