"""Open a store by URL, for the command line and for services that want a file.

Until the SQL stores exist, two kinds of URL:

- ``memory``: a fresh, empty in-memory store (lost when the process ends);
- ``json:PATH`` or a plain ``PATH``: an in-memory store loaded from a JSON file and
  written back (atomically: a temporary file, then a rename) by :meth:`OpenStore.save`.

The JSON file holds every row of every table as tagged values: attrs records by
class name, enums by class name and value, tuples and mappings kept apart from lists.
Only the classes of :mod:`paycore.records`, :mod:`paycore.money` and
:mod:`paycore.status` are ever built from a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from enum import Enum
from pathlib import Path
from typing import Any

import attrs

from paycore import money, records, status
from paycore.errors import StoreError

from .memory_store import MemoryStore

FORMAT = "paycore-store/1"


class StoreUrlInvalid(StoreError, ValueError, code="store_url_invalid"):
    """A store URL names no store kind paycore knows, or is malformed."""


class StoreFileMissing(StoreError, FileNotFoundError, code="store_file_missing"):
    """The store file the URL names does not exist."""


class StoreFileUnreadable(StoreError, code="store_file_unreadable"):
    """The store file exists but cannot be read as a paycore store."""


_TYPES: dict[str, type[Any]] = {
    name: obj
    for module in (records, money, status)
    for name, obj in vars(module).items()
    if isinstance(obj, type)
    and obj.__module__ == module.__name__
    and (attrs.has(obj) or issubclass(obj, Enum))
}


def encode(value: Any) -> Any:
    """A JSON-able form of a stored value."""
    if isinstance(value, Enum):
        return {"$enum": type(value).__name__, "value": value.value}
    if attrs.has(type(value)):
        fields = {f.name: encode(getattr(value, f.name)) for f in attrs.fields(type(value))}
        return {"$record": type(value).__name__, "fields": fields}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict) or hasattr(value, "items"):
        return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
    if value is None or isinstance(value, bool | int | str | float):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a JSON store")


def decode(value: Any) -> Any:
    """The stored value a JSON form stands for. Raises KeyError/TypeError on bad input."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$enum" in value:
        return _TYPES[value["$enum"]](value["value"])
    if "$record" in value:
        cls = _TYPES[value["$record"]]
        return cls(**{k: decode(v) for k, v in value["fields"].items()})
    if "$tuple" in value:
        return tuple(decode(v) for v in value["$tuple"])
    if "$map" in value:
        return {decode(k): decode(v) for k, v in value["$map"]}
    raise TypeError(f"untagged object in a store file: {sorted(value)}")


@attrs.define
class OpenStore:
    """A store opened by :func:`open_store`; :meth:`save` writes a file-backed one back."""

    store: MemoryStore
    path: Path | None = None

    def save(self) -> None:
        if self.path is None:
            return
        tables, seqs = self.store.export()
        doc = {
            "format": FORMAT,
            "tables": {name: [encode(r) for r in rows] for name, rows in tables.items()},
            "seqs": seqs,
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, separators=(",", ":"))
        os.replace(tmp, self.path)


def parse_url(url: object) -> Path | None:
    """None for ``memory``; the file's path for ``json:PATH`` or a plain path."""
    if not isinstance(url, str) or not url.strip():
        raise StoreUrlInvalid(
            "a store URL is 'memory', 'json:PATH' or a file path; got " + repr(url)
        )
    if url == "memory":
        return None
    scheme, sep, rest = url.partition(":")
    if sep and scheme == "json":
        if not rest:
            raise StoreUrlInvalid("json: needs a file path, as in json:shop.json")
        return Path(rest)
    if sep and len(scheme) > 1 and rest.startswith("//"):
        raise StoreUrlInvalid(
            f"no store for {scheme}:// URLs here: use 'memory', 'json:PATH' or a file path"
        )
    return Path(url)


def open_store(url: object, *, create: bool = False) -> OpenStore:
    """Open the store ``url`` names.

    Args:
        url: ``memory``, ``json:PATH`` or a file path.
        create: start an empty store when the file does not exist yet.

    Raises:
        StoreUrlInvalid: not a URL this opener knows.
        StoreFileMissing: the file does not exist (and ``create`` is false).
        StoreFileUnreadable: the file cannot be read, or is not a paycore store.

    Example::

        opened = open_store("json:shop.json", create=True)
        ...
        opened.save()
    """
    path = parse_url(url)
    if path is None:
        return OpenStore(MemoryStore())
    if not path.exists():
        if create:
            return OpenStore(MemoryStore(), path)
        raise StoreFileMissing(f"no store file at {path}: run `paycore demo --store {path}`")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        tables = {name: [decode(r) for r in rows] for name, rows in doc["tables"].items()}
        seqs = {str(k): int(v) for k, v in doc["seqs"].items()}
        store = MemoryStore.restore(tables, seqs)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreFileUnreadable(
            f"cannot read the store file {path}: {type(exc).__name__}: {exc}", path=str(path)
        ) from None
    return OpenStore(store, path)
