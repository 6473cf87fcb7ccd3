"""Nested values (a flow's params, an order's lines, an alert's fields) as JSON text.

Plain JSON where the value is plain, so an operator reads it with the database's own
JSON functions: objects with string keys, lists, strings, numbers, booleans, null.
What JSON cannot tell apart is tagged, and only that:

* a tuple: ``{"$tuple": [...]}`` (a list stays a list);
* a record of :mod:`paycore.records` or :mod:`paycore.money`:
  ``{"$record": "OrderLine", "fields": {...}}``;
* an enum of :mod:`paycore.status`: ``{"$enum": "OrderStatus", "value": "paid"}``;
* a mapping whose keys are not all strings, or one with a key starting with ``$``:
  ``{"$map": [[key, value], ...]}``.

Only those modules' classes are ever built from stored text.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from paycore import money, records, status

_CLASSES: dict[str, type[Any]] = {
    name: obj
    for module in (records, money, status)
    for name, obj in vars(module).items()
    if isinstance(obj, type)
    and obj.__module__ == module.__name__
    and (attrs.has(obj) or issubclass(obj, enum.Enum))
}
#: The records among them, with their fields' names (stored by exact class only).
_RECORDS: dict[type[Any], tuple[str, ...]] = {
    cls: tuple(a.name for a in attrs.fields(cls)) for cls in _CLASSES.values() if attrs.has(cls)
}


class StoredValueInvalid(ValueError):
    """Stored JSON names a class paycore does not build, or is malformed."""


#: Types stored as they are (exactly these: an enum of str or int is tagged).
_PLAIN = frozenset({str, int, bool, type(None)})


def encode(value: Any) -> Any:
    """``value`` as JSON-able data (see the module's tags)."""
    kind = type(value)  # the common cases by exact type first: no isinstance chain
    if kind in _PLAIN:
        return value
    if kind is dict and all(type(k) is str and k[:1] != "$" for k in value):
        return {k: encode(v) for k, v in value.items()}
    if kind is tuple:
        return {"$tuple": [encode(v) for v in value]}
    names = _RECORDS.get(kind)
    if names is not None:
        fields = {name: encode(getattr(value, name)) for name in names}
        return {"$record": kind.__name__, "fields": fields}
    return _encode(value)


def _encode(value: Any) -> Any:
    """:func:`encode` of any value, by what it is an instance of."""
    if isinstance(value, enum.Enum):  # first: a str or int enum is a str or int too
        return {"$enum": type(value).__name__, "value": value.value}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot store a {type(value).__name__} in a JSON column")


def decode(data: Any) -> Any:
    """The value :func:`encode` made ``data`` of."""
    kind = type(data)
    if kind in _PLAIN:
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) in (1, 2) and any(k.startswith("$") for k in data):
        return _tagged(data, decode)
    return {k: decode(v) for k, v in data.items()}


def _tagged(data: dict[str, Any], inner: Callable[[Any], Any] | None = None) -> Any:
    """The value of a tagged object, its nested data made values by ``inner`` (None:
    they are values already)."""
    if "$tuple" in data:
        items = data["$tuple"]
        return tuple(items if inner is None else map(inner, items))
    if "$map" in data:
        pairs = data["$map"]
        if inner is not None:
            pairs = [(inner(k), inner(v)) for k, v in pairs]
        return {_hashable(k): v for k, v in pairs}
    name = data.get("$record", data.get("$enum"))
    cls = _CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise StoredValueInvalid(f"stored JSON names no class paycore builds: {data!r:.80}")
    if "$enum" in data:
        return cls(data["value"])
    fields = data["fields"]
    return cls(**(fields if inner is None else {k: inner(v) for k, v in fields.items()}))


def _parsed(data: dict[str, Any]) -> Any:
    """:func:`decode` of one JSON object as the parser reads it, its nested objects
    already made values (the parser's ``object_hook``, called innermost first: no second
    walk over the parsed data)."""
    if len(data) < 3:
        for k in data:
            if k[:1] == "$":
                return _tagged(data)
    return data


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


#: One encoder and one decoder for every value (``json.dumps`` and ``json.loads`` make
#: a new one on every call that passes options). The encoder checks for no cycle: it is
#: given what :func:`encode` built, every container new (a cycle never ends its walk).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
_DECODER = json.JSONDecoder(object_hook=_parsed)


def dumps(value: Any) -> str:
    """``value`` as compact JSON text."""
    return _ENCODER.encode(encode(value))


def loads(text: str | bytes | Any) -> Any:
    """The value :func:`dumps` wrote (a driver may hand JSON back already parsed)."""
    if isinstance(text, str):
        return _DECODER.decode(text)
    if isinstance(text, bytes):
        return json.loads(text, object_hook=_parsed)
    return decode(text)
