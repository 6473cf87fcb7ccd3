"""H1 (review of the harness's blind spots): the refund that returns the rest is taken
as one more part.

``refunds._on_refunded`` compares what was refunded with what was received; with
``<=`` for ``<`` the refund that makes the two equal moves the order to
``partially_refunded``, not ``refunded``: the shop is never told the order is refunded,
and the goods a ``restock=True`` refund brought back stay committed, off sale. Re-created
by handing the step a payment that received one unit more when the refunds reach what
it received. No invariant read ``amount_refunded`` or the order's status after a full
refund before ``refund-books-kept``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from paycore.flows import refunds
from paycore.records import Payment, Refund
from paycore.unit import Unit

from .catalog import seeded
from .support import patched

_ON_REFUNDED = refunds._on_refunded


def _on_refunded(u: Unit, payment: Payment, refund: Refund) -> None:
    if payment.amount_refunded == payment.amount_received:  # the last part: taken as one more
        payment = attrs.evolve(payment, amount_received=payment.amount_received + 1)
    _ON_REFUNDED(u, payment, refund)


@seeded(
    "H1",
    "the refund that returns the rest of a payment leaves its order partially refunded: "
    "the shop is not told the order is refunded and goods a restock refund brought back "
    "stay committed",
    "refund-books-kept",
)
@contextmanager
def _h1() -> Iterator[None]:
    with patched(("paycore.flows.refunds._on_refunded", _on_refunded)):
        yield
