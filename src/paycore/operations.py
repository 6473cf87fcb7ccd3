"""What an operator does with flows, and the list of what needs a human.

A flow ends dead-lettered only when it failed for real (its strikes ran out) or
when the provider stayed away past the retry horizon (see
:mod:`paycore.flows.retry`); either way an alert was raised. The operator can
then:

- **revive** it: it resumes at its recovery point with a fresh retry budget. The
  idempotency keys are the flow's own, and a step whose key the provider may have
  forgotten asks the provider first, so a revival never repeats an effect;
- **abandon** it: it runs its give-up compensation (a checkout cancels any intent
  it finds before releasing stock; a confirm or cancel frees the payment for the
  webhooks and the reconciler). A flow with no compensation (a refund, an orphan
  case) cannot be abandoned: dropping it would leave money in the wrong place, so
  it is revived once the cause is fixed.

The attention list is every open alert, plus any dead flow or waiting orphan case
that has none (an operator closing an alert never hides unfinished work).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from paycore import schema as s
from paycore.catalog import text
from paycore.errors import (
    AlertNotFound,
    FlowNotAbandonable,
    FlowNotFound,
    FlowNotRevivable,
    InvalidInput,
)
from paycore.flows import retry
from paycore.flows.engine import Engine, FlowDef
from paycore.machines import FLOW
from paycore.records import Alert, Flow
from paycore.status import FlowStatus
from paycore.unit import Unit, storable


@attrs.frozen
class AttentionItem:
    """One thing a human should look at.

    ``kind`` is the alert's kind (``flow_dead_lettered``, ``refund_failed``, ...), or
    ``flow_dead`` for a dead flow with no open alert; ``subject`` is what it is about
    (a flow id, an intent id, a refund id); ``alert_id`` is set when it is an alert,
    to resolve it with.
    """

    kind: str
    subject: str
    message: str
    since: int
    count: int = 1
    alert_id: str | None = None
    fields: Mapping[str, Any] = attrs.field(factory=dict)


def _flow(u: Unit, flow_id: object) -> Flow:
    if not isinstance(flow_id, str) or not flow_id:
        raise FlowNotFound(f"flow id must be a non-empty string, got {flow_id!r}")
    return u.require(
        s.FLOWS,
        flow_id,
        lambda: FlowNotFound(
            f"no flow {flow_id}: list them with `paycore flows list`", flow_id=flow_id
        ),
    )


def _state(state: object) -> FlowStatus | None:
    if state is None or isinstance(state, FlowStatus):
        return state
    try:
        if not isinstance(state, str):
            raise ValueError(state)
        return FlowStatus(state)
    except ValueError:
        names = ", ".join(f.value for f in FlowStatus)
        raise InvalidInput(f"flow state must be one of {names} or None, got {state!r}") from None


def list_flows(u: Unit, state: object = None) -> list[Flow]:
    """Flows in ``state`` (a FlowStatus or its value; None for all), oldest first."""
    wanted = _state(state)
    rows = list(u.tx.scan(s.FLOWS)) if wanted is None else u.find(s.FLOWS, "status", wanted)
    return sorted(rows, key=lambda f: (f.created_at, f.id))


def revive(u: Unit, flow_id: object, by: str) -> Flow:
    """Put a dead flow back to work at its recovery point, with a fresh retry budget."""
    flow = _flow(u, flow_id)
    if flow.status is not FlowStatus.DEAD:
        raise FlowNotRevivable(
            f"flow {flow.id} is {flow.status.value}; only a dead flow can be revived",
            flow_id=flow.id,
            status=flow.status.value,
        )
    return _restart(u, flow, flow.step, retry.fresh(dict(flow.data)), f"revived by {by}")


def abandon(u: Unit, defs: Mapping[str, FlowDef], flow_id: object, by: str) -> Flow:
    """Stop a dead or retrying flow's forward progress and run its compensation."""
    flow = _flow(u, flow_id)
    fdef = defs[flow.kind]
    if flow.status not in (FlowStatus.DEAD, FlowStatus.ACTIVE):
        raise FlowNotAbandonable(
            f"flow {flow.id} has already ended ({flow.status.value})",
            flow_id=flow.id,
            status=flow.status.value,
        )
    if fdef.give_up is None:
        raise FlowNotAbandonable(
            f"a {flow.kind} flow has no compensation: dropping it would leave money in the "
            "wrong place; fix the cause and revive it instead",
            flow_id=flow.id,
        )
    compensating = bool(flow.data.get("compensating"))
    if compensating and flow.status is FlowStatus.ACTIVE:
        raise FlowNotAbandonable(
            f"flow {flow.id} is already running its compensation", flow_id=flow.id
        )
    data = retry.fresh(dict(flow.data))
    step = flow.step if compensating else str(fdef.give_up)
    if not compensating:
        data.update(compensating=True, error="abandoned", step_at=u.now)
    return _restart(u, flow, step, data, f"abandoned by {by}")


