"""H5 (review of the harness's blind spots): a Connect shop's charge names no destination.

The checkout's create request names the account the intent's money goes to, the seller's
(``transfer_data.destination`` at Stripe: docs.stripe.com/connect/destination-charges).
Here it names none: the customer pays, the provider takes the charge, and the money stays
on the platform's account; no seller is paid. Stripe shows such an intent with
``transfer_data`` null (docs.stripe.com/api/payment_intents/object), as it shows every
charge of a shop without Connect, so only ``charge-pays-the-seller``, told by the ledger
that this shop charges through Connect (``Ledger.connect``), sees it.
Re-created by replacing the request's constructor where checkout looks it up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from paycore.ports import CreateIntent

from .catalog import seeded
from .support import patched


def _without_destination(*args: Any, **kwargs: Any) -> CreateIntent:
    return attrs.evolve(CreateIntent(*args, **kwargs), account="")


@seeded(
    "H5",
    "a Connect shop's charge names no destination: the customer pays, and the platform "
    "keeps the money instead of the seller",
    "charge-pays-the-seller",
)
@contextmanager
def _h5() -> Iterator[None]:
    with patched(("paycore.flows.checkout.CreateIntent", _without_destination)):
        yield
