"""H4 (review of the harness's blind spots): a seller's charge pays another seller.

The checkout's create request names the account the intent's money goes to, the seller's
(``transfer_data.destination`` at Stripe: docs.stripe.com/connect/destination-charges).
Here it names another seller's: the marketplace's second seller (``acct_2``, the
``marketplace`` dimension) is charged for, and the first seller (``acct_1``) is paid.
The customer pays the right amount, every local record is right and the provider takes
the charge, so only ``charge-pays-the-seller``, which compares the account the provider's
intent names with the payment's seller's, sees it. Only that way round: ``acct_1`` is at
the provider in every example, ``acct_2`` only where the second seller is, and a charge
to an account the provider does not have is refused (not found), not made.
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

#: The account each seller's charges are sent to instead of its own.
OTHER_SELLER = {"acct_2": "acct_1"}


def _to_other_seller(*args: Any, **kwargs: Any) -> CreateIntent:
    req = CreateIntent(*args, **kwargs)
    return attrs.evolve(req, account=OTHER_SELLER.get(req.account, req.account))


@seeded(
    "H4",
    "a seller's charge pays another seller's account: the second seller's customers pay, "
    "and the first seller is paid",
    "charge-pays-the-seller",
)
@contextmanager
def _h4() -> Iterator[None]:
    with patched(("paycore.flows.checkout.CreateIntent", _to_other_seller)):
        yield
