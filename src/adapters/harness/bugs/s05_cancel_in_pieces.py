"""S5: cancel done in pieces.

The cancel flow's ``_after_cancel`` runs with ``sync._on_canceled`` switched off, so
recording the provider's cancellation cancels the payment alone; the stock release
and the order's cancellation follow in two steps of the bug's own, each its own
transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from paycore import schema as s
from paycore.errors import PaycoreError
from paycore.flows import payments, sync
from paycore.flows.engine import Advance, Local, StepSpec, step
from paycore.flows.steps import CancelStep
from paycore.machines import ORDER
from paycore.ports import IntentView
from paycore.records import Flow, Payment
from paycore.status import OrderStatus
from paycore.unit import Unit

from .catalog import seeded
from .support import BugStep, patched, steps_patched

_AFTER_CANCEL = payments._after_cancel


def _payment_only(u: Unit, payment: Payment, release_as: str) -> None:
    """``updatePaymentIntentStatus(canceled)`` touches nothing but the payment."""


def _after_cancel(u: Unit, flow: Flow, view: IntentView) -> Advance:
    with mock.patch("paycore.flows.sync._on_canceled", _payment_only):
        _AFTER_CANCEL(u, flow, view)
    return Advance(to=BugStep.RELEASE_STOCK)


def _release(u: Unit, flow: Flow) -> Advance:
    """Release the stock; "cancellation should succeed even if release fails"."""
    try:
        sync.release_held(u, payments._mine(u, flow).order_id, payments._release_as(flow))
    except PaycoreError as exc:
        return Advance(to=BugStep.CLOSE_ORDER, data={"release_error": exc.code})
    return Advance(to=BugStep.CLOSE_ORDER)


def _close(u: Unit, flow: Flow) -> Advance:
    """``updateOrderStatus(canceled)``, last and on its own."""
    payment = payments._mine(u, flow)
    order = sync.order_of(u, payment)
    if order.status is OrderStatus.PENDING:
        u.move(s.ORDERS, order, ORDER, "cancel")
        u.notify(order.id, "order_canceled")
    return Advance(done=payments._status(payment))


@seeded(
    "S5",
    "cancel is done in pieces: after the provider cancel, the payment status, the stock "
    "release and the order status are written in separate transactions, so in between (and "
    "for good if a piece fails) the payment is canceled while its stock is held and its "
    "order still pending",
    "hold-tied-to-payment",
    "no-stale-hold",
    "stock-kept-for-live-payment",
)
@contextmanager
def _s5() -> Iterator[None]:
    steps: dict[str, StepSpec] = {
        BugStep.RELEASE_STOCK: step(lambda flow: Local(_release), BugStep.CLOSE_ORDER),
        BugStep.CLOSE_ORDER: step(lambda flow: Local(_close)),
    }
    with (
        patched(("paycore.flows.payments._after_cancel", _after_cancel)),
        steps_patched(payments.CANCEL, add=steps, edges={CancelStep.CALL: [BugStep.RELEASE_STOCK]}),
    ):
        yield
