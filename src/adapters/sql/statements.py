"""Each table's statements for a SQL store, written once per table and dialect (the
drivers keep them prepared), and how a refused constraint maps back to its fields."""

from __future__ import annotations

from typing import Any

from .columns import table_map
from .ddl import Dialect, quote, unique_name


class TableSql:
    """A table's statements in ``dialect`` (``placeholder``: ``?`` or ``%s``; a JSON
    column's value is cast where the dialect stores JSON as its own type)."""

    def __init__(self, table: Any, dialect: Dialect, placeholder: str) -> None:
        m = self.map = table_map(table)
        self.table = table
        name = quote(m.name)
        cols = ", ".join(quote(c) for c in m.column_names)
        order = quote(dialect.order_column) if dialect.order_declaration else dialect.order_column
        key = quote(m.key_column)
        p = placeholder
        cast = "::jsonb" if dialect.types["json"] == "jsonb" else ""
        slot = {c.name: f"{p}{cast}" if c.kind == "json" else p for c in m.columns}
        self.select = f"SELECT {cols} FROM {name} WHERE {key} = {p}"
        self.scan = f"SELECT {cols} FROM {name} ORDER BY {order}"
        self._row = f"({', '.join(slot[c] for c in m.column_names)})"
        self.insert = f"INSERT INTO {name} ({cols}) VALUES {self._row}"
        self._inserts = {1: self.insert}
        sets = ", ".join(f"{quote(c)} = {slot[c]}" for c in m.column_names)
        self._where = f" WHERE {key} = {p} AND {quote('version')} = {p}"
        self.update = f"UPDATE {name} SET {sets}{self._where}"
        self._slot = slot
        #: ``update_of``'s statements, written on first use: by the changed fields.
        self._updates: dict[tuple[int, ...], str] = {}
        self.version = f"SELECT {quote('version')} FROM {name} WHERE {key} = {p}"
        singles = (u[0] for u in table.unique if len(u) == 1)
        #: The fields ``find`` may look rows up by, and each one's statement.
        self.finds = {
            f: f"SELECT {cols} FROM {name} WHERE {quote(m.column_of(f))} = {p} ORDER BY {order}"
            for f in dict.fromkeys((*table.indexes, *singles))
        }
        #: Column names back to the field a constraint is declared on (SQLite names the
        #: columns of the constraint it refused).
        self.fields_of = {m.column_of(f): f for u in table.unique for f in u}
        self.fields_of[m.key_column] = table.key
        #: Constraint names, as the migrations create them, back to their fields
        #: (PostgreSQL names the constraint).
        self.constraints: dict[str, tuple[str, ...]] = {
            unique_name(m, fields): tuple(fields) for fields in table.unique
        }
        self.constraints[f"{m.name}_pkey"] = (table.key,)
        self._dialect, self._placeholder, self._cols, self._order = dialect, p, cols, order
        #: ``claim``'s statements, written on first use: by (field, due field, keyed).
        self._claims: dict[tuple[str, str | None, bool], str] = {}
        #: ``find_since``'s, by (field, time field, keyed, limited).
        self._ranges: dict[tuple[str, str, bool, bool], str] = {}

    def insert_rows(self, n: int) -> str:
        """One INSERT of ``n`` rows (their values one after another)."""
        sql = self._inserts.get(n)
        if sql is None:
            sql = self._inserts[n] = f"{self.insert}{f', {self._row}' * (n - 1)}"
        return sql

    def update_of(self, changed: tuple[int, ...]) -> str:
        """The UPDATE of only the columns of ``changed`` (field numbers, as
        ``TableMap.diff`` gives them), checked against the version it builds on."""
        sql = self._updates.get(changed)
        if sql is None:
            cols = [c.name for i in changed for c in self.map.groups[i]]
            sets = ", ".join(f"{quote(c)} = {self._slot[c]}" for c in cols)
            sql = self._updates[changed] = f"UPDATE {quote(self.map.name)} SET {sets}{self._where}"
        return sql

    def claim(self, field: str, due: str | None, keyed: bool) -> str:
        """The statement that claims rows whose ``field`` is a value (and whose ``due``
        time field is at most a moment), in insertion order or, ``keyed``, in key order
        past a key; its last value is the limit. On PostgreSQL it locks the rows it
        returns and skips the rows other transactions hold (``FOR UPDATE SKIP LOCKED``);
        SQLite runs one writing transaction at a time and needs no lock of its own.

        Raises:
            ValueError: ``field`` is neither indexed nor the key.
        """
        sql = self._claims.get((field, due, keyed))
        if sql is not None:
            return sql
        m, p, table = self.map, self._placeholder, self.table
        if field != table.key and field not in self.finds:
            raise ValueError(f"{m.name}.{field} is not indexed; declare it in paycore.schema")
        postgres = self._dialect.name == "postgresql"
        key = quote(m.key_column) + (' COLLATE "C"' if postgres else "")  # Python's order
        where = [f"{quote(m.column_of(field))} = {p}"]
        if due is not None:
            where.append(f"{quote(m.column_of(due))} <= {p}")
        if keyed:
            where.append(f"{key} > {p}")
        order = key if keyed else self._order
        sql = (
            f"SELECT {self._cols} FROM {quote(m.name)} WHERE {' AND '.join(where)} "
            f"ORDER BY {order} LIMIT {p}" + (" FOR UPDATE SKIP LOCKED" if postgres else "")
        )
        self._claims[(field, due, keyed)] = sql
        return sql

    def since(self, field: str, time_field: str, keyed: bool, limited: bool) -> str:
        """The statement of ``find_since``: rows whose ``field`` is a value and whose
        ``time_field`` is at least a moment, in insertion order or, ``keyed``, in key
        order past a key (Python's order: ``COLLATE "C"`` on PostgreSQL), and when
        ``limited`` at most a number of them (the last value).

        Raises:
            ValueError: (``field``, ``time_field``) is not one of the table's ranges.
        """
        shape = (field, time_field, keyed, limited)
        sql = self._ranges.get(shape)
        if sql is not None:
            return sql
        m, p = self.map, self._placeholder
        if (field, time_field) not in self.table.ranges:
            raise ValueError(
                f"{m.name}: no range ({field}, {time_field}); declare it in paycore.schema"
            )
        key = quote(m.key_column) + (' COLLATE "C"' if self._dialect.name == "postgresql" else "")
        where = f"{quote(m.column_of(field))} = {p} AND {quote(m.column_of(time_field))} >= {p}"
        sql = f"SELECT {self._cols} FROM {quote(m.name)} WHERE {where}"
        sql += f" AND {key} > {p} ORDER BY {key}" if keyed else f" ORDER BY {self._order}"
        sql = self._ranges[shape] = sql + (f" LIMIT {p}" if limited else "")
        return sql

    def all_rows(self, conn: Any) -> dict[str, Any]:
        """Every row of the table on ``conn``, as records by key, in insertion order."""
        record, key = self.map.record, self.table.key_of
        out: dict[str, Any] = {}
        for row in conn.execute(self.scan):
            rec = record(row)
            out[key(rec)] = rec
        return out


def check_limit(table: Any, limit: int | None) -> None:
    """Raise ValueError for a ``find_since`` limit that is not a positive count."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"{table.name}: a limit is a count of rows, at least one, not {limit!r}")
