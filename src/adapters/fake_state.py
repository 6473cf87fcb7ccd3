"""The fake provider's books in a file, so that a local run can stop and go on.

A real provider keeps its own books: a service that restarts finds its intents
and refunds still there. ``paycore demo`` runs against the fake, so to finish on a
second run what a first run left in flight (or what a killed one did), the fake's
state lives in a file beside the store, written after every call, before its answer
returns: whatever the store recorded from an answer, the file holds too (the
provider is never behind the shop, as with a real provider).

The file is JSON; only the provider's own views and errors are built from it, by
name (:mod:`paycore.ports`, :func:`paycore.errors.error_class`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from paycore.errors import ProviderError, error_class
from paycore.ports import AccountView, IntentView, ProviderEvent, RefundView

from .fake_ledger import SavedOutcome, StoredIntent
from .fake_provider import FakeProvider
from .memory import ManualClock
from .sql import values

#: /2: accounts are Stripe's account states (no longer a yes or no), intents say whether
#: they were made on behalf of their account, and refunds' transfer reversals are kept.
FORMAT = "paycore-fake-provider/2"
_VIEWS: dict[str, type[Any]] = {
    "intent": IntentView,
    "refund": RefundView,
    "event": ProviderEvent,
    "account": AccountView,
}


class FakeStateUnreadable(ValueError):
    """The fake provider's file cannot be read as one."""


def _view(kind: str, view: Any) -> dict[str, Any]:
    return {"$" + kind: values.encode(attrs.asdict(view, recurse=False))}


def _encode(value: Any) -> Any:
    """Views and errors tagged; anything else as :mod:`paycore_adapters.sql.values` does."""
    for kind, cls in _VIEWS.items():
        if isinstance(value, cls):
            return _view(kind, value)
    if isinstance(value, ProviderError):
        fields = {k: _encode(v) for k, v in value.fields.items()}
        return {"$error": value.code, "message": value.message, "fields": fields}
    return values.encode(value)


def _decode(data: Any) -> Any:
    if isinstance(data, dict):
        for kind, cls in _VIEWS.items():
            if "$" + kind in data:
                return cls(**values.decode(data["$" + kind]))
        if "$error" in data:
            fields = {k: _decode(v) for k, v in data["fields"].items()}
            return error_class(data["$error"])(data["message"], **fields)
    return values.decode(data)


def dumps(provider: FakeProvider, clock: ManualClock) -> str:
    """The fake's whole state and the clock's time, as JSON text."""
    books = provider.books()
    doc = {
        "format": FORMAT,
        "now": clock.now(),
        "accounts": {k: _encode(v) for k, v in books["accounts"].items()},
        "intents": [{k: _encode(v) for k, v in vars(it).items()} for it in books["intents"]],
        "refunds": [_encode(r) for r in books["refunds"]],
        "saved": {k: _saved(s) for k, s in books["saved"].items()},
        "events": [_encode(e) for e in books["events"]],
        "undelivered": [_encode(e) for e in books["undelivered"]],
        "seq": books["seq"],
        "refunds_settle_immediately": books["refunds_settle_immediately"],
        "reversals": books["reversals"],
    }
    return json.dumps(doc, separators=(",", ":"))


def _saved(s: SavedOutcome) -> dict[str, Any]:
    return {
        "endpoint": s.endpoint,
        "params": _encode(s.params),
        "outcome": _encode(s.outcome),
        "at": s.at,
    }


def _account(data: Any) -> AccountView:
    view = _decode(data)
    if not isinstance(view, AccountView):
        raise ValueError(f"not an account: {data!r}")
    return view


def loads(text: str, provider: FakeProvider, clock: ManualClock) -> None:
    """Put the state :func:`dumps` wrote into ``provider`` and move ``clock`` to its time."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        books = {
            "accounts": {str(k): _account(v) for k, v in doc["accounts"].items()},
            "intents": [
                StoredIntent(**{k: _decode(v) for k, v in it.items()}) for it in doc["intents"]
            ],
            "refunds": [_decode(r) for r in doc["refunds"]],
            "saved": {
                k: SavedOutcome(s["endpoint"], _decode(s["params"]), _decode(s["outcome"]), s["at"])
                for k, s in doc["saved"].items()
            },
            "events": [_decode(e) for e in doc["events"]],
            "undelivered": [_decode(e) for e in doc["undelivered"]],
            "seq": {str(k): int(v) for k, v in doc["seq"].items()},
            "refunds_settle_immediately": doc["refunds_settle_immediately"],
            "reversals": {str(k): int(v) for k, v in doc["reversals"].items()},
        }
        now = int(doc["now"])
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError) as exc:
        # RecursionError: JSON nested too deep for the decoder (it is no ValueError).
        raise FakeStateUnreadable(f"cannot read the fake provider's state: {exc}") from None
    provider.load_books(books)
    clock.advance(now - clock.now())


class SavedAfterEveryCall:
    """The fake provider, its state written to ``path`` after every call it answers
    (or refuses): what a restarted run loads with :func:`loads`."""

    def __init__(self, provider: FakeProvider, clock: ManualClock, path: Path) -> None:
        self._provider, self._clock, self._path = provider, clock, path

    def save(self) -> None:
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=f".{self._path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(dumps(self._provider, self._clock))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path)
        except BaseException:  # Ctrl-C too: no half-written temporary file is left
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._provider, name)
        if name.startswith("_") or not callable(attr):
            return attr
        return self._saving(attr)

    def _saving(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self.save()

        return call
