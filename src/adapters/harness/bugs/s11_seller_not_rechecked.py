"""S11: the seller's ability to charge is not checked again before the charge.

The checkout's ``check_seller`` step is replaced by one that goes straight to
``create``, and ``checkout._create_refused`` is wrapped so that a charge the provider
refuses fails the payment and throws, leaving the order's stock held.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paycore import schema as s
from paycore.errors import ProviderError, ProviderInvalidRequest
from paycore.flows import checkout
from paycore.flows.engine import Advance, Local
from paycore.flows.steps import CheckoutStep
from paycore.machines import PAYMENT
from paycore.records import Flow
from paycore.unit import Unit

from .catalog import seeded
from .support import patched, steps_patched

_CREATE_REFUSED = checkout._create_refused


def _check_seller(flow: Flow) -> Local:
    """The seller was checked once, locally, when the checkout began; nothing asks again
    before the charge."""
    return Local(lambda u, f: Advance(to=CheckoutStep.CREATE))


def _create_refused(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    """The provider refuses the charge (the account cannot charge): the error is thrown,
    but the stock held for the order stays held."""
    if isinstance(err, ProviderInvalidRequest):
        payment = checkout._payment(u, flow)
        u.move(s.PAYMENTS, payment, PAYMENT, "creation_failed", lock_owner=None)
        return Advance(failed=err)
    return _CREATE_REFUSED(u, flow, err)


@seeded(
    "S11",
    "the seller's ability to charge is checked once when the checkout begins and not again "
    "right before the provider call; when the provider then refuses, the error is thrown "
    "with the stock still held",
    "hold-tied-to-payment",
    "order-matches-payment",
    "no-stale-hold",
)
@contextmanager
def _s11() -> Iterator[None]:
    with (
        steps_patched(checkout.DEF, replace={CheckoutStep.CHECK_SELLER: _check_seller}),
        patched(("paycore.flows.checkout._create_refused", _create_refused)),
    ):
        yield
