"""F4 (review of the provider model): a step resumed after a day resends its old key.

It re-creates the engine that trusted a provider step's idempotency key at any age: a
step resumed a day or more after it began sent its request again under the same key,
counting on the provider to replay the first answer. Stripe keeps a key at least 24
hours and may prune it any time after; a key reused then runs as a new request
(docs.stripe.com/api/idempotent_requests). The fake forgets a key as soon as it is a
day old (:data:`paycore_adapters.fake_limits.IDEMPOTENCY_KEPT_MS`), so a create whose
answer was lost and whose flow resumes past the retention (the harness's
``clock_past_key_retention`` fault) makes a second intent for the same checkout. The
switch patches :meth:`paycore.flows.asking.Asking._key_may_be_forgotten` to say no.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paycore.flows.asking import Asking
from paycore.records import Flow

from .catalog import seeded
from .support import patched


def _never_forgotten(self: Asking, flow: Flow) -> bool:
    """A key is trusted at any age: the step sends again instead of asking first."""
    return False


@seeded(
    "F4",
    "a provider step resumed after the provider may have forgotten its key (Stripe keeps "
    "keys 24 hours) sends its request again under that key instead of asking first; the "
    "provider runs it as a new request and makes a second intent",
    "one-live-intent-per-session",
    "no-orphaned-intent",
)
@contextmanager
def _f4() -> Iterator[None]:
    with patched(("paycore.flows.asking.Asking._key_may_be_forgotten", _never_forgotten)):
        yield
