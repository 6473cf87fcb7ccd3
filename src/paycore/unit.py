"""A unit of work with the domain's rules: legal transitions, audit, versions.

Every status change in paycore goes through :meth:`Unit.move`, which asks
the aggregate's state machine, writes the new version and appends the audit
entry in the same transaction (A2). Stock counters change only here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import attrs

from paycore import schema as s
from paycore.errors import PaycoreError, StockBelowReserved
from paycore.machines import StateMachine
from paycore.ports import Tokens, Transaction
from paycore.records import Alert, AuditEntry, OutboxMessage, Stock, StockMovement, stock_key
from paycore.schema import Table
from paycore.shown import shown_id
from paycore.tokens import RandomTokens

T = TypeVar("T")


Evolver = Callable[[Any, dict[str, Any]], Any]


def _evolver(cls: type) -> Evolver:
    """A function that copies ``cls`` records with some fields changed, generated once
    per class as attrs generates its own methods: one line per field, so a call neither
    loops nor looks the fields up (``attrs.evolve`` does both on every call)."""
    names = [f.name for f in attrs.fields(cast(Any, cls))]
    values = [f"changes[{n!r}] if {n!r} in changes else record.{n}" for n in names]
    filled, scope = _filled(cls, values)
    lines = [
        "def evolve(record, changes):",
        "    if not NAMES.issuperset(changes):",
        "        unknown = sorted(changes.keys() - NAMES)",
        "        raise TypeError(f'{CLS.__name__} has no field(s) {unknown}')",
        *filled,
        "    return new",
    ]
    scope["NAMES"] = frozenset(names)
    exec("\n".join(lines), scope)  # the source is built from the field names only
    return cast(Evolver, scope["evolve"])


def _draft_class(cls: type) -> type | None:
    """A plain class with the slots of ``cls``, whose instances can become ``cls``
    records by ``__class__`` assignment (same layout), or None when they cannot (a
    record that inherits fields, keeps a ``__weakref__`` slot or has no slots).

    Why: a frozen record's fields can only be set through a slot wrapper call each
    (``object.__setattr__`` or the slot's ``__set__``), about four times what a plain
    attribute store costs; a draft takes plain stores, then becomes the record, whose
    class refuses every later change as before. Records are built so once per write."""
    slots = cls.__dict__.get("__slots__")
    if cls.__bases__ != (object,) or not isinstance(slots, tuple) or "__weakref__" in slots:
        return None
    draft = type(f"{cls.__name__}Draft", (), {"__slots__": slots})
    probe: Any = object.__new__(draft)
    try:
        probe.__class__ = cls
    except TypeError:  # the layouts differ after all: set the slots one by one
        return None
    return draft


def _filled(cls: type, values: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Generated lines that make ``new``, a ``cls`` record of the given field values
    (through a draft when :func:`_draft_class` gives one), and the names they use."""
    names = [f.name for f in attrs.fields(cast(Any, cls))]
    scope: dict[str, Any] = {"CLS": cls, "NEW": object.__new__}
    draft = _draft_class(cls)
    if draft is not None:
        scope["DRAFT"] = draft
        lines = [
            "    new = NEW(DRAFT)",
            *(f"    new.{n} = {v}" for n, v in zip(names, values, strict=True)),
            "    new.__class__ = CLS",
        ]
        return lines, scope
    # Without a draft: each field's own slot setter, past the frozen class's __setattr__
    # (and faster than object.__setattr__, which looks the slot up by name on every call).
    scope.update({f"SET_{i}": slot_setter(cls, n) for i, n in enumerate(names)})
    return ["    new = NEW(CLS)", *(f"    SET_{i}(new, {v})" for i, v in enumerate(values))], scope


def slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """What sets field ``name`` of a ``cls`` record: its slot's ``__set__``, else (a
    record without slots) ``object.__setattr__`` by name."""
    for klass in cls.__mro__:
        slot = klass.__dict__.get(name)
        if slot is not None and type(slot).__name__ == "member_descriptor":
            return cast(Callable[[Any, Any], None], slot.__set__)
    return lambda record, value: object.__setattr__(record, name, value)


def _constructor(cls: type) -> Callable[..., Any]:
    """A function that makes a ``cls`` record from every field's value, positionally,
    generated as :func:`_evolver` is: for records with neither converters nor validators
    (``AuditEntry``), where the attrs ``__init__`` sets each field through
    ``object.__setattr__`` by name."""
    fields = attrs.fields(cast(Any, cls))
    if any(f.converter is not None or f.validator is not None for f in fields):
        raise TypeError(f"{cls.__name__} converts or validates a field: use its __init__")
    args = [f"a{i}" for i in range(len(fields))]
    filled, scope = _filled(cls, args)
    lines = [f"def make({', '.join(args)}):", *filled, "    return new"]
    exec("\n".join(lines), scope)  # the source is built from the field count only
    return cast(Callable[..., Any], scope["make"])


#: ``AuditEntry(seq, at, aggregate, aggregate_id, from_status, to_status, trigger,
#: flow_id)``, made without the attrs ``__init__`` (one per status change).
_audit_entry: Callable[[int, int, str, str, str | None, str, str, str | None], AuditEntry] = (
    _constructor(AuditEntry)
)


class _Evolvers(dict[type, Evolver]):
    """Each record class's evolver, generated at its first use."""

    def __missing__(self, cls: type) -> Evolver:
        evolver = self[cls] = _evolver(cls)
        return evolver


#: ``_EVOLVERS[type(record)](record, changes)`` is :func:`evolve` without its frame (the
#: unit's own writes call it so: one call fewer on every save and status change).
_EVOLVERS = _Evolvers()


def evolve(record: T, changes: dict[str, Any]) -> T:
    """``attrs.evolve`` for paycore's frozen, slotted records, without its overhead.

    Converters and validators are not re-run: callers pass final values. An
    unknown field name raises, as with attrs.
    """
    new: T = _EVOLVERS[type(record)](record, changes)  # no typing.cast: a call, hot
    return new


def storable(text: str) -> bool:
    """Can every store hold and look up ``text``: no NUL (PostgreSQL's text cannot hold
    one, and its driver refuses it) and no lone surrogate (not UTF-8: the SQL stores'
    drivers cannot encode it)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class Unit:
    """Domain operations over one store transaction."""

    def __init__(
        self, tx: Transaction, now: int, flow_id: str | None = None, tokens: Tokens | None = None
    ) -> None:
        self.tx = tx
        self.now = now
        #: When the provider call whose answer this unit applies was sent (None outside
        #: such a step): an answer says what was true then, not at ``now``.
        self.asked_at: int | None = None
        self.flow_id = flow_id
        #: Where installation ids and provider object references come from.
        self.tokens: Tokens = tokens if tokens is not None else RandomTokens()
        #: Run after the transaction committed (alerts, waking the outbox); never before.
        self.on_commit: list[Callable[[], None]] = []
        #: The outbox messages this transaction queued: after the commit, the request
        #: that made it sends these and no others (the backlog is the outbox job's).
        self.queued: list[OutboxMessage] = []
        #: Alerts this transaction raised: (kind, message, fields), told to the
        #: alerts port once it committed.
        self.alerts: list[tuple[str, str, dict[str, Any]]] = []
        #: The record the last create, save or move wrote (``flows.defs.current_flow``).
        self.last: Any = None
        # The hottest call goes straight to the transaction (one frame fewer per read).
        self.get = tx.get  # type: ignore[method-assign]

    def answered_at(self) -> int:
        """When what this step applies was true: the time its provider call was sent,
        else now. A list read before a deadline proves nothing after it, however late
        its answer is applied."""
        return self.now if self.asked_at is None else self.asked_at

    # --- plain access ---------------------------------------------------------

    def get(self, table: Table[T], key: str) -> T | None:
        return self.tx.get(table, key)

    def require(self, table: Table[T], key: str, missing: Callable[[], PaycoreError]) -> T:
        """The row under ``key``, or ``missing()`` raised; a key that is not a string
        (a list or dict from a careless caller), or one no store can hold (see
        :func:`storable`), names no row either: it never reaches the store."""
        row = self.tx.get(table, key) if isinstance(key, str) and storable(key) else None
        if row is None:
            raise missing()
        return row

    def find(self, table: Table[T], field: str, value: object) -> list[T]:
        """Rows whose indexed ``field`` equals ``value``; a str no store can hold (see
        :func:`storable`) matches none, on every store, without asking it."""
        if type(value) is str and not storable(value):
            return []
        return self.tx.find(table, field, value)

    def find_since(
        self, table: Table[T], field: str, value: object, time_field: str, since: int,
        *, after: str | None = None, limit: int | None = None,
    ) -> list[T]:  # fmt: skip
        return self.tx.find_since(table, field, value, time_field, since, after=after, limit=limit)

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
        """Rows of work this transaction holds (see :meth:`paycore.ports.Transaction.claim`)."""
        return self.tx.claim(table, field, value, limit, due=due, after=after)

    def save(self, table: Table[T], record: T, **changes: Any) -> T:
        """Write a change that is not a status change (version bumped)."""
        changes["version"] = record.version + 1  # type: ignore[attr-defined]
        new: T = _EVOLVERS[type(record)](record, changes)  # evolve(), one frame fewer
        self.tx.update(table, new)
        self.last = new
        return new

    # --- aggregates -------------------------------------------------------------

    def create(self, table: Table[T], record: T, machine: StateMachine[Any] | None = None) -> T:
        tx = self.tx
        tx.insert(table, record)
        if machine is not None:  # its audit entry, made as move() makes one
            status = record.status  # type: ignore[attr-defined]
            entry = _audit_entry(
                tx.next_seq("audit"),
                self.now,
                machine.aggregate,
                str(getattr(record, table.key)),  # Table.key_of
                None,
                str(status._value_),
                "create",
                self.flow_id,
            )
            tx.insert(s.AUDIT, entry)
        self.last = record
        return record

    def move(
        self, table: Table[T], record: T, machine: StateMachine[Any], trigger: str, **changes: Any
    ) -> T:
        """Apply ``trigger`` if the record's machine allows it, else raise IllegalTransition."""
        old = record.status  # type: ignore[attr-defined]
        new_status = machine.next(old, trigger)
        changes["status"] = new_status
        changes["version"] = record.version + 1  # type: ignore[attr-defined]
        new: T = _EVOLVERS[type(record)](record, changes)  # as save() does it
        tx = self.tx
        tx.update(table, new)
        # The audit entry, made here and in create() only (no helper: a call fewer on
        # every status change). ``_value_`` is what ``.value`` returns, without its
        # descriptor.
        entry = _audit_entry(
            tx.next_seq("audit"),
            self.now,
            machine.aggregate,
            str(getattr(record, table.key)),  # Table.key_of
            str(old._value_),
            str(new_status._value_),
            trigger,
            self.flow_id,
        )
        tx.insert(s.AUDIT, entry)
        self.last = new
        return new

    # --- outbox -----------------------------------------------------------------

    def notify(self, order_id: str, kind: str, **payload: Any) -> None:
        """Queue one notification per (order, kind), ever; sent after commit."""
        key = f"{order_id}:{kind}"
        if self.tx.get(s.OUTBOX, key) is None:
            message = OutboxMessage(
                id=key,
                order_id=order_id,
                kind=kind,
                created_at=self.now,
                payload=payload,
                due_at=self.now,
            )
            self.tx.insert(s.OUTBOX, message)
            self.queued.append(message)

    # --- alerts -----------------------------------------------------------------

    def alert(self, kind: str, subject: str, message: str, **fields: Any) -> Alert:
        """Record that ``subject`` needs a human, in this transaction; the alerts port is
        told after the commit (never for a rolled-back change). One open alert per
        (kind, subject): raising it again counts it, with this raise's message and fields."""
        plain = {k: v for k, v in fields.items() if v is None or isinstance(v, str | int | bool)}
        alert_id = f"{kind}:{subject}"
        current = self.tx.get(s.ALERTS, alert_id)
        if current is None:
            row = Alert(alert_id, kind, subject, message, self.now, plain)
            self.tx.insert(s.ALERTS, row)
        else:
            reopen: dict[str, Any] = {}
            if not current.open:  # resolved: raised anew
                reopen = {"raised_at": self.now, "open": True, "resolved_at": None}
            again = {"message": message, "fields": plain, "count": current.count + 1}
            row = self.save(s.ALERTS, current, **again, **reopen, resolution=None)
        self.alerts.append((kind, message, plain))
        return row

    def resolve_alert(self, kind: str, subject: str, resolution: str) -> bool:
        """Close the open alert of (kind, subject), saying how; False when none is open."""
        current = self.tx.get(s.ALERTS, f"{kind}:{subject}")
        if current is None or not current.open:
            return False
        self.save(s.ALERTS, current, open=False, resolved_at=self.now, resolution=resolution)
        return True

    # --- stock ------------------------------------------------------------------

    def stock(self, seller_id: str, sku: str) -> Stock:
        """``seller_id``'s counters for ``sku`` (all zero if it never had any)."""
        row = self.tx.get(s.STOCK, stock_key(seller_id, sku))
        return row if row is not None else Stock(seller_id, sku)

    def change_stock(
        self,
        seller_id: str,
        sku: str,
        *,
        on_hand: int = 0,
        held: int = 0,
        committed: int = 0,
        reason: str = "",
        current: Stock | None = None,
    ) -> Stock:
        """Change the counters of (seller, sku) by the given amounts; ``current``: the row
        as :meth:`stock` returned it in this transaction (saves reading it again)."""
        existing = current
        if existing is None:
            existing = self.tx.get(s.STOCK, stock_key(seller_id, sku))
        if existing is not None and existing.version == 0:
            existing = None  # stock() made it up: the row does not exist yet
        cur = existing if existing is not None else Stock(seller_id, sku)
        new = Stock(
            seller_id=seller_id,
            sku=sku,
            on_hand=cur.on_hand + on_hand,
            held=cur.held + held,
            committed=cur.committed + committed,
            version=cur.version + 1,
        )
        if new.held < 0 or new.committed < 0 or new.available < 0:
            raise StockBelowReserved(
                f"stock of {shown_id(sku)} at seller {shown_id(seller_id)} cannot go below held + "
                f"committed (on hand {new.on_hand}, held {new.held}, committed {new.committed})",
                seller_id=seller_id,
                sku=sku,
                on_hand=new.on_hand,
                held=new.held,
                committed=new.committed,
            )
        if existing is None:
            self.tx.insert(s.STOCK, new)
        else:
            self.tx.update(s.STOCK, new)
        if on_hand:
            self.tx.insert(
                s.STOCK_MOVEMENTS,
                StockMovement(
                    seq=self.tx.next_seq("stock"),
                    seller_id=seller_id,
                    sku=sku,
                    delta=on_hand,
                    reason=reason,
                    at=self.now,
                ),
            )
        return new
