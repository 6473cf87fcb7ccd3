"""Orphan handling: a provider intent that no local payment owns is canceled or refunded.

Started by the reconciler (T3). The flow looks at the intent's current
status, cancels it while it is cancelable, refunds what it captured once it
succeeded, and waits while it is processing. Every action is recorded on the
intent's :class:`paycore.records.OrphanCase`.
"""

from __future__ import annotations

from paycore import schema as s
from paycore.flows.engine import Advance, FlowDef, Outcome, Remote, key
from paycore.flows.sync import CANCELABLE
from paycore.records import Flow
from paycore.unit import Unit


def _note(u: Unit, flow: Flow, action: str, status: str) -> None:
    case = u.get(s.ORPHANS, flow.params["intent_id"])
    if case is not None and (case.action, case.provider_status) != (action, status):
        u.save(s.ORPHANS, case, action=action, provider_status=status)


def _look(flow: Flow) -> Remote:
    iid = flow.params["intent_id"]
    return Remote("retrieve_intent", lambda p: p.retrieve_intent(iid), _after_look)


def _after_look(u: Unit, flow: Flow, out: Outcome) -> Advance:
    if out.error is not None:
        return Advance(retry=out.error.code)
    view = out.value
    if view.status in CANCELABLE:
        return Advance(to="cancel")
    if view.status == "succeeded" and not flow.data.get("refunded"):
        return Advance(to="refund", data={"amount": view.amount_received})
    if view.status == "processing":
        _note(u, flow, "waiting", view.status)
        return Advance(retry="orphan intent is processing")
    _note(u, flow, "refunded" if flow.data.get("refunded") else "canceled", view.status)
    return Advance(done={"intent_id": view.id, "status": view.status})


def _cancel(flow: Flow) -> Remote:
    iid = flow.params["intent_id"]
    k = key(flow, "cancel")
    return Remote("cancel_intent", lambda p: p.cancel_intent(iid, idempotency_key=k), _after_act)


def _refund(flow: Flow) -> Remote:
    iid, amount = flow.params["intent_id"], flow.data["amount"]
    k = key(flow, "refund")
    return Remote(
        "create_refund",
        lambda p: p.create_refund(
            iid, amount=amount, reason="duplicate", metadata={"orphan": iid}, idempotency_key=k
        ),
        _after_act,
    )


def _after_act(u: Unit, flow: Flow, out: Outcome) -> Advance:
    err = out.error
    if err is not None and err.retryable and err.outcome == "definite":
        return Advance(retry=err.code)
    refunded = flow.step == "refund" and (err is None or err.outcome == "definite")
    # Done, refused (the intent moved on) or ambiguous: look again before acting again.
    return Advance(to="look", data={"refunded": refunded or flow.data.get("refunded", False)})


DEF = FlowDef("orphan", {"look": _look, "cancel": _cancel, "refund": _refund})
