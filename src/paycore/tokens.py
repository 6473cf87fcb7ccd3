"""Sources of random tokens: installation ids and provider object references.

Production draws from the operating system (:class:`RandomTokens`); tests and the
chaos harness inject :class:`SeededTokens` so that a run replays exactly.
"""

from __future__ import annotations

import random
import secrets
import threading

#: 20 hex digits: 80 bits, unique across every store and restore in practice.
TOKEN_HEX = 20


class RandomTokens:
    """Tokens from the operating system's random source (the default)."""

    def token(self) -> str:
        return secrets.token_hex(TOKEN_HEX // 2)


class SeededTokens:
    """Deterministic tokens for tests and the harness; another seed, another sequence.

    Example::

        svc = PaymentService(store, provider, clock, alerts, notifier, tokens=SeededTokens(7))
    """

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            return f"{self._random.getrandbits(TOKEN_HEX * 4):0{TOKEN_HEX}x}"
