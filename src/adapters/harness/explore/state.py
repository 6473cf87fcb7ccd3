"""The explorer's states: a node of the search, its fingerprint, and copying a world.

A state's fingerprint is built from the adapters' own account of their state
(:class:`StoreState`, :class:`ProviderState`), the engine's held answers and the
fault plan's :meth:`~paycore_adapters.harness.faults.FaultPlan.state_key`: the
explorer reads no private attribute.
"""

from __future__ import annotations

import copy
import copyreg
import dataclasses
import enum
import hashlib
import io
import operator
import pickle
import random
import threading
import types
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, cast

import attrs

from ..world import World
from .scenarios import Action, Op

# --- states -------------------------------------------------------------------------


@attrs.define
class Node:
    """A state: the world, what is left to begin, the fault budget, and how we got here."""

    world: World
    left: tuple[int, ...]  # indexes of operations not begun yet
    budget: int
    path: tuple[Action, ...]


class StoreState(Protocol):
    """What a store offers so that the explorer can copy it and tell its states apart
    (optional: only a world the explorer searches needs it). ``MemoryStore`` has both."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """An independent copy (``MemoryStore.clone``): how :func:`fork` copies it."""

    def state_key(self, row_key: Callable[[Any], object] = ...) -> object:
        """Everything that decides what the store does next, as a picklable value:
        two stores with equal keys behave alike. ``row_key`` stands in for each row
        (an immutable record) in it."""


class ProviderState(Protocol):
    """What a provider (a fake) offers so that the explorer can copy it and tell its
    states apart. ``FakeProvider`` has both."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """An independent copy on the copy of its clock found in ``memo``
        (``FakeProvider.clone``): how :func:`fork` copies it."""

    def state_key(self) -> object:
        """Everything that decides what the provider does next (not its logs and
        counters), as a picklable value."""


#: id of a record -> (the record, kept alive so that its id is not reused; its digest)
RowCache = dict[int, tuple[Any, bytes]]


def fingerprint(node: Node, ops: Sequence[Op], cache: RowCache | None = None) -> bytes:
    """A digest of everything that decides what can happen next.

    The store's rows (in insertion order: ``find`` returns them in that order) and
    sequences, and the provider's whole state (intents, refunds, saved idempotency
    answers, undelivered events, id counters), each as the adapter states it
    (:class:`StoreState`, :class:`ProviderState`); the clock; the worker's id, the
    answers it holds in memory and the flows it must take before stepping them; armed
    faults and keys whose saved answer is a 500; queued webhooks; and what the explorer
    has still to do (operations not begun, as a multiset, and the fault budget). Logs
    and counters are left out.

    ``cache`` keeps each stored record's digest, and each of the provider's immutable
    values' (views, refunds, saved answers, events: frozen records, which its
    ``clone`` shares): they are shared between a state and its successors, so most
    are digested once per search.
    """
    w = node.world
    store = cast(StoreState, w.w.store)  # a store the explorer searches offers both
    provider: ProviderState = w.w.provider
    eng = w.engine
    rows: RowCache = {} if cache is None else cache
    inflight = [
        (fid, version, remote.call_name, remote.apply.__qualname__, outcome.value, outcome.error)
        for fid, version, remote, outcome in eng.held_answers()
    ]
    state = (
        store.state_key(lambda row: _row_digest(row, rows)),
        _stand_in(provider.state_key(), rows),
        w.w.clock.now(),
        eng.worker_id,
        eng.outbox_pending,
        inflight,
        sorted(w.untaken),
        w.plan.state_key(),
        [(_row_digest(d.event, rows), d.payload, d.header) for d in w.pending],
        list(w.sessions),
        sorted(attrs.astuple(ops[i]) for i in node.left),
        node.budget,
    )
    return _digest(state)


_PLAIN: set[type[Any]] = {str, int, float, bool, type(None), bytes}
#: how :func:`_stand_in` treats each type: "record" (frozen: digested once), "fields"
#: (a mutable record: its fields, one by one) or "as is"
_KEY_HOW: dict[type[Any], str] = {}


def _key_how(t: type[Any]) -> str:
    if dataclasses.is_dataclass(t):
        return "record" if t.__dataclass_params__.frozen else "fields"  # type: ignore[attr-defined]
    if attrs.has(t):
        return "record" if _frozen_attrs(t) else "fields"
    return "as is"


def _frozen_attrs(t: type[Any]) -> bool:
    """Is ``t`` a frozen attrs class?"""
    return attrs.has(t) and getattr(t.__setattr__, "__name__", "") == "_frozen_setattrs"


def _stand_in(x: Any, cache: RowCache) -> Any:
    """``x`` (an adapter's state key) with each frozen record in it replaced by its
    cached digest, so that digesting the whole costs little more than its containers.
    Containers keep their type (a ``Counter`` becomes a dict); a mutable record becomes
    its type's name and its fields."""
    t = type(x)
    if t in _PLAIN:
        return x
    if t is tuple:
        return tuple([_stand_in(v, cache) for v in x])
    if t is list:
        return [_stand_in(v, cache) for v in x]
    if t is dict or t is Counter:
        return {k: _stand_in(v, cache) for k, v in x.items()}
    how = _KEY_HOW.get(t) or _KEY_HOW.setdefault(t, _key_how(t))
    if how == "record":
        return _row_digest(x, cache)
    if how == "fields":
        get = _FIELDS.get(t) or _FIELDS.setdefault(t, _fields_of(t))
        return (t.__qualname__, [_stand_in(v, cache) for v in get(x)])
    return x


#: a mutable record's type -> a function giving its fields' values, as a tuple
_FIELDS: dict[type[Any], Callable[[Any], tuple[Any, ...]]] = {}


def _fields_of(t: type[Any]) -> Callable[[Any], tuple[Any, ...]]:
    fields = attrs.fields(t) if attrs.has(t) else dataclasses.fields(t)
    names = [f.name for f in fields]
    get = operator.attrgetter(*names)
    return get if len(names) > 1 else lambda x: (get(x),)


def _row_digest(row: Any, cache: RowCache) -> bytes:
    hit = cache.get(id(row))
    if hit is None or hit[0] is not row:
        hit = cache[id(row)] = (row, _digest(row))
    return hit[1]


def _digest(state: object) -> bytes:
    """Hash a state by value: the pickler's memo is off, so two equal states digest alike
    however their objects happen to be shared."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=5)
    pickler.fast = True
    pickler.dump(state)
    return hashlib.blake2b(buf.getbuffer(), digest_size=16).digest()


def _read_only(d: dict[Any, Any]) -> types.MappingProxyType[Any, Any]:
    return types.MappingProxyType(d)


_REDUCERS: dict[type[Any], Callable[[Any], Any]] = {
    type(threading.Lock()): lambda _: (threading.Lock, ()),
    type(threading.RLock()): lambda _: (threading.RLock, ()),
    types.MappingProxyType: lambda m: (_read_only, (dict(m),)),
}


@contextmanager
def copyable() -> Iterator[None]:
    """Let deepcopy and pickle handle a world: a lock copies as a fresh lock, a read-only
    mapping as a read-only copy. Undone on exit."""
    table = copyreg.dispatch_table
    added = {t: r for t, r in _REDUCERS.items() if t not in table}
    table.update(added)
    try:
        yield
    finally:
        for t in added:
            table.pop(t, None)


def fork(world: World) -> World:
    """An independent copy of ``world`` (inside :func:`copyable`): what ``copy.deepcopy``
    makes, made faster by sharing what is immutable.

    paycore's records, the provider's views and events, the configuration and the
    schema are frozen attrs instances: the store already hands the same record to
    every snapshot, so a copy may share them too. The store and the provider copy
    themselves (their ``__deepcopy__``, :class:`StoreState`, :class:`ProviderState`);
    everything else is copied here.
    """
    return _clone(world, {})  # type: ignore[no-any-return]


_ATOMIC: set[type[Any]] = {
    str,
    int,
    float,
    bool,
    type(None),
    bytes,
    type,
    types.FunctionType,
    operator.itemgetter,  # holds its keys, which it never changes
    operator.attrgetter,
}
#: how each other type is copied: "dict", "slots", "attrs" or "deep"
_HOW: dict[type[Any], str] = {}
#: the slots (or an attrs class's fields) each type is copied by, by name
_SLOTS: dict[type[Any], tuple[str, ...]] = {}
_OBJECT_STATE: tuple[Any, ...] = (
    object.__reduce_ex__,
    object.__reduce__,
    getattr(object, "__getstate__", None),
)


def _how(t: type[Any]) -> str:
    """Share an enum or a frozen attrs instance; copy a plain object by its ``__dict__``
    (slots named by a base class, if any, one by one), a mutable attrs instance by its
    fields, anything else (custom copying or pickling, containers' subclasses) with
    ``copy.deepcopy``. An empty ``__slots__`` (``abc.ABC``'s) names nothing to copy."""
    if issubclass(t, enum.Enum) or _frozen_attrs(t):
        _ATOMIC.add(t)
        return "atomic"
    custom = (
        hasattr(t, "__deepcopy__")
        or (hasattr(t, "__setstate__") and not attrs.has(t))
        or t in copyreg.dispatch_table
        or issubclass(t, dict | list | tuple | set | frozenset)
    )
    if custom:
        return "deep"
    if attrs.has(t):
        return "attrs"
    own: tuple[Any, ...] = (t.__reduce_ex__, t.__reduce__, getattr(t, "__getstate__", None))
    if own != _OBJECT_STATE:
        return "deep"
    return "slots" if _slots(t) else "dict"


def _slots(t: type[Any]) -> tuple[str, ...]:
    """The slots ``t``'s classes declare (``__dict__`` and ``__weakref__`` aside), a
    private name as the class stores it."""
    names: list[str] = []
    for c in t.__mro__[:-1]:
        declared = vars(c).get("__slots__", ())
        for name in [declared] if isinstance(declared, str) else declared:
            if name.startswith("__") and not name.endswith("__"):
                name = f"_{c.__name__.lstrip('_')}{name}"
            names.append(name)
    return tuple(n for n in names if n not in ("__dict__", "__weakref__"))


def _random(x: random.Random, memo: dict[int, Any]) -> random.Random:
    y = random.Random()
    y.setstate(x.getstate())  # a tuple of ints: deepcopy would copy it int by int
    return y


def _method(x: types.MethodType, memo: dict[int, Any]) -> types.MethodType:
    return types.MethodType(x.__func__, _clone(x.__self__, memo))


def _set(x: set[Any], memo: dict[int, Any]) -> set[Any]:
    return {v if type(v) in _ATOMIC else _clone(v, memo) for v in x}


def _frozenset(x: frozenset[Any], memo: dict[int, Any]) -> frozenset[Any]:
    if all(type(v) in _ATOMIC for v in x):
        return x
    return frozenset(_clone(v, memo) for v in x)


def _counter(x: Counter[Any], memo: dict[int, Any]) -> Counter[Any]:
    y: Counter[Any] = Counter()
    memo[id(x)] = y
    y.update(_clone(dict(x), memo))
    return y


#: Types copied by a function of their own: what ``copy.deepcopy`` makes, faster.
_COPIERS: dict[type[Any], Callable[[Any, dict[int, Any]], Any]] = {
    random.Random: _random,
    types.MethodType: _method,
    set: _set,
    frozenset: _frozenset,
    Counter: _counter,
}


def _clone(x: Any, memo: dict[int, Any]) -> Any:
    t = type(x)
    if t in _ATOMIC:
        return x
    atomic = _ATOMIC
    if t is tuple:
        for v in x:
            if type(v) not in atomic:
                break
        else:
            return x  # nothing in it to copy: the tuple itself will do
    got = memo.get(id(x), memo)
    if got is not memo:
        return got
    if t is tuple:
        items = [v if type(v) in atomic else _clone(v, memo) for v in x]
        y: Any = x if all(a is b for a, b in zip(items, x, strict=True)) else tuple(items)
        memo[id(x)] = y
        return y
    if t is list:
        y = memo[id(x)] = []
        y.extend(v if type(v) in atomic else _clone(v, memo) for v in x)
        return y
    if t is dict:
        y = {}
        memo[id(x)] = y
        for k, v in x.items():
            if type(k) not in atomic:
                k = _clone(k, memo)
            y[k] = v if type(v) in atomic else _clone(v, memo)
        return y
    copier = _COPIERS.get(t)
    if copier is not None:
        y = memo[id(x)] = copier(x, memo)
        return y
    how = _HOW.get(t) or _HOW.setdefault(t, _how(t))
    if how == "atomic":
        return x
    if how == "deep":
        return copy.deepcopy(x, memo)
    y = object.__new__(t)
    memo[id(x)] = y
    if how == "dict":
        y.__dict__.update(_clone(x.__dict__, memo))
        return y
    names = _SLOTS.get(t)
    if names is None:
        names = _SLOTS[t] = _slots(t) if how == "slots" else _fields(t)
    for name in names:
        v = getattr(x, name, _UNSET)
        if v is not _UNSET:
            object.__setattr__(y, name, v if type(v) in atomic else _clone(v, memo))
    if how == "slots" and hasattr(x, "__dict__"):
        y.__dict__.update(_clone(x.__dict__, memo))
    return y


_UNSET = object()


def _fields(t: type[Any]) -> tuple[str, ...]:
    return tuple(a.name for a in attrs.fields(t))
