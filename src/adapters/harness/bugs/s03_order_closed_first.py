"""S3: orders are closed while their intent can still be charged.

The checkout's rollback records the intent it finds and closes the order without
canceling it (``_after_abort_lookup`` goes straight to ``_close``), any failure of
the create rolls back (its ``ask`` goes to ``abort``), and a cancel closes the order
(``sync._on_canceled``) in the transaction that starts it, before the provider is
asked (``begin_cancel`` wrapped).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from paycore import schema as s
from paycore.flows import checkout, payments, sync
from paycore.flows.engine import Advance, Remote
from paycore.flows.steps import CheckoutStep
from paycore.ports import IntentView
from paycore.records import Flow
from paycore.unit import Unit

from .catalog import seeded
from .support import patched, steps_patched

_CREATE = checkout._create
_BEGIN_CANCEL = payments.begin_cancel


def _create(flow: Flow) -> Remote[IntentView]:
    """Any failure after the order exists rolls the checkout back (the old catch block),
    even an unanswered create that may well have made the intent."""
    return attrs.evolve(_CREATE(flow), ask=CheckoutStep.ABORT)


def _after_abort_lookup(u: Unit, flow: Flow, views: list[IntentView]) -> Advance:
    """The rollback records the intent it found (its client secret is out) and closes
    the order without canceling it: the intent stays chargeable."""
    payment = checkout._payment(u, flow)
    for view in checkout._mine(u, flow, views)[:1]:
        payment = sync.apply_intent(u, payment, view)
    return checkout._close(u, flow, u.save(s.PAYMENTS, payment, lock_owner=None))


def _begin_cancel(
    u: Unit, payment_id: str, owner: str | None, lease_until: int, reason: str = "requested"
) -> str | None:
    """The order is closed (stock freed, order canceled) when the cancel starts; the
    provider is asked only afterwards, and may refuse or never be reached."""
    flow_id = _BEGIN_CANCEL(u, payment_id, owner, lease_until, reason)
    if flow_id is not None:
        payment = payments.load_payment(u, payment_id)
        sync._on_canceled(u, payment, "expire" if reason == "expired" else "release")
    return flow_id


@seeded(
    "S3",
    "orders are closed while their intent can still be charged: the checkout's rollback "
    "closes the order (stock freed, order canceled) and leaves the intent it finds live, "
    "and a cancel (requested, or the janitor's for an expired checkout) closes the order "
    "before the provider cancel, which may then fail or be refused",
    "closed-order-not-chargeable",
    "order-matches-payment",
)
@contextmanager
def _s3() -> Iterator[None]:
    with (
        patched(
            ("paycore.flows.checkout._after_abort_lookup", _after_abort_lookup),
            ("paycore.flows.payments.begin_cancel", _begin_cancel),
            ("paycore.jobs.begin_cancel", _begin_cancel),
        ),
        steps_patched(checkout.DEF, replace={CheckoutStep.CREATE: _create}),
    ):
        yield
