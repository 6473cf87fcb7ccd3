"""S7: the stock release after a cancellation is a best-effort step of its own.

The cancel flow's ``_after_cancel`` runs with ``sync.release_held`` switched off, so
the payment and order are canceled with the stock still held; a ``release_stock``
step of the bug's own (the inventory service's call) releases it afterwards, and a
store failure while it does is logged and forgotten: the flow is finished anyway
(:func:`.support.store_failures_forgiven`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from paycore import schema as s
from paycore.errors import PaycoreError
from paycore.flows import payments, sync
from paycore.flows.engine import Advance, Engine, Remote, StepReport, step
from paycore.flows.steps import CancelStep
from paycore.machines import FLOW
from paycore.ports import IntentView
from paycore.records import Flow
from paycore.unit import Unit

from .catalog import seeded
from .support import BugStep, patched, steps_patched, still_current, store_failures_forgiven

_AFTER_CANCEL = payments._after_cancel
_EFFECT = "apply:release_inventory"


def _keep_held(u: Unit, order_id: str, trigger: str = "release") -> None:
    """The release is left to the follow-up step."""


def _after_cancel(u: Unit, flow: Flow, view: IntentView) -> Advance:
    with mock.patch("paycore.flows.sync.release_held", _keep_held):
        _AFTER_CANCEL(u, flow, view)
    return Advance(to=BugStep.RELEASE_STOCK)


def _release(u: Unit, flow: Flow, answer: None) -> Advance:
    """The inventory service's answer: release the stock; an error is logged and forgotten
    ("Don't throw - cancellation should succeed even if release fails")."""
    payment = payments._mine(u, flow)
    try:
        sync.release_held(u, payment.order_id, payments._release_as(flow))
    except PaycoreError as exc:
        return Advance(done={**payments._status(payment), "release_error": exc.code})
    return Advance(done=payments._status(payment))


def _release_step(flow: Flow) -> Remote[None]:
    """``inventoryService.releaseReservation``: a call of its own after the cancellation."""
    return Remote("release_inventory", lambda p: None, _release)


def _forget(engine: Engine, flow_id: str, effect: str, version: int, error: str) -> StepReport:
    """A store failure while releasing is logged and forgotten too: the flow is finished
    without the release, nothing is kept to retry it, nobody is alerted."""

    def finish(u: Unit) -> str:
        flow = still_current(u, flow_id, version)
        if flow is None:
            return "lease_lost"
        u.move(s.FLOWS, flow, FLOW, "finish", result={"release_error": error})
        return "succeeded"

    result = engine.transact(finish, flow_id)
    what = f"{result} (release failed: {error})"
    return StepReport(flow_id, "cancel", BugStep.RELEASE_STOCK, effect, what)


@seeded(
    "S7",
    "the stock release after a cancellation is a separate best-effort step whose failure is "
    "logged and forgotten: the payment and order are canceled while the stock stays held, "
    "for good when the release fails",
    "hold-tied-to-payment",
    "no-stale-hold",
)
@contextmanager
def _s7() -> Iterator[None]:
    with (
        patched(("paycore.flows.payments._after_cancel", _after_cancel)),
        steps_patched(
            payments.CANCEL,
            add={BugStep.RELEASE_STOCK: step(_release_step)},
            edges={CancelStep.CALL: [BugStep.RELEASE_STOCK]},
        ),
        store_failures_forgiven(lambda effect: effect == _EFFECT, _forget),
    ):
        yield
