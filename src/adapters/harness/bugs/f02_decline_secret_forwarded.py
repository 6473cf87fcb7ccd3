"""F2 (review of the provider model): a decline's client secret crosses the port.

Stripe's error for a declined confirmation carries the PaymentIntent as the decline left
it, ``client_secret`` included (``e.error.payment_intent``; stripe-python 16.1.0,
``stripe/_error_object.py``). The adapter must drop the secret before the error reaches
paycore (:func:`paycore_adapters.provider_port.to_port`): paycore's errors, flow results
and logs must never hold it. Before the review, paycore's own error class dropped it,
and the fake built its decline error without the secret, so an adapter that forwarded
Stripe's error as it came would have gone unnoticed. This switch re-creates that
adapter: its conversion keeps every field as the provider gave it. The fake now builds
the error as Stripe does, so the harness's end of the port sees the secret
(``no-secret-across-port``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from paycore.errors import ProviderError

from ... import provider_port
from .catalog import seeded

E = TypeVar("E", bound=ProviderError)


def _forwarded(err: E) -> E:
    """The provider's error as it came: a new instance, its fields untouched."""
    return type(err)(err.message, **err.fields)


@seeded(
    "F2",
    "the adapter forwards the provider's decline error as it came: the intent inside it "
    "still holds its client secret, which crosses the port into paycore",
    "no-secret-across-port",
)
@contextmanager
def _f2() -> Iterator[None]:
    kept = provider_port.to_port
    provider_port.to_port = _forwarded
    try:
        yield
    finally:
        provider_port.to_port = kept
