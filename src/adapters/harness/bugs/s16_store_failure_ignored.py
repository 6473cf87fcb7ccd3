"""S16: a failed local write after a provider call is logged and ignored.

When the store fails to record a provider's answer, the flow is finished as a
success anyway ("Continue - webhook will handle this";
:func:`.support.store_failures_forgiven`), and the webhook's ``_after_intent`` is
wrapped to find its payment by the recorded intent id only, so an intent whose
record was lost is "not ours".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paycore import schema as s
from paycore.flows import webhooks
from paycore.flows.engine import Advance, Engine, StepReport
from paycore.machines import FLOW
from paycore.ports import IntentView
from paycore.records import Flow
from paycore.unit import Unit

from .catalog import seeded
from .support import patched, still_current, store_failures_forgiven

_AFTER_INTENT = webhooks._after_intent


def _finish(engine: Engine, flow_id: str, effect: str, version: int, error: str) -> StepReport:
    """The store failed to record a provider's answer: finish the flow as a success."""

    def finish(u: Unit) -> StepReport:
        flow = still_current(u, flow_id, version)
        if flow is None:
            return StepReport(flow_id, "?", "?", effect, "lease_lost")
        result = {k: v for k, v in flow.params.items() if k in ("order_id", "payment_id")}
        done = u.move(s.FLOWS, flow, FLOW, "finish", result={**result, "ignored_error": error})
        what = f"succeeded (store error ignored: {error})"
        return StepReport(flow_id, flow.kind, flow.step, effect, what, done)

    report: StepReport = engine.transact(finish, flow_id)
    return report


def _after_intent(u: Unit, flow: Flow, view: IntentView) -> Advance:
    """The webhook finds its payment by the recorded intent id only."""
    if not u.find(s.PAYMENTS, "provider_intent_id", view.id):
        return Advance(done={"matched": False})
    return _AFTER_INTENT(u, flow, view)


@seeded(
    "S16",
    "a failed local write after a provider call is logged and ignored: the flow is finished "
    "and reports success although what the provider said was never recorded",
    "success-is-durable",
    "no-stale-hold",
    "statuses-agree",
    "no-orphaned-intent",
)
@contextmanager
def _s16() -> Iterator[None]:
    with (
        store_failures_forgiven(lambda effect: effect.startswith("apply:"), _finish),
        patched(("paycore.flows.webhooks._after_intent", _after_intent)),
    ):
        yield
