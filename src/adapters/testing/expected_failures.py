"""Strict expected-failure marks on a provider contract subclass, without touching the
shipped cases; and the cases that do not apply to the Stripe adapter without Connect.

A backend's test class lists the cases it cannot pass, each with its reason, and
:func:`mark_expected_failures` marks them there (strict: a case that starts to pass
fails until its line is removed). The base class's functions, which other backends'
test classes run, stay unmarked.

Without Connect (``StripeProvider(..., connect=False)``) the adapter charges the API
key's own account: no connected account is read, charged or refunded by a transfer
reversal, so every case of :class:`~.provider_connect.ConnectCases` is an expected
failure there, with the reason :data:`NO_CONNECT` (:func:`without_connect`).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pytest

from .provider_connect import ConnectCases

C = TypeVar("C", bound=type)

NO_CONNECT = "no Connect in this mode"

#: The connected-account cases (:mod:`.provider_connect`), by name.
CONNECT_CASES: tuple[str, ...] = tuple(
    sorted(n for n in vars(ConnectCases) if n.startswith("test_"))
)


def _copy(func: Callable[..., Any]) -> Callable[..., Any]:
    """A new function object with ``func``'s code and marks: marking it leaves the base
    class's function (which other providers' test classes run) unmarked."""
    new = types.FunctionType(
        func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__
    )
    new.__dict__.update(func.__dict__)
    new.__qualname__, new.__doc__ = func.__qualname__, func.__doc__
    return new


def mark_expected_failures(cls: C, reasons: Mapping[str, str]) -> C:
    """Marks each case named in ``reasons`` on the contract subclass ``cls`` as a strict
    expected failure with its reason. Every name must be a case of ``cls``."""
    for name, reason in reasons.items():
        func = getattr(cls, name, None)
        if func is None or not name.startswith("test_"):
            raise AttributeError(f"{cls.__name__} has no case {name!r}")
        setattr(cls, name, pytest.mark.xfail(strict=True, reason=reason)(_copy(func)))
    return cls


def without_connect(cls: C) -> C:
    """Marks the connected-account cases of ``cls`` (a class decorator for a contract
    subclass whose provider is the Stripe adapter with ``connect=False``)."""
    return mark_expected_failures(cls, dict.fromkeys(CONNECT_CASES, NO_CONNECT))
