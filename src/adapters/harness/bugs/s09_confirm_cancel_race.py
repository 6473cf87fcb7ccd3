"""S9: confirm and cancel race, each writing its own answer over the other's.

``payments._claim`` takes no lock; ``payments._settle`` is wrapped so that a
provider answer overwrites a terminal status the other call recorded meanwhile; and
``payments._confirm_refused`` records a refused confirm as failed, whatever the
payment is by then (the old ``confirmPayment``: "Update DB to 'failed'").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paycore import schema as s
from paycore.errors import ProviderError, ProviderInvalidRequest
from paycore.flows import payments, sync
from paycore.flows.engine import Advance
from paycore.machines import PAYMENT
from paycore.ports import IntentView
from paycore.records import Flow, Payment
from paycore.status import PaymentStatus
from paycore.unit import Unit

from .catalog import seeded
from .support import patched

_SETTLE = payments._settle
_CONFIRM_REFUSED = payments._confirm_refused


def _claim(u: Unit, payment: Payment, flow_id: str, **changes: object) -> Payment:
    """No lock: confirm and cancel read the payment and go ahead side by side."""
    return u.save(s.PAYMENTS, payment, **changes)


def _unlocked(payment: Payment, flow: Flow) -> dict[str, None]:
    return {"lock_owner": None} if payment.lock_owner == flow.id else {}


def _settle(u: Unit, flow: Flow, view: IntentView | None, release_as: str = "release") -> Payment:
    """``updatePaymentIntentStatus(id, result.status)``: each call writes the status its own
    provider answer gave, over whatever the other call recorded meanwhile."""
    payment = payments._mine(u, flow)
    if view is None or payment.status not in PAYMENT.terminal:
        return _SETTLE(u, flow, view, release_as)
    target = sync.LOCAL_STATUS[view.status]
    if target is payment.status:
        return _SETTLE(u, flow, view, release_as)
    changes = {"provider_status": view.status, "last_error": view.last_error_code}
    return u.save(s.PAYMENTS, payment, status=target, **changes, **_unlocked(payment, flow))


def _confirm_refused(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    """A confirm refused because the intent moved on (canceled, or paid by another
    confirm) is recorded as failed over whatever was recorded meanwhile."""
    if isinstance(err, ProviderInvalidRequest) and not err.fields.get("param"):
        payment = payments._mine(u, flow)
        failed = {"status": PaymentStatus.FAILED, "last_error": err.code}
        payment = u.save(s.PAYMENTS, payment, **failed, **_unlocked(payment, flow))
        return Advance(done=payments._status(payment, declined=err.message))
    return _CONFIRM_REFUSED(u, flow, err)


@seeded(
    "S9",
    "confirm and cancel take no claim on the payment and each writes the status its own "
    "provider answer gave (a refused confirm writes 'failed'), over whatever the other one "
    "recorded meanwhile: a canceled or paid payment becomes open, failed or pending again "
    "under its closed or paid order, its stock held",
    "audit-replays",
    "order-matches-payment",
    "hold-tied-to-payment",
)
@contextmanager
def _s9() -> Iterator[None]:
    with patched(
        ("paycore.flows.payments._claim", _claim),
        ("paycore.flows.payments._settle", _settle),
        ("paycore.flows.payments._confirm_refused", _confirm_refused),
    ):
        yield
