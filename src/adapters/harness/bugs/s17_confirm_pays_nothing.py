"""S17: confirm updates only the payment.

``sync._on_paid`` (what a success does to the order and its stock) is skipped when a
confirm flow records the success, so the order stays pending and its stock
uncommitted; the webhook's ``apply_intent`` is wrapped so that it is what pays the
order when it sees the success again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from paycore.flows import sync
from paycore.ports import IntentView
from paycore.records import Payment
from paycore.status import PaymentStatus
from paycore.unit import Unit

from .catalog import seeded
from .support import patched

_APPLY_INTENT = sync.apply_intent
_ON_PAID = sync._on_paid


def _on_paid(u: Unit, payment: Payment) -> None:
    """A success recorded by a confirm pays nothing: that is left to the webhook."""
    if not (u.flow_id or "").startswith("confirm:"):
        _ON_PAID(u, payment)


def _webhook_apply(u: Unit, payment: Payment, view: IntentView, **kw: Any) -> Payment:
    """The webhook is what pays the order (if the payment already succeeded)."""
    was = payment.status
    payment = _APPLY_INTENT(u, payment, view, **kw)
    if was is PaymentStatus.SUCCEEDED and view.status == "succeeded":
        _ON_PAID(u, payment)
    return payment


@seeded(
    "S17",
    "confirm updates only the payment: the order stays pending and its stock uncommitted "
    "until a webhook arrives",
    "order-matches-payment",
    "hold-tied-to-payment",
)
@contextmanager
def _s17() -> Iterator[None]:
    with patched(
        ("paycore.flows.sync._on_paid", _on_paid),
        ("paycore.flows.webhooks.apply_intent", _webhook_apply),
    ):
        yield
