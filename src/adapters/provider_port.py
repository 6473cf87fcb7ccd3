"""What crosses the port from a provider adapter: the one conversion every answer and
every error of the fake provider goes through on its way to paycore.

Stripe's error for a declined confirmation carries the PaymentIntent as the decline left
it (``e.error.payment_intent``; stripe-python 16.1.0, ``stripe/_error_object.py``,
``ErrorObject.payment_intent``), and that intent holds its ``client_secret``. The secret
belongs to the customer's browser: it must never reach paycore's errors, logs or
records. paycore's core does not know about it; the adapter drops it here. An adapter
over Stripe calls :func:`to_port` on each error it converts, as the fake does.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

from paycore.errors import ProviderError

E = TypeVar("E", bound=ProviderError)


def without_secret(value: Any) -> Any:
    """``value`` without a client secret: an attrs view that holds one is copied without
    it; anything else is returned as it is."""
    if attrs.has(type(value)) and getattr(value, "client_secret", None) is not None:
        return attrs.evolve(value, client_secret=None)
    return value


def to_port(err: E) -> E:
    """A new error of ``err``'s class and message whose fields hold no client secret
    (a new instance each time, so replays do not share one traceback)."""
    fields = {k: without_secret(v) for k, v in err.fields.items()}
    return type(err)(err.message, **fields)


def secret_in(err: ProviderError) -> str | None:
    """The name of the field of ``err`` that holds a client secret, if any (what the
    harness checks at its end of the port)."""
    for name, value in err.fields.items():
        if getattr(value, "client_secret", None) is not None:
            return name
    return None
