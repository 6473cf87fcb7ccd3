"""A streamed snapshot of a SQL store: what ``paycore check`` reads a live database through.

:meth:`SQLiteStore.streamed <paycore_adapters.sql.sqlite_store.SQLiteStore.streamed>` and
:meth:`PostgresStore.streamed <paycore_adapters.sql.postgres_store.PostgresStore.streamed>`
open one read-only transaction (SQLite: one read transaction on a WAL connection of its
own; PostgreSQL: ``SERIALIZABLE READ ONLY DEFERRABLE`` on a pooled connection), and
:class:`StreamedSnapshot` reads through it, so every row comes from the same instant:

* ``rows(table)`` reads the table through a cursor, ``batch`` rows at a time (SQLite
  steps its statement as rows are fetched; PostgreSQL fetches from a named server-side
  cursor), in insertion order; the audit log in sequence order, as the invariants
  replay it (:class:`paycore.ports.SnapshotView`);
* ``get(table, key)`` looks the key up by the table's primary key in the same
  transaction, and reads ahead: the row and the ``readahead`` rows inserted after it.
  The invariants walk one table and look up the rows its rows point to (a reservation's
  order, that order's payment), which were mostly inserted in the same order, so one
  statement answers the next lookups too. Rows looked up are kept in a cache of at most
  ``cache`` rows, the least recently used dropped first (and a lookup reads ahead at
  most half the cache).

So what the view holds at once is bounded by the cache and one batch per open cursor,
whatever the database's size; :attr:`StreamedSnapshot.peak_held` counts it. A row that
cannot be read as its record (a hand edit) is skipped and kept in
:attr:`StreamedSnapshot.unreadable` (:mod:`.unreadable`), so the check goes on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from paycore import schema as s
from paycore.schema import Table

from .ddl import POSTGRESQL, SQLITE, quote
from .statements import TableSql
from .unreadable import Unreadable, diagnose

T = TypeVar("T")

#: Rows fetched per round trip of a table's cursor.
BATCH = 1_000
#: Rows read after a looked-up one, by the same statement.
READAHEAD = 64
#: Rows kept from lookups, at most.
CACHE = 10_000

#: Runs a statement and gives its rows in batches (closing its cursor when done).
Batches = Callable[[str, tuple[Any, ...], int], Iterator[Sequence[tuple[Any, ...]]]]
#: Runs a statement and gives all its rows.
Fetch = Callable[[str, tuple[Any, ...]], Sequence[tuple[Any, ...]]]


class _Statements:
    """The two statements a table is read by here, in ``placeholder``'s dialect."""

    __slots__ = ("ahead", "scan")

    def __init__(self, t: TableSql, order_column: str, placeholder: str, readahead: int) -> None:
        m = t.map
        cols = ", ".join(quote(c) for c in m.column_names)
        name, key = quote(m.name), quote(m.key_column)
        pos = order_column if order_column == "rowid" else quote(order_column)
        # the audit log in sequence order (its key): the invariants replay it that way
        order = key if t.table is s.AUDIT else pos
        self.scan = f"SELECT {cols} FROM {name} ORDER BY {order}"
        self.ahead = (
            f"SELECT {cols} FROM {name} WHERE {pos} >= "
            f"(SELECT {pos} FROM {name} WHERE {key} = {placeholder}) ORDER BY {pos} "
            f"LIMIT {int(readahead) + 1}"
        )


