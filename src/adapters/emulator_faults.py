"""Faults on the wire, armed for the next requests: what a network and Stripe's servers
do to a client, made to happen when a test says.

Each kind and what the client sees:

- ``drop``: the request is applied, then the connection closes with no answer (a
  response lost on the way back: the effect happened, the client cannot tell);
- ``reset``: the connection is reset before anything is applied (nothing happened);
- ``server_error``: a 500 ``api_error`` after the effect was applied; ``server_error_unapplied``:
  a 500 with no effect. A keyed request's 500 is saved under its idempotency key
  (through the model's :meth:`~paycore_adapters.fake_inflight.InFlightLedger.fail_next_with_500`),
  so a retry with the key replays it: "Subsequent requests with the same key return the
  same result, including 500 errors" (docs.stripe.com/api/idempotent_requests);
- ``rate_limit``: 429, code ``rate_limit``, nothing applied (docs.stripe.com/rate-limits);
- ``lock_timeout``: 429, code ``lock_timeout``, nothing applied (docs.stripe.com/error-codes);
- ``idempotency_key_in_use``: 409, nothing applied (docs.stripe.com/api/errors, "409 Conflict");
- ``slow``: the answer waits ``delay_s`` (at most :data:`MAX_DELAY_S`) and is then the
  normal one.

A fault is armed for the next ``times`` requests (of one ``endpoint`` when given: the
names of :data:`paycore_adapters.emulator_routes.OPS`), taken in the order armed. Nothing
here is random.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

FAULT_KINDS = frozenset(
    {
        "drop",
        "reset",
        "server_error",
        "server_error_unapplied",
        "rate_limit",
        "lock_timeout",
        "idempotency_key_in_use",
        "slow",
    }
)
MAX_DELAY_S = 5.0
DEFAULT_DELAY_S = 0.2


class FaultArmingInvalid(ValueError):
    """A fault was armed with an unknown kind or endpoint, or a bad count or delay."""


@dataclass(frozen=True)
class Fault:
    kind: str
    endpoint: str | None
    delay_s: float = 0.0


@dataclass
class _Armed:
    fault: Fault
    left: int


@dataclass
class Faults:
    """The faults armed on one emulator (``emulator.faults``), and the ones fired."""

    endpoints: frozenset[str]
    _armed: list[_Armed] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: (kind, endpoint) of each fault fired, in order
    fired: list[tuple[str, str]] = field(default_factory=list)

    def arm(
        self,
        kind: str,
        *,
        endpoint: str | None = None,
        times: int = 1,
        delay_s: float = DEFAULT_DELAY_S,
    ) -> None:
        """Make the next ``times`` requests (to ``endpoint``, or any) meet ``kind``."""
        if kind not in FAULT_KINDS:
            raise FaultArmingInvalid(f"unknown fault {kind!r}: one of {sorted(FAULT_KINDS)}")
        if endpoint is not None and endpoint not in self.endpoints:
            raise FaultArmingInvalid(
                f"unknown endpoint {endpoint!r}: one of {sorted(self.endpoints)}"
            )
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise FaultArmingInvalid(f"times must be a positive integer, not {times!r}")
        if not 0 <= delay_s <= MAX_DELAY_S:
            raise FaultArmingInvalid(f"delay_s must be 0 to {MAX_DELAY_S} seconds")
        fault = Fault(kind, endpoint, delay_s if kind == "slow" else 0.0)
        with self._lock:
            self._armed.append(_Armed(fault, times))

    def clear(self) -> None:
        """Disarm every fault not fired yet."""
        with self._lock:
            self._armed = []

    def pending(self) -> list[tuple[str, str | None, int]]:
        """The faults still armed: (kind, endpoint, times left), in the order armed."""
        with self._lock:
            return [(a.fault.kind, a.fault.endpoint, a.left) for a in self._armed]

    def take(self, endpoint: str) -> Fault | None:
        """The first armed fault for ``endpoint`` (one use of it), or None."""
        with self._lock:
            for armed in self._armed:
                if armed.fault.endpoint in (None, endpoint):
                    armed.left -= 1
                    if armed.left == 0:
                        self._armed.remove(armed)
                    self.fired.append((armed.fault.kind, endpoint))
                    return armed.fault
        return None


def faults_for(endpoints: Iterable[str]) -> Faults:
    return Faults(frozenset(endpoints))
