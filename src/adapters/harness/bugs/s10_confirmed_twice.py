"""S10: webhook and client both confirm, and each runs the success's effects.

Three bends: ``payments._confirmed`` says no (the client may confirm a payment that
already succeeded), a duplicate webhook delivery is taken in again under an event id
of its own (``webhooks.begin_webhook`` wrapped), and ``apply_intent`` is wrapped so
that a success seen again commits the stock and emails the customer again (the old
``commitReservationsBySession`` never asked whether it had run).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from paycore import schema as s
from paycore.flows import sync, webhooks
from paycore.ports import IntentView, ProviderEvent
from paycore.records import OutboxMessage, Payment
from paycore.status import PaymentStatus, ReservationStatus
from paycore.unit import Unit

from .catalog import seeded
from .support import force_stock, patched

_APPLY_INTENT = sync.apply_intent
_BEGIN_WEBHOOK = webhooks.begin_webhook


def _paid_again(u: Unit, payment: Payment) -> None:
    """Commit the order's committed stock once more and queue a second email."""
    order = sync.order_of(u, payment)
    for r in sync.reservations_of(u, order.id):
        if r.status is ReservationStatus.COMMITTED:
            force_stock(u, r.seller_id, r.sku, committed=r.quantity)
    n = u.tx.next_seq("seeded-bug-outbox")
    amount = {"amount": payment.amount.amount}
    email = OutboxMessage(f"{order.id}:order_paid:again-{n}", order.id, "order_paid", u.now, amount)
    u.queued.append(email)
    u.tx.insert(s.OUTBOX, email)


def _apply_intent(u: Unit, payment: Payment, view: IntentView, **kw: Any) -> Payment:
    """Record the provider's view; a success seen again runs its effects again."""
    already = payment.status is PaymentStatus.SUCCEEDED
    payment = _APPLY_INTENT(u, payment, view, **kw)
    if already and view.status == "succeeded":
        _paid_again(u, payment)
    return payment


def _begin_webhook(u: Unit, event: ProviderEvent, owner: str, lease_until: int) -> str | None:
    """No inbox check: a duplicate delivery is processed again."""
    if u.get(s.INBOX, event.id) is not None:
        again = f"{event.id}:again-{u.tx.next_seq('seeded-bug-webhook')}"
        event = attrs.evolve(event, id=again)
    return _BEGIN_WEBHOOK(u, event, owner, lease_until)


def _not_confirmed(payment: Payment) -> bool:
    return False


@seeded(
    "S10",
    "webhook and client both confirm: the inbox does not deduplicate events, confirm does not "
    "check that the payment already succeeded, and whoever sees the success commits the stock "
    "and emails the customer again",
    "effects-once",
    "stock-conserved",
)
@contextmanager
def _s10() -> Iterator[None]:
    with patched(
        ("paycore.flows.webhooks.apply_intent", _apply_intent),
        ("paycore.flows.payments.apply_intent", _apply_intent),
        ("paycore.flows.payments._confirmed", _not_confirmed),
        ("paycore.flows.webhooks.begin_webhook", _begin_webhook),
    ):
        yield