def _restart(u: Unit, flow: Flow, step: str, data: dict[str, Any], why: str) -> Flow:
    changes: dict[str, Any] = {
        "step": step,
        "data": data,
        "attempts": 0,
        "next_run_at": u.now,
        "lease_owner": None,
        "lease_until": 0,
        "last_error": f"{why} (was: {flow.last_error})",
    }
    if flow.status is FlowStatus.DEAD:
        flow = u.move(s.FLOWS, flow, FLOW, "revive", **changes)
    else:
        flow = u.save(s.FLOWS, flow, **changes)
    u.resolve_alert("flow_dead_lettered", flow.id, why)
    u.resolve_alert("flow_stalled", flow.id, why)
    return flow


def died_of_outage(flow: Flow) -> bool:
    """Dead only because the provider stayed away past the retry horizon."""
    return flow.status is FlowStatus.DEAD and flow.data.get(retry.DEAD_OF) == "outage"


def attention(u: Unit) -> list[AttentionItem]:
    """Every open alert; every dead flow and every orphan case waiting for the bank
    that has no open alert of its own; oldest first."""
    alerts: list[Alert] = u.find(s.ALERTS, "open", True)
    items = [
        AttentionItem(a.kind, a.subject, a.message, a.raised_at, a.count, a.id, a.fields)
        for a in alerts
    ]
    flagged = {a.subject for a in alerts if a.kind == "flow_dead_lettered"}
    for flow in u.find(s.FLOWS, "status", FlowStatus.DEAD):
        if flow.id not in flagged:
            items.append(
                AttentionItem(
                    "flow_dead",
                    flow.id,
                    f"flow {flow.id} ({flow.kind}) is dead at step {flow.step}: {flow.last_error}",
                    flow.created_at,
                    fields={"flow_id": flow.id, "flow_kind": flow.kind},
                )
            )
    reported = {a.subject for a in alerts if a.kind == "orphan_intent"}
    for case in u.find(s.ORPHANS, "action", "waiting"):
        if case.provider_intent_id not in reported:
            items.append(
                AttentionItem(
                    "orphan_waiting",
                    case.provider_intent_id,
                    f"provider intent {case.provider_intent_id} ({case.provider_status}) has "
                    "no local payment; it is handled once the bank has settled it",
                    case.found_at,
                    fields={"intent_id": case.provider_intent_id},
                )
            )
    return sorted(items, key=lambda i: (i.since, i.kind, i.subject))


def resolve_alert(u: Unit, alert_id: object, resolution: object) -> Alert:
    """Close an open alert (``<kind>:<subject>``), saying what was done about it."""
    if not isinstance(resolution, str) or not resolution.strip():
        raise InvalidInput("say what was done about the alert: resolution must be text")
    text("resolution", resolution)  # text every store can hold
    # An id no store can hold names no alert, on any store.
    row = u.get(s.ALERTS, alert_id) if isinstance(alert_id, str) and storable(alert_id) else None
    if row is None or not row.open:
        raise AlertNotFound(
            f"no open alert {alert_id!r}: list them with `paycore attention`",
            alert_id=alert_id if isinstance(alert_id, str) else None,
        )
    u.resolve_alert(row.kind, row.subject, resolution)
    resolved = u.get(s.ALERTS, row.id)
    assert resolved is not None
    return resolved


class Operator:
    """The operator's actions over one engine, each in one transaction.

    Example::

        op = Operator(engine)
        for item in op.attention():
            print(item.kind, item.subject, item.message)
        op.revive("refund:rf_000001")
    """

    def __init__(self, engine: Engine, who: str = "operator") -> None:
        self.engine = engine
        self.who = who

    def flows(self, state: object = None) -> list[Flow]:
        """Raises: InvalidInput for an unknown state."""
        return self.engine.transact(lambda u: list_flows(u, state))

    def flow(self, flow_id: object) -> Flow:
        """Raises: FlowNotFound."""
        return self.engine.transact(lambda u: _flow(u, flow_id))

    def revive(self, flow_id: object) -> Flow:
        """Raises: FlowNotFound, FlowNotRevivable (nothing changed)."""
        return self.engine.transact(lambda u: revive(u, flow_id, self.who))

    def abandon(self, flow_id: object) -> Flow:
        """Raises: FlowNotFound, FlowNotAbandonable (nothing changed)."""
        return self.engine.transact(lambda u: abandon(u, self.engine.defs, flow_id, self.who))

    def attention(self) -> list[AttentionItem]:
        return self.engine.transact(attention)

    def resolve_alert(self, alert_id: object, resolution: object) -> Alert:
        """Raises: AlertNotFound, InvalidInput (nothing changed)."""
        return self.engine.transact(lambda u: resolve_alert(u, alert_id, resolution))
