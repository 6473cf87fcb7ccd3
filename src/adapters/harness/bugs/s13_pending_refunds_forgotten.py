"""S13: partial refunds checked against succeeded refunds only.

``refunds.refundable`` forgets the refunds still pending, so two refunds in flight
can together exceed what was captured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paycore import schema as s
from paycore.records import Payment
from paycore.status import RefundStatus
from paycore.unit import Unit

from .catalog import seeded
from .support import patched


def _refundable(u: Unit, payment: Payment) -> int:
    """Captured minus the refunds that succeeded: pending ones do not count."""
    refunds = u.find(s.REFUNDS, "payment_id", payment.id)
    taken = sum(r.amount.amount for r in refunds if r.status is RefundStatus.SUCCEEDED)
    return int(payment.amount_received - taken)


@seeded(
    "S13",
    "partial refunds checked against succeeded refunds only: pending ones are forgotten, so "
    "two refunds in flight can together exceed the captured amount",
    "local-refunds-within-captured",
    "provider-refunds-within-captured",
)
@contextmanager
def _s13() -> Iterator[None]:
    with patched(("paycore.flows.refunds.refundable", _refundable)):
        yield
