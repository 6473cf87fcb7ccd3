"""S6: refunds are neither validated nor idempotent.

``refunds.begin_refund`` is replaced by the old ``createRefund``: look the payment up
and open a refund for whatever amount was asked (``refunds.open_refund``, paycore's
own), under a key of its own each call; and each provider call gets a fresh key
(``refunds.key``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from paycore.flows import payments, refunds
from paycore.records import Flow, Refund
from paycore.unit import Unit

from .catalog import seeded
from .support import patched


def _begin_refund(
    u: Unit, payment_id: str, amount: int | None, reason: str | None, key: str, **opts: Any
) -> Refund:
    """No check of the payment's status or of what is still refundable, and the
    caller's key deduplicates nothing."""
    payment = payments.load_payment(u, payment_id)
    want = payment.amount.amount if amount is None else amount
    fresh = f"{key}:call-{u.tx.next_seq('seeded-bug-s6')}"
    return refunds.open_refund(
        u, payment, amount=want, reason=reason, idempotency_key=fresh, **opts
    )


@seeded(
    "S6",
    "refunds are not validated or idempotent: any amount is accepted whatever the payment's "
    "status and earlier refunds, a repeated request (same idempotency key) refunds again, "
    "and a retried provider call uses a new key",
    "local-refunds-within-captured",
    "provider-refunds-within-captured",
)
@contextmanager
def _s6() -> Iterator[None]:
    attempt = itertools.count(1)

    def fresh_key(flow: Flow, step: str) -> str:
        return f"{flow.id}:{step}:attempt-{next(attempt)}"

    with patched(
        ("paycore.flows.refunds.begin_refund", _begin_refund),
        ("paycore.flows.refunds.key", fresh_key),
    ):
        yield
