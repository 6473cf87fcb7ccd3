"""The port's transaction over one SQL connection, the same for every SQL store.

A store's subclass says how a statement runs on its driver and which constraint a
driver's integrity error names; everything else is here:

* rows the transaction read (by key, or found by an indexed field) or wrote are kept by
  table and key (it is the only one that can change them before it ends: the store's
  isolation guarantees it), so reading a row again costs no statement, and an update
  of a row it read is checked against the version it read without one, and writes only
  the columns that changed since (``TableMap.diff``: an index whose columns kept their
  values is not touched), its commit then free to go with the writes;
* writes wait: inserts and updates are sent together (:meth:`_send`, one round trip on
  PostgreSQL), before the transaction reads a table it wrote with a query, and at its
  end (:meth:`finish`), where the store may send its commit with them;
* a sequence drawn several times in one transaction is bumped once and written back
  once, at the end;
* an integrity error fails the transaction: it is raised by the write itself when the
  rows this transaction knows show it (a key it read or wrote, a stale version), else
  when the writes are sent (by the next query of that table at the latest, or at the
  end); later calls raise, and leaving the block rolls it back, as on every store;
* so does any other error of a driver call (:mod:`.tx_failure`), even one the caller
  caught: a store's ``_run``, ``_send`` and ``next_seq`` are wrapped as it defines them.
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, NoReturn, TypeVar

from paycore.errors import IntegrityError, StoreConflict, StoreError
from paycore.schema import Table

from ..claims import check_claim
from .kept import KeptRows
from .statements import TableSql, check_limit
from .tx_failure import fails_it, rolled_back
from .writes import LOG_ROW, table_name

# The stores' transactions import these from here.
from .writes import Refused as Refused
from .writes import Write as Write
from .writes import log_run as log_run

T = TypeVar("T")


#: ``update``: the row was never read in this transaction.
_UNREAD = object()


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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Whatever escapes a store's driver calls fails the transaction (but a write
        :class:`Refused`, which :meth:`_flush` names)."""
        super().__init_subclass__(**kwargs)
        for name, passes in (("_run", ()), ("_send", (Refused,)), ("next_seq", ())):
            if name in cls.__dict__:
                setattr(cls, name, fails_it(cls.__dict__[name], passes))

    def __init__(
        self,
        conn: Any,
        sql: dict[str, TableSql],
        writes: Counter[str],
        kept: KeptRows | None = None,
    ) -> None:
        self.conn = conn
        #: The rows the store keeps across transactions (:mod:`~paycore_adapters.sql.kept`).
        self.kept = kept
        self.generation = -1 if kept is None else kept.generation
        self._sql = sql
        self._writes = writes
        #: What failed the transaction (its later calls and its end raise it again).
        self.failed: StoreError | None = None
        self.closed = False
        self.wrote = False
        #: Rows this transaction read or wrote, by table and key (None: known absent).
        self._rows: dict[str, dict[str, Any]] = {}
        #: Writes not sent yet, in order (log rows apart), and the tables they touch;
        #: whether an update among them must count its row (of a row never read).
        self._pending: list[Write] = []
        self._logs: list[Write] = []
        self._dirty: set[str] = set()
        self._checks = False
        #: The store's commit went with the last writes (:meth:`_send`).
        self.committed = False
        #: Sequences this transaction drew from: [the last value it gave, the stored one].
        self._seqs: dict[str, list[int]] = {}
        #: What this transaction's lookups showed of each unique constraint: by (table,
        #: fields, the first field's value looked up), the values of the rows found.
        self._looked: dict[tuple[str, tuple[str, ...], object], set[tuple[Any, ...]]] = {}

    # --- what a store's driver does ----------------------------------------------------

    @abc.abstractmethod
    def _run(self, sql: str, args: tuple[Any, ...]) -> Any:
        """Run one statement; its cursor, whose rows the caller reads before it runs
        another (a store may run every statement on one cursor). A refused constraint
        raises ``integrity``; any other driver error the port's error."""

    @abc.abstractmethod
    def _send(self, writes: Sequence[Write], commit: bool) -> list[int]:
        """Run ``writes`` in order; their row counts. A refused constraint raises
        :class:`Refused` naming the write; any other driver error the port's error.
        ``commit``: the store may commit in the same exchange (then ``committed``)."""

    @abc.abstractmethod
    def _constraint(self, t: TableSql, exc: Exception) -> tuple[str, ...] | None:
        """The fields of the unique constraint ``exc`` refused (None: another kind)."""

    def kept_after_commit(self) -> None:
        """Once the store's commit succeeded: hand the rows of the kept tables this
        transaction read or inserted to the store's :class:`KeptRows`."""
        if self.kept is not None:
            self.kept.keep(self.generation, self._rows)

    # --- the port ----------------------------------------------------------------------

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("this transaction is over; open a new one")
        if self.failed is not None:
            raise self.rolled_back()

    def rolled_back(self) -> StoreError:
        """What a failed transaction's later calls, and its end, raise."""
        assert self.failed is not None
        return rolled_back(self.failed)

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
        if self.kept is not None and table.name in self.kept.rows:
            kept = self.kept.rows[table.name].get(key)
            if kept is not None:
                known[key] = kept
                return kept  # type: ignore[no-any-return]
        if table.append_only and table.name in self._dirty:
            self._flush()  # log rows are not kept here; any other row written is
        row = self._run(t.select, (key,)).fetchone()
        record = known[key] = None if row is None else t.map.record(row)
        if record is None:
            self._looked[(table.name, (table.key,), key)] = set()
        return record

    def insert(self, table: Table[T], record: T) -> None:
        t = self._table(table)
        if not isinstance(record, table.type):
            raise TypeError(f"{table.name} holds {table.type.__name__}, not {type(record)}")
        self._wrote(table)
        if table.append_only:
            self._logs.append((t, LOG_ROW, t.insert, t.map.row(record), False))
            self._dirty.add(table.name)
            return
        key = table.key_of(record)
        known = self._rows.setdefault(table.name, {})
        if known.get(key) is not None:
            self._fail(f"{table.name}: a row with {table.key}={key!r} already exists",
                       t, (table.key,), key=key)  # fmt: skip
        known[key] = record
        self._pending.append((t, key, t.insert, t.map.row(record), False))
        self._dirty.add(table.name)

    def update(self, table: Table[T], record: T) -> None:
        t = self._table(table)
        if not isinstance(record, table.type):
            raise TypeError(f"{table.name} holds {table.type.__name__}, not {type(record)}")
        if not t.map.versioned:
            raise ValueError(f"{table.name} rows have no version; they cannot be updated")
        key = table.key_of(record)
        version: int = record.version  # type: ignore[attr-defined]
        self._wrote(table)
        if self.kept is not None and table.name in self.kept.rows:
            self.kept.forget()
        known = self._rows.setdefault(table.name, {})
        old = known.get(key, _UNREAD)
        if old is _UNREAD:
            sql, values = t.update, t.map.row(record)
            self._checks = True
        else:
            self._check_version(t, key, version, old)
            changed, changes = t.map.diff(old, record)  # only what changed is written
            sql, values = t.update_of(changed), tuple(changes)
        known[key] = record
        self._pending.append((t, key, sql, (*values, key, version - 1), old is _UNREAD))
        self._dirty.add(table.name)

    def _check_version(self, t: TableSql, key: str, version: int, stored: Any) -> None:
        """Fail an update of a row this transaction knows (read or wrote) that does not
        build on the version it knows."""
        if stored is None:
            self._missing(t, key)
        if stored.version != version - 1:
            self._stale(t, key, version, int(stored.version) + 1)

    def _missing(self, t: TableSql, key: str) -> NoReturn:
        self._fail(f"{t.map.name}: no row with {t.table.key}={key!r} to update",
                   t, (t.table.key,), key=key)  # fmt: skip

    def _stale(self, t: TableSql, key: str, version: int, expected: int) -> NoReturn:
        self._fail(
            f"{t.map.name}: stale write to {key!r}: version {version}, expected "
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
        rows: list[T] = self._records(t, sql, (t.map.value(value),))
        if not table.append_only:  # kept as a get's are (log rows are never kept)
            known = self._rows.setdefault(table.name, {})
            for row in rows:
                known.setdefault(table.key_of(row), row)
        for fields in table.unique:
            if fields[0] == field:
                found = {tuple(getattr(row, f) for f in fields) for row in rows}
                self._looked[(table.name, fields, value)] = found
        return rows

    def find_since(
        self, table: Table[T], field: str, value: object, time_field: str, since: int,
        *, after: str | None = None, limit: int | None = None,
    ) -> list[T]:  # fmt: skip
        t = self._table(table)
        sql = t.since(field, time_field, after is not None, limit is not None)
        check_limit(table, limit)
        args = (t.map.value(value), since, *(() if after is None else (after,)))
        return self._records(t, sql, (*args, *(() if limit is None else (limit,))))

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
        if t.map.name in self._dirty:
            self._flush()
        record = t.map.record
        return [record(r) for r in self._run(sql, args)]

    @fails_it
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
        """Send what waits for the end: the writes, and the sequences drawn from more
        than once; the store's commit with them when nothing is left to check. Called
        before the commit; an integrity error here fails it."""
        for name, (last, stored) in self._seqs.items():
            if last != stored:
                sql = self.SET.format(p=self.placeholder)
                self._pending.append((None, name, sql, (last, name), False))
        self._flush(final=True)

    @fails_it
    def _flush(self, final: bool = False) -> None:
        """Send the waiting writes (kept waiting until they were); check the row counts
        of updates of rows never read (a stale version or a missing row fails the
        transaction, as it would have)."""
        writes, checks = self._pending, self._checks
        if self._logs:  # after the others, a table's together (they touch nothing else)
            writes = writes + sorted(self._logs, key=table_name)
        if not writes:
            return
        try:
            counts = self._send(writes, commit=final and not checks)
        except Refused as refused:
            t, key = writes[refused.at][:2]
            assert t is not None  # a sequence's write-back refuses nothing
            self._refused(t, key, refused.exc)
        self._pending, self._logs, self._checks = [], [], False
        self._dirty.clear()
        if checks:
            for (t, key, _, args, check), count in zip(writes, counts, strict=True):
                if check and count != 1 and t is not None:
                    stored = self._run(t.version, (key,)).fetchone()
                    if stored is None:
                        self._missing(t, key)
                    self._stale(t, key, args[-1] + 1, int(stored[0]) + 1)

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
        if self._saw_none(t, key, fields):
            raise StoreConflict(
                f"{name}: a concurrent transaction wrote the {', '.join(fields)} this one "
                "had looked up and found free; run it again",
                sqlstate="40001",
            )
        if fields == (t.table.key,):
            exists = f"{name}: a row with {t.table.key}={key!r} already exists"
            self._fail(exists, t, fields, key=key)
        self._fail(f"{name}: unique ({', '.join(fields)}) violated", t, fields, key=key)

    def _saw_none(self, t: TableSql, key: str, fields: tuple[str, ...]) -> bool:
        """Did this transaction look up the values the refused row ``key`` holds for
        ``fields``, find no row with them, and hold no other row with them itself? Then
        another transaction, committed after this one began, wrote them: a serialization
        failure, which PostgreSQL reports as such only when both read the same page of the
        constraint's btree (the lookups read hash indexes: ``ddl.hashed_fields``). Run
        again, the transaction sees that row, as it would have in a serial order."""
        rows = self._rows.get(t.map.name, {})
        record = rows.get(key)
        if record is None:
            return False
        values = tuple(getattr(record, f) for f in fields)
        found = self._looked.get((t.map.name, fields, values[0]))
        others = (row for k, row in rows.items() if row is not None and k != key)
        mine = {tuple(getattr(row, f) for f in fields) for row in others}  # its own duplicate
        return found is not None and values not in found | mine

    def _fail(
        self, message: str, t: TableSql, constraint: tuple[str, ...], **fields: Any
    ) -> NoReturn:
        self.failed = IntegrityError(message, table=t.map.name, constraint=constraint, **fields)
        raise self.failed
