"""Dimensions of the shop that one example holds fixed and the next one varies.

The model's actions choose what happens; a dimension chooses the shop it happens in.
Each example draws one (the first, ``default``, is the shop as the rest of the harness
describes it, and what Hypothesis shrinks towards):

- ``few_attempts``: a configuration where a flow gives up after two tries, so the
  compensations, give-up steps and dead letters are reached;
- ``short_timers``: short reservation, session, lease, backoff and processing-hold times
  (non-default configuration values);
- ``pending_refunds``: the provider's refunds stay pending until the bank acts (the
  customer action settles, fails or reverses them);
- ``flaky_notifier``: the notifier fails every other send while faults are on;
- ``raw_exceptions``: the provider adapter lets raw exceptions through (a
  ``ConnectionResetError`` instead of paycore's provider errors) when a fault fires;
- ``multi_line``: one checkout buys two products (two lines, two reservations);
- ``marketplace``: a second seller, with its own provider account, sells in JPY;
- ``mixed_carts``: carts mixing sellers and currencies, which must be refused;
- ``hold_until_settled``: the library's default ``processing_hold_ms=None``: the stock of
  a payment the provider is processing stays held until it settles, however long.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from paycore.errors import ProviderError
from paycore.money import Money
from paycore.records import OutboxMessage

from .faults import FaultKind
from .world import World

__all__ = ["DIMENSIONS", "DRAWN", "HELD_BACK", "FaultKind", "apply"]

DIMENSIONS = (
    "default",
    "short_timers",
    "pending_refunds",
    "flaky_notifier",
    "raw_exceptions",
    "multi_line",
    "marketplace",
    "mixed_carts",
    "few_attempts",
    "hold_until_settled",
)
#: Dimensions the model does not draw yet, with the reason (``apply`` still takes them).
#: (``few_attempts`` was held back until outages stopped dead-lettering flows for good:
#: a transient failure now costs no attempt, issue 7 item 1.)
HELD_BACK: dict[str, str] = {}
DRAWN = tuple(d for d in DIMENSIONS if d not in HELD_BACK)


def apply(world: World, name: str) -> str:
    """Put ``world`` (freshly built, nothing done yet) in dimension ``name``."""
    if name == "few_attempts":
        world.reconfigure(attrs.evolve(world.config, max_attempts=2))
    elif name == "short_timers":
        world.reconfigure(
            attrs.evolve(
                world.config,
                reservation_ttl_ms=60_000,
                checkout_session_ttl_ms=600_000,
                lease_ms=5_000,
                backoff_cap_ms=60_000,
                processing_hold_ms=300_000,
            )
        )
    elif name == "hold_until_settled":
        world.reconfigure(attrs.evolve(world.config, processing_hold_ms=None))
    elif name == "pending_refunds":
        world.w.provider.refunds_settle_immediately = False
    elif name == "flaky_notifier":
        flaky = FlakyNotifier(world.w.notifier.send, lambda: world.plan.enabled)
        world.w.service.notifier = flaky
        world.w.notifier = flaky  # type: ignore[assignment]
    elif name == "raw_exceptions":
        world.faulty_provider.fault = raw(world.plan.provider_hook)
    elif name == "multi_line":
        world.carts = [("p_scarce",), ("p_plenty", "p_scarce")]
    elif name in ("marketplace", "mixed_carts"):
        second_seller(world)
        world.carts = (
            [("p_yen",), ("p_scarce",)]
            if name == "marketplace"
            else [("p_plenty", "p_yen"), ("p_plenty",)]
        )
    world.count(f"dimension:{name}")
    world.say(f"dimension: {name}")
    return name


def second_seller(world: World) -> None:
    """Seller s2, on its own provider account, sells a product priced in yen under the
    same SKU as the shop's scarce product: its two units are its own, never the shop's."""
    svc = world.w.service
    world.w.provider.set_account("acct_2")
    world.quietly(lambda: svc.add_seller("s2", "Yen shop", "acct_2"))
    world.quietly(lambda: svc.add_product("p_yen", "s2", "SKU-S", "Yen", Money(1500, "JPY")))
    world.quietly(lambda: svc.restock("s2", "SKU-S", 2))


class FlakyNotifier:
    """Fails every other send (a raw ``ConnectionError``) while ``failing()`` holds."""

    def __init__(self, send: Callable[[OutboxMessage], None], failing: Callable[[], bool]) -> None:
        self._send = send
        self._failing = failing
        self.calls = 0

    def send(self, message: OutboxMessage) -> None:
        self.calls += 1
        if self._failing() and self.calls % 2:
            raise ConnectionError("notifier: connection refused")
        self._send(message)


def raw(hook: Callable[[str, str, str | None], None]) -> Callable[[str, str, str | None], Any]:
    """A provider fault hook whose errors reach paycore as raw exceptions."""

    def raising_raw(call: str, phase: str, key: str | None) -> None:
        try:
            hook(call, phase, key)
        except ProviderError as exc:
            raise ConnectionResetError(f"{call}: {exc.message}") from None

    return raising_raw
