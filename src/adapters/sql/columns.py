"""paycore's records as rows of typed SQL columns, derived from the records themselves.

Every SQL store and every migration takes its columns from here, so the schema has
one source: the attrs fields of :mod:`paycore.records` and the tables of
:mod:`paycore.schema`. A field becomes, by its declared type:

* ``str`` -> text, ``int`` -> integer, ``bool`` -> boolean;
* an ``Enum`` -> text (its value);
* ``Money`` -> two columns, ``<field>`` (integer minor units) and
  ``<field>_currency`` (text), so an operator can sum and filter with plain SQL;
* a mapping or a tuple of records -> JSON (``jsonb`` on PostgreSQL), written by
  :mod:`paycore_adapters.sql.values`;
* ``X | None`` -> a nullable column of X.

A table whose key or an indexed field is a property of the record (the stock row's
``key``, a stock movement's ``stock_key``) stores it in a column of its own, written
on every insert and update and never read back into the record.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from paycore.money import Money
from paycore.schema import TABLES, Table

from . import codegen, values

T = TypeVar("T")


class SchemaDerivationError(TypeError):
    """A record field has a type no SQL column is derived for."""


@attrs.frozen
class Column:
    name: str
    kind: str
    nullable: bool


@attrs.frozen
class _Field:
    """How one record field is written and read: its columns, and the two converters."""

    name: str
    columns: tuple[Column, ...]
    write: Callable[[Any], tuple[Any, ...]]
    read: Callable[..., Any]
    #: What the generated codec does with it: plain, bool, enum, money or json.
    shape: str = "plain"
    nullable: bool = False


def _optional(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None was allowed)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise SchemaDerivationError(f"a union other than X | None: {tp}")
        return args[0], True
    return tp, False


def _field(name: str, declared: Any) -> _Field:
    tp, nullable = _optional(declared)
    origin = typing.get_origin(tp) or tp

    def column(kind: str, suffix: str = "") -> Column:
        return Column(name + suffix, kind, nullable)

    if tp is Money:
        cols = (column("int"), column("text", "_currency"))
        read = _nullable(Money, nullable)
        return _Field(name, cols, _money_writer(nullable), read, "money", nullable)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        write = _nullable(_enum_value, nullable)
        by_value = {member.value: member for member in tp}
        read = _nullable(by_value.__getitem__, nullable)
        return _Field(name, (column("text"),), write, read, "enum", nullable)
    if tp is bool:
        read = _nullable(bool, nullable)
        return _Field(name, (column("bool"),), _plain, read, "bool", nullable)
    if tp is int or tp is str:
        return _Field(name, (column("int" if tp is int else "text"),), _plain, _same)
    if isinstance(origin, type) and issubclass(origin, Mapping | tuple | list):
        read = _nullable(values.loads, nullable)
        return _Field(name, (column("json"),), _json_writer, read, "json", nullable)
    raise SchemaDerivationError(f"no SQL column for field {name!r} of type {declared!r}")


def _nullable(fn: Callable[..., Any], nullable: bool) -> Callable[..., Any]:
    if not nullable:
        return fn
    return lambda first, *rest: None if first is None else fn(first, *rest)


def _money_writer(nullable: bool) -> Callable[[Any], tuple[Any, ...]]:
    if nullable:
        return lambda m: (None, None) if m is None else (m.amount, m.currency)
    return lambda m: (m.amount, m.currency)


def _enum_value(v: enum.Enum) -> tuple[Any, ...]:
    return (v.value,)


def _json_writer(v: Any) -> tuple[Any, ...]:
    return (None if v is None else values.dumps(v),)


def _plain(v: Any) -> tuple[Any, ...]:
    return (v,)


def _same(v: Any) -> Any:
    return v


class TableMap(Generic[T]):
    """One table's columns, and a record's row of values in their order."""

    def __init__(self, table: Table[T]) -> None:
        self.table = table
        self.name = table.name
        cls: Any = table.type
        hints = typing.get_type_hints(cls)
        self.fields = tuple(_field(a.name, hints[a.name]) for a in attrs.fields(cls))
        names = {a.name for a in attrs.fields(cls)}
        #: Properties the table keys or indexes rows by, kept in columns of their own.
        self.derived = tuple(
            f for f in dict.fromkeys((table.key, *table.indexes)) if f not in names
        )
        self.columns: tuple[Column, ...] = (
            *(c for f in self.fields for c in f.columns),
            *(Column(d, "text", False) for d in self.derived),
        )
        self.column_names = tuple(c.name for c in self.columns)
        self.key_column = self.column_of(table.key)
        self.versioned = "version" in names
        #: The columns of each field, then of each derived property, in the order
        #: :attr:`diff` numbers them.
        self.groups: tuple[tuple[Column, ...], ...] = (
            *(f.columns for f in self.fields),
            *((Column(d, "text", False),) for d in self.derived),
        )
        #: A record's values in the order of :attr:`columns`, the record a row holds,
        #: and what changed between two versions of a record: generated once per table
        #: (see :mod:`paycore_adapters.sql.codegen`).
        self.row, self.record, self.diff = codegen.codec(cls, self.fields, self.derived)

    def column_of(self, field: str) -> str:
        """The column a key, unique or indexed field is looked up by (never Money)."""
        for f in self.fields:
            if f.name == field:
                if len(f.columns) != 1:
                    raise SchemaDerivationError(f"{self.name}.{field} spans several columns")
                return f.columns[0].name
        if field in self.derived:
            return field
        raise SchemaDerivationError(f"{self.name} has no field {field!r}")

    @staticmethod
    def value(value: object) -> object:
        """``value`` as a column holds it (an enum as its value)."""
        if isinstance(value, enum.Enum):
            return value.value
        return value


#: Every table's map, by table name.
MAPS: dict[str, TableMap[Any]] = {t.name: TableMap(t) for t in TABLES}


def table_map(table: Table[T]) -> TableMap[T]:
    try:
        return MAPS[table.name]
    except KeyError:
        raise SchemaDerivationError(f"{table.name} is not a table of paycore.schema") from None
