"""Faults on the wire, armed for the next requests (of one endpoint, or any).

Each kind is something a client of Stripe meets on a real network
(docs.stripe.com/error-low-level, "Handling errors"; docs.stripe.com/api/idempotent_requests):

- ``drop_after``: the request takes effect, then the connection closes without an
  answer (a timeout or a reset after the fact: the client cannot know what happened);
- ``reset``: the connection closes before the request reaches the model (nothing
  happened, and the client cannot know that either);
- ``error_500``: a 500 before the request reaches the model (``Stripe-Should-Retry:
  true``, nothing saved under the key);
- ``rate_limited``: 429 ``rate_limit``; ``key_in_use``: 409 ``idempotency_key_in_use``;
  ``lock_timeout``: 429 ``lock_timeout``; none of them does anything;
- ``slow``: the answer comes after ``delay_s`` (bounded), the request otherwise normal.

Faults are deterministic: they fire in the order armed, on the requests they match.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

KINDS = frozenset(
    {"drop_after", "reset", "error_500", "rate_limited", "key_in_use", "lock_timeout", "slow"}
)
MAX_DELAY_S = 5.0


class WireFaultInvalid(ValueError):
    """A wire fault was armed with an unknown kind or a bad count or delay."""


@dataclass
class Armed:
    kind: str
    endpoint: str | None
    times: int
    delay_s: float


class WireFaults:
    """The faults armed on an emulator; thread-safe."""

    def __init__(self) -> None:
        self._armed: list[Armed] = []
        self._lock = threading.Lock()
        #: how many times each kind fired
        self.fired: dict[str, int] = {}

    def arm(
        self, kind: str, *, endpoint: str | None = None, times: int = 1, delay_s: float = 0.2
    ) -> None:
        """Make the next ``times`` requests of ``endpoint`` (a port call's name, such as
        ``create_intent``; None: any) meet ``kind``."""
        if kind not in KINDS:
            raise WireFaultInvalid(f"unknown wire fault {kind!r}; one of {sorted(KINDS)}")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise WireFaultInvalid(f"times must be a whole number of at least 1, got {times!r}")
        if not 0 <= delay_s <= MAX_DELAY_S:
            raise WireFaultInvalid(f"delay_s must be within 0..{MAX_DELAY_S}, got {delay_s!r}")
        with self._lock:
            self._armed.append(Armed(kind, endpoint, times, delay_s))

    def take(self, endpoint: str) -> Armed | None:
        """The first armed fault that matches ``endpoint``, counted down; None if none."""
        with self._lock:
            for armed in self._armed:
                if armed.endpoint in (None, endpoint):
                    armed.times -= 1
                    if armed.times == 0:
                        self._armed.remove(armed)
                    self.fired[armed.kind] = self.fired.get(armed.kind, 0) + 1
                    return armed
            return None

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
