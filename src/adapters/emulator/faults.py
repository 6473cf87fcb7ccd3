"""Faults on the wire, armed for the next requests (of one endpoint, or any).

Each kind is something a client of Stripe meets on a real network
(docs.stripe.com/error-low-level, "Handling errors"; docs.stripe.com/api/idempotent_requests):

- ``drop_after``: the request takes effect, then the connection is reset without an
  answer (a TCP RST after the fact: the client cannot know what happened);
- ``reset``: the connection is reset before the request reaches the model (nothing
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
import zlib
from collections.abc import Callable
from dataclasses import dataclass

KINDS = frozenset(
    {"drop_after", "reset", "error_500", "rate_limited", "key_in_use", "lock_timeout", "slow"}
)
MAX_DELAY_S = 5.0
#: What :meth:`WireFaults.scatter` draws from by default: every kind but ``slow``.
SCATTERED = ("drop_after", "reset", "error_500", "rate_limited", "key_in_use", "lock_timeout")


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
        self._scatter: tuple[float, int, tuple[str, ...]] | None = None
        #: how often each request was seen since the last restart (its n-th sending)
        self._seen: dict[str, int] = {}
        self._gate: Callable[[], bool] = lambda: True

    def scatter(self, rate: float, seed: int, kinds: tuple[str, ...] = SCATTERED) -> None:
        """Besides what is armed, make a request meet one of ``kinds`` with chance
        ``rate``. Which requests do is a function of ``seed``, the request (its endpoint,
        its idempotency key or its path and query) and how often it was sent since
        :meth:`restart`: the same requests meet the same faults, whatever ran before.
        Only while :meth:`gate`'s function says so."""
        if not 0 <= rate <= 1 or not set(kinds) <= KINDS:
            raise WireFaultInvalid(f"a rate within 0..1 and kinds among {sorted(KINDS)}")
        with self._lock:
            self._scatter = (rate, seed, tuple(kinds))

    def restart(self) -> None:
        """Forget how often each request was sent (a test run replayed from its start
        meets the same faults on the same requests)."""
        with self._lock:
            self._seen.clear()

    def gate(self, enabled: Callable[[], bool]) -> None:
        """Scattered faults fire only while ``enabled()`` (a harness's quiet phase has none)."""
        self._gate = enabled

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

    def take(self, endpoint: str, request: str = "") -> Armed | None:
        """The first armed fault that matches ``endpoint``, counted down, else a scattered
        one for ``request`` (its key, or its path and query); None if none."""
        with self._lock:
            for armed in self._armed:
                if armed.endpoint in (None, endpoint):
                    armed.times -= 1
                    if armed.times == 0:
                        self._armed.remove(armed)
                    self.fired[armed.kind] = self.fired.get(armed.kind, 0) + 1
                    return armed
            if self._scatter is None or not self._gate():
                return None
            rate, seed, kinds = self._scatter
            n = self._seen[request] = self._seen.get(request, 0) + 1
            draw = zlib.crc32(f"{seed}|{endpoint}|{request}|{n}".encode())
            if draw % 10_000 >= rate * 10_000:
                return None
            kind = kinds[(draw // 10_000) % len(kinds)]
            self.fired[kind] = self.fired.get(kind, 0) + 1
            return Armed(kind, None, 0, 0.0)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
