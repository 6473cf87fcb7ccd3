"""Checks of what a service is built from and of the settings its adapters take: refused
where they are given, typed (:class:`InvalidInput`) and by name (``field``), instead of
failing later, untyped, or as a provider outage that holds stock and is retried for days.

A part is checked against its port by the methods the port names (the Protocols of
:mod:`paycore.ports`): a part that lacks one is refused; what the methods do is the
adapter's contract, tested there.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from typing import Any

from paycore import ports
from paycore.config import Config
from paycore.errors import InvalidInput
from paycore.shown import shown

#: Each part of a service, and the port whose methods it must have.
PORTS: dict[str, type[Any]] = {
    "store": ports.Store,
    "provider": ports.PaymentProvider,
    "clock": ports.Clock,
    "alerts": ports.Alerts,
    "notifier": ports.Notifier,
    "tokens": ports.Tokens,
}


def methods(port: type[Any]) -> tuple[str, ...]:
    """The methods a Protocol of :mod:`paycore.ports` names, in its order."""
    return tuple(
        name
        for name, member in vars(port).items()
        if not name.startswith("_") and inspect.isfunction(member)
    )


_METHODS = {name: methods(port) for name, port in PORTS.items()}


def check_part(field: str, value: object) -> None:
    """Refuse ``value`` as the part ``field`` (a key of :data:`PORTS`) when it lacks a
    method of its port.

    Raises:
        InvalidInput: ``field`` names the part.
    """
    missing = [m for m in _METHODS[field] if not callable(getattr(value, m, None))]
    if missing:
        port = PORTS[field].__name__
        raise InvalidInput(
            f"{field} must be a paycore.ports.{port} (with {', '.join(_METHODS[field])}): "
            f"a {type(value).__name__} has no {', '.join(missing)}",
            field=field,
        )


def check_config(config: object) -> None:
    """Refuse a config that is neither None nor a :class:`Config` (a dict of settings is
    not read: ``Config(**settings)`` checks each one)."""
    if config is not None and not isinstance(config, Config):
        raise InvalidInput(
            f"config must be a paycore.config.Config (or None), not a {type(config).__name__}",
            field="config",
        )


def check_service(
    store: object,
    provider: object,
    clock: object,
    alerts: object,
    notifier: object,
    config: object,
    worker_id: object = None,
    tokens: object = None,
) -> None:
    """Refuse what a :class:`paycore.service.PaymentService` cannot be built from: a part
    without its port's methods (``tokens`` may be None), a config that is not a
    :class:`Config`, a worker id that is not text.

    Raises:
        InvalidInput: ``field`` names the argument.
    """
    parts = {"store": store, "provider": provider, "clock": clock, "alerts": alerts}
    for field, value in {**parts, "notifier": notifier, "tokens": tokens}.items():
        if not (field == "tokens" and value is None):
            check_part(field, value)
    check_config(config)
    if worker_id is not None and not isinstance(worker_id, str):
        raise InvalidInput(
            f"worker_id must be text (or None), not a {type(worker_id).__name__}",
            field="worker_id",
        )


def positive_seconds(field: str, value: object, *, zero: bool = False) -> float:
    """``value`` as a finite number of seconds above 0 (``zero``: 0 too); a bool, a string,
    NaN or an infinity is refused.

    Raises:
        InvalidInput: ``field`` names the argument.
    """
    seconds = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # a whole number past the float range
            seconds = float(value)
    if math.isfinite(seconds) and (seconds > 0 or (zero and seconds == 0)):
        return seconds
    least = "0 or more" if zero else "a positive number of"
    raise InvalidInput(f"{field} must be {least} seconds, not {shown(value)}", field=field)


def whole_number(field: str, value: object, *, low: int = 0, high: int | None = None) -> int:
    """``value`` as a whole number from ``low`` to ``high`` (a bool or a float refused).

    Raises:
        InvalidInput: ``field`` names the argument.
    """
    whole = isinstance(value, int) and not isinstance(value, bool)
    if whole and value >= low and (high is None or value <= high):  # type: ignore[operator]
        return value  # type: ignore[return-value]
    most = f" up to {high}" if high is not None else ""
    raise InvalidInput(
        f"{field} must be a whole number of at least {low}{most}, not {shown(value)}",
        field=field,
    )