class StreamedSnapshot:
    """A :class:`paycore.ports.SnapshotView` reading one open transaction in batches.

    Valid only inside the ``with`` block of the store's ``streamed()`` that made it.
    """

    def __init__(
        self,
        tables: Mapping[str, TableSql],
        batches: Batches,
        fetch: Fetch,
        *,
        order_column: str,
        placeholder: str,
        batch: int = BATCH,
        readahead: int = READAHEAD,
        cache: int = CACHE,
    ) -> None:
        if batch < 1 or readahead < 0 or cache < 1:
            raise ValueError("batch and cache must be >= 1, readahead >= 0")
        self._tables = tables
        self._batches, self._fetch = batches, fetch
        # never more than half the cache, so a lookup's rows do not push each other out
        ahead = min(readahead, cache // 2)
        self._sql = {
            name: _Statements(t, order_column, placeholder, ahead) for name, t in tables.items()
        }
        self.batch, self.cache_size = batch, cache
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._in_batches = 0
        #: The most rows held at once (cached rows plus the batches being iterated).
        self.peak_held = 0
        #: Batches fetched by ``rows`` and statements run by ``get``.
        self.fetches = 0
        self.lookups = 0
        #: The rows that could not be read as their records, by (table, key): skipped by
        #: ``rows``, None from ``get`` (:mod:`.unreadable`).
        self.unreadable: dict[tuple[str, str], Unreadable] = {}

    def rows(self, table: Table[T]) -> Iterator[T]:
        return self._stream(table.name)

    def _stream(self, name: str) -> Iterator[Any]:
        for rows in self._batches(self._sql[name].scan, (), self.batch):
            self.fetches += 1
            self._in_batches += len(rows)
            self._note()
            try:
                for row in rows:
                    rec = self._read(name, row)
                    if rec is not None:
                        yield rec
            finally:
                self._in_batches -= len(rows)

    def _read(self, name: str, row: Sequence[Any]) -> Any:
        """The record ``row`` of ``name`` holds; None, the row kept in :attr:`unreadable`,
        when it holds none (a hand edit: the check reports it and goes on)."""
        m = self._tables[name].map
        try:
            return m.record(row)
        except Exception as exc:
            found = diagnose(m, row, exc)
            self.unreadable.setdefault((found.table, found.key), found)
            return None

    def get(self, table: Table[T], key: str) -> T | None:
        cache, name = self._cache, table.name
        slot = (name, key)
        if slot in cache:
            cache.move_to_end(slot)
            found: T | None = cache[slot]
            return found
        self.lookups += 1
        key_of = self._tables[name].table.key_of
        found = None
        # the rows after it, farthest first: the nearest, wanted soonest, are the most
        # recently kept, so the last to be dropped
        for row in reversed(self._fetch(self._sql[name].ahead, (key,))):
            rec = self._read(name, row)
            if rec is None:  # unreadable: the lookup finds nothing
                continue
            k = key_of(rec)
            if k == key:
                found = rec
            else:
                self._keep((name, k), rec)
        self._keep(slot, found)
        return found

    def _keep(self, slot: tuple[str, str], rec: object) -> None:
        cache = self._cache
        cache[slot] = rec
        cache.move_to_end(slot)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)
        self._note()

    def _note(self) -> None:
        held = len(self._cache) + self._in_batches
        if held > self.peak_held:
            self.peak_held = held


# --- the engines' cursors ------------------------------------------------------------------


def sqlite_view(conn: Any, tables: Mapping[str, TableSql], **options: int) -> StreamedSnapshot:
    """A view on ``conn`` (a ``sqlite3`` connection inside its read transaction): the
    driver steps a statement only as its rows are fetched, so ``fetchmany`` is the batch."""
    import sqlite3

    from .sqlite_errors import failed

    def batches(sql: str, args: tuple[Any, ...], n: int) -> Iterator[Sequence[tuple[Any, ...]]]:
        try:
            cur = conn.execute(sql, args)
            try:
                while rows := cur.fetchmany(n):
                    yield rows
            finally:
                cur.close()
        except sqlite3.Error as exc:
            raise failed(exc, "reading the snapshot failed") from None

    def fetch(sql: str, args: tuple[Any, ...]) -> Sequence[tuple[Any, ...]]:
        try:
            return conn.execute(sql, args).fetchall()  # type: ignore[no-any-return]
        except sqlite3.Error as exc:
            raise failed(exc, "reading the snapshot failed") from None

    return StreamedSnapshot(
        tables, batches, fetch, order_column=SQLITE.order_column, placeholder="?", **options
    )


def postgres_view(conn: Any, tables: Mapping[str, TableSql], **options: int) -> StreamedSnapshot:
    """A view on ``conn`` (a psycopg connection inside its read-only transaction): each
    table is read through a named server-side cursor (``DECLARE``, then ``FETCH FORWARD``
    a batch at a time), so the client never holds more than a batch of it."""
    import itertools

    import psycopg

    from .postgres_tx import translate

    names = itertools.count(1)

    def batches(sql: str, args: tuple[Any, ...], n: int) -> Iterator[Sequence[tuple[Any, ...]]]:
        try:
            with conn.cursor(name=f"paycore_stream_{next(names)}") as cur:
                cur.itersize = n
                cur.execute(sql, args)
                while rows := cur.fetchmany(n):
                    yield rows
        except psycopg.Error as exc:
            raise translate(exc, "reading the snapshot failed") from None

    def fetch(sql: str, args: tuple[Any, ...]) -> Sequence[tuple[Any, ...]]:
        try:
            return conn.execute(sql, args).fetchall()  # type: ignore[no-any-return]
        except psycopg.Error as exc:
            raise translate(exc, "reading the snapshot failed") from None

    return StreamedSnapshot(
        tables, batches, fetch, order_column=POSTGRESQL.order_column, placeholder="%s", **options
    )
