"""The SQL schema paycore's records declare, for each database it runs on.

:func:`schema` derives every table, constraint and index from :mod:`paycore.schema`
and :mod:`paycore_adapters.sql.columns`; it is what the first migration was written
from, and what the migration tests compare a migrated database with. Nothing here
is applied directly: databases change only through the migration files.

Beside paycore's tables, two of the store's own: ``paycore_sequences`` (the named
sequences of ``Transaction.next_seq``: a row per name, so a rolled-back transaction
gives its number back and committed data never shares one; on PostgreSQL the log
tables' two are sequence objects instead, :data:`NATIVE_SEQUENCES`) and
``paycore_migrations`` (which migrations were applied, made by the migrator).

Run ``python -m paycore_adapters.sql.ddl DIALECT`` to print a dialect's schema.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import attrs

from paycore.schema import TABLES, Table

from .columns import MAPS, Column, TableMap


@attrs.frozen
class Dialect:
    name: str
    #: SQL type of each column kind.
    types: dict[str, str]
    #: The column that keeps a table's insertion order, and its declaration ("" when the
    #: database keeps it itself: SQLite's rowid).
    order_column: str
    order_declaration: str
    #: Whether :data:`NATIVE_SEQUENCES` are the database's own sequence objects (else
    #: rows of ``paycore_sequences``, like every other name).
    native_sequences: bool = False
    #: Whether the lookups of one row by an identifier also get a hash index
    #: (:func:`hashed_fields`).
    hash_lookups: bool = False


SQLITE = Dialect(
    "sqlite",
    {"text": "TEXT", "int": "INTEGER", "bool": "INTEGER", "json": "TEXT"},
    "rowid",
    "",
)
POSTGRESQL = Dialect(
    "postgresql",
    {"text": "text", "int": "bigint", "bool": "boolean", "json": "jsonb"},
    "pos",
    '"pos" bigint GENERATED ALWAYS AS IDENTITY',
    native_sequences=True,
    hash_lookups=True,
)
DIALECTS = {d.name: d for d in (SQLITE, POSTGRESQL)}


#: The sequences nearly every writing transaction draws from (the audit log's and the
#: stock movements' keys): on a database that runs transactions at once they are the
#: server's own sequence objects, drawn a block at a time (``SEQUENCE_BLOCK`` numbers),
#: so that they are no row every transaction updates.
NATIVE_SEQUENCES = {"audit": "audit", "stock": "stock_movements"}  # name -> its log table
SEQUENCE_BLOCK = 1000


def ranked(
    tables: Mapping[str, Mapping[str, Any]], seqs: Mapping[str, int]
) -> tuple[dict[str, Mapping[str, Any]], dict[str, int]]:
    """The content as a store that numbers its logs without gaps holds it: each log
    table of a native sequence renumbered 1, 2, 3... in its numbers' order, and the
    sequence at its last. Those numbers only order the log (a block's rest and a
    rolled-back transaction's draw are skipped), so two stores whose logs hold the same
    entries in the same order hold the same content; the memory store, the harness and
    the explorer compare stores by this form."""
    tables, seqs = dict(tables), dict(seqs)
    for name, table in NATIVE_SEQUENCES.items():
        rows = sorted(tables[table].values(), key=lambda row: int(row.seq))
        renumbered = [attrs.evolve(row, seq=n) for n, row in enumerate(rows, 1)]
        tables[table] = {MAPS[table].table.key_of(row): row for row in renumbered}
        seqs.pop(name, None)
        if renumbered:
            seqs[name] = len(renumbered)
    return tables, seqs


#: Lookups by these indexed fields find the rows of one order or payment: hashed too.
HASHED_LOOKUPS = ("order_id", "payment_id")
#: A hash index's pages kept this full: more buckets than the default (75) while a table
#: is small, so that concurrent transactions seldom read or write the same one.
HASH_FILLFACTOR = 25


def hashed_fields(table: Table[object]) -> tuple[str, ...]:
    """The fields a hash index serves besides their btree, on a database that has them:
    the key (a log table's is never looked up), each field unique on its own, and the
    lookups of :data:`HASHED_LOOKUPS`. PostgreSQL's serializable transactions lock the
    index pages they read (predicate locks) and refuse a transaction that reads a page
    another concurrent one writes, both ways; paycore's identifiers are sequential
    (``pay_000123``), so in a btree every transaction reads and writes the same rightmost
    leaf page, where a hash index spreads them over its buckets."""
    fields = [] if table.append_only else [table.key]
    fields += [u[0] for u in table.unique if len(u) == 1]
    fields += [f for f in table.indexes if f in HASHED_LOOKUPS]
    return tuple(dict.fromkeys(fields))


def native_sequence(name: str) -> str:
    return f"paycore_{name}_seq"


def quote(name: str) -> str:
    """An identifier, quoted (several column names are keywords: trigger, key, open)."""
    return '"' + name.replace('"', '""') + '"'


def unique_name(m: TableMap[object], fields: tuple[str, ...]) -> str:
    return f"{m.name}_{'_'.join(fields)}_key"


def index_name(m: TableMap[object], field: str) -> str:
    return f"{m.name}_{field}_idx"


def hash_index(m: TableMap[object], field: str) -> str:
    """The hash index of ``field`` (:func:`hashed_fields`)."""
    name, col = quote(f"{m.name}_{field}_hash"), quote(m.column_of(field))
    return (
        f"CREATE INDEX {name} ON {quote(m.name)} USING hash ({col}) "
        f"WITH (fillfactor = {HASH_FILLFACTOR});"
    )


def _column(dialect: Dialect, column: Column) -> str:
    null = "" if column.nullable else " NOT NULL"
    return f"{quote(column.name)} {dialect.types[column.kind]}{null}"


def table_statements(dialect: Dialect, m: TableMap[object]) -> list[str]:
    """CREATE TABLE with its key and unique constraints, then one index per lookup
    field that no unique constraint already indexes."""
    parts = [_column(dialect, c) for c in m.columns]
    if dialect.order_declaration:
        parts.append(dialect.order_declaration)
    parts.append(f"PRIMARY KEY ({quote(m.key_column)})")
    for fields in m.table.unique:
        cols = ", ".join(quote(m.column_of(f)) for f in fields)
        parts.append(f"CONSTRAINT {quote(unique_name(m, fields))} UNIQUE ({cols})")
    body = ",\n    ".join(parts)
    out = [f"CREATE TABLE {quote(m.name)} (\n    {body}\n);"]
    # A field a unique constraint or a range's index starts with needs no index of its own.
    covered = {u[0] for u in m.table.unique if len(u) == 1} | {f for f, _ in m.table.ranges}
    for field in m.table.indexes:
        if field not in covered:
            col = quote(m.column_of(field))
            out.append(f"CREATE INDEX {quote(index_name(m, field))} ON {quote(m.name)} ({col});")
    for field, time_field in m.table.ranges:
        cols = f"{quote(m.column_of(field))}, {quote(m.column_of(time_field))}"
        name = quote(index_name(m, f"{field}_{time_field}"))
        out.append(f"CREATE INDEX {name} ON {quote(m.name)} ({cols});")
    if dialect.order_declaration:
        col = quote(dialect.order_column)
        out.append(f"CREATE INDEX {quote(m.name + '_pos_idx')} ON {quote(m.name)} ({col});")
    if dialect.hash_lookups:
        out += [hash_index(m, field) for field in hashed_fields(m.table)]
    return out


def schema(dialect: Dialect) -> list[str]:
    """Every statement that creates paycore's schema on an empty database."""
    out = [
        f"CREATE TABLE {quote('paycore_sequences')} (\n"
        f"    {quote('name')} {dialect.types['text']} NOT NULL PRIMARY KEY,\n"
        f"    {quote('value')} {dialect.types['int']} NOT NULL\n);"
    ]
    if dialect.native_sequences:
        out += [
            f"CREATE SEQUENCE {quote(native_sequence(name))} INCREMENT BY {SEQUENCE_BLOCK};"
            for name in NATIVE_SEQUENCES
        ]
    for table in TABLES:
        out.extend(table_statements(dialect, MAPS[table.name]))
    return out


def script(dialect: Dialect) -> str:
    return "\n\n".join(schema(dialect)) + "\n"


if __name__ == "__main__":  # pragma: no cover - a developer's printout
    print(script(DIALECTS[sys.argv[1] if len(sys.argv) > 1 else "sqlite"]), end="")
