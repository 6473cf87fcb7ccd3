"""A provider that ignores ``Idempotency-Key``: every mutating call executes again.

Stripe honours keys: a retry with the key of a request it already executed replays the
saved result, a key reused with other parameters is refused, and a key whose request is
still running answers 409 (docs.stripe.com/api/idempotent_requests). Some emulators do
not read the header at all (that localstripe ignores it is unsourced here: it is what
the switch models, not a Stripe behaviour), so a retried create makes a second intent.
paycore must stay safe there; :attr:`KeylessLedger.honours_idempotency_keys` set to False
lets tests and the harness check that it does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from paycore.ports import IntentView, RefundView

from .fake_ledger import FakeLedger
from .fake_limits import IDEMPOTENCY_KEY_MAX

V = TypeVar("V", IntentView, RefundView)


class KeylessLedger(FakeLedger):
    """The switch: True (Stripe, the default) or False (an emulator that ignores keys)."""

    #: False: no replay, no mismatch, no 409 ``idempotency_key_in_use``; each call runs.
    honours_idempotency_keys: bool = True

    def _mutate(
        self,
        endpoint: str,
        key: str,
        params: tuple[object, ...],
        validate: Callable[[], object],
        execute: Callable[[], V],
    ) -> V:
        # (no integer literal here: it would join Hypothesis's pool of constants)
        if not self.honours_idempotency_keys and key and len(key) <= IDEMPOTENCY_KEY_MAX:
            with self._lock:
                # a key never seen before and never seen again: the call is a first call
                key = f"ignored-key-{self._next('ignored-key')}"
        return super()._mutate(endpoint, key, params, validate, execute)
