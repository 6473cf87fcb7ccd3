"""Orphan handling: a provider intent that no local payment owns is canceled or refunded.

Started by the reconciler (T3). The flow looks at the intent's current
status, cancels it while it is cancelable, and once it succeeded refunds what is
still captured (anyone may have refunded part of it already). While it is
processing (a bank debit can take days) the flow ends with the case 'waiting';
the reconciler starts a new flow for the case once the provider settled it.
Every action is recorded on the intent's :class:`paycore.records.OrphanCase`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from paycore import claims, listing
from paycore import schema as s
from paycore.errors import ProviderIdempotencyMismatch
from paycore.flows.engine import Advance, FlowDef, Remote, create_flow, key, step
from paycore.flows.identity import identity
from paycore.flows.jobflow import BatchJob
from paycore.flows.params import OrphanParams, params_of
from paycore.flows.steps import OrphanStep as Step
from paycore.flows.steps import ReopenStep
from paycore.flows.sync import CANCELABLE
from paycore.ports import REFUND_LIVE, REFUND_UNSETTLED, IntentView, PaymentProvider, RefundView
from paycore.records import Flow
from paycore.unit import Unit


@attrs.frozen
class IntentState:
    """An intent and its refunds, as far as an orphan case needs them."""

    view: IntentView
    refunded: int = 0  # refunded or being refunded
    unsettled: bool = False  # a refund the bank may still fail
    returned: int = 0  # refunds that failed or were canceled: money back at the shop

    @property
    def settled(self) -> bool:
        """Nothing left for the bank to decide: the case can be acted on, or closed."""
        return self.view.status != "processing" and not self.unsettled


def _prm(flow: Flow) -> OrphanParams:
    return params_of(OrphanParams, flow)


def intent_state(p: PaymentProvider, intent_id: str) -> IntentState:
    view = p.retrieve_intent(intent_id)
    if view.status != "succeeded":
        return IntentState(view)
    refunds = listing.all_refunds(p, intent_id)
    return IntentState(
        view,
        refunded=sum(r.amount for r in refunds if r.status in REFUND_LIVE),
        unsettled=any(r.status in REFUND_UNSETTLED for r in refunds),
        returned=sum(1 for r in refunds if r.status not in REFUND_LIVE),
    )


def _note(u: Unit, flow: Flow, action: str, status: str) -> None:
    case = u.get(s.ORPHANS, _prm(flow).intent_id)
    if case is not None and (case.action, case.provider_status) != (action, status):
        u.save(s.ORPHANS, case, action=action, provider_status=status)


def _look(flow: Flow) -> Remote[IntentState]:
    iid = _prm(flow).intent_id
    return Remote("retrieve_intent", lambda p: intent_state(p, iid), _after_look)


def _after_look(u: Unit, flow: Flow, state: IntentState) -> Advance:
    view = state.view
    if view.status in CANCELABLE:
        return Advance(to=Step.CANCEL)
    rest = view.amount_received - state.refunded
    if view.status == "succeeded" and rest > 0:
        # A refund that failed is another request: a new key, not the old one's replay.
        return Advance(to=Step.REFUND, data={"amount": rest, "returned": state.returned})
    if not state.settled:
        # Not a failure to retry: the bank decides (a debit, a refund), maybe days later.
        # The reconciler starts a new flow for this case once it has decided.
        _note(u, flow, "waiting", view.status)
        return Advance(done={"intent_id": view.id, "status": view.status})
    _note(u, flow, "refunded" if view.status == "succeeded" else "canceled", view.status)
    return Advance(done={"intent_id": view.id, "status": view.status})


def _cancel(flow: Flow) -> Remote[IntentView]:
    iid = _prm(flow).intent_id
    k = key(flow, "cancel")
    return Remote(
        "cancel_intent",
        lambda p: p.cancel_intent(iid, idempotency_key=k),
        _look_again,
        ask=Step.LOOK,
        refused=_look_again,
    )


def _refund(flow: Flow) -> Remote[RefundView]:
    iid, amount = _prm(flow).intent_id, flow.data["amount"]
    meta = {"orphan": iid, **identity(_prm(flow).installation, None)}
    # another amount left, or a refund of it that failed since, is another request
    k = key(flow, f"refund-{amount}-{flow.data.get('returned', 0)}")
    return Remote(
        "create_refund",
        lambda p: p.create_refund(
            iid, amount=amount, reason="duplicate", metadata=meta, idempotency_key=k
        ),
        _look_again,
        ask=Step.LOOK,
        refused=_look_again,
    )


def _look_again(u: Unit, flow: Flow, answer: object) -> Advance:
    # Done, refused (the intent moved on) or unanswered: look again before acting again.
    if isinstance(answer, ProviderIdempotencyMismatch):
        # The key answers for another request: this one never ran under it, and would
        # meet it again. The next key generation, as a retry (one that persists ends in
        # the flow's give-up); the provider caps refunds at what was received.
        gen = flow.data.get("keygen", 0) + 1
        return Advance(to=Step.LOOK, retry=answer.code, data={"keygen": gen})
    return Advance(to=Step.LOOK)


DEF = FlowDef(
    "orphan",
    {
        Step.LOOK: step(_look, Step.CANCEL, Step.REFUND),
        Step.CANCEL: step(_cancel, Step.LOOK),
        Step.REFUND: step(_refund, Step.LOOK),
    },
)


# --- the reconciler's reopening of waiting cases ----------------------------------------


def waiting_batch(u: Unit, limit: int) -> list[str]:
    """Cases waiting for the bank, a batch going on after the last run's."""
    cases = claims.take(u, "waiting_orphans", s.ORPHANS, "action", "waiting", limit)
    return [c.provider_intent_id for c in cases]


def _still_waiting(u: Unit, intent_id: str) -> Mapping[str, Any] | None:
    case = u.get(s.ORPHANS, intent_id)
    return {} if case is not None and case.action == "waiting" else None


def _state_of(p: PaymentProvider, item: Mapping[str, Any]) -> IntentState:
    return intent_state(p, item["key"])


def _reopen(u: Unit, flow: Flow, item: Mapping[str, Any], state: IntentState) -> list[str]:
    """Once the bank decided (however long after, past the reconcile window too), a new
    orphan flow handles the case, leased as this job (``reconcile`` runs it next)."""
    case = u.get(s.ORPHANS, item["key"])
    if not state.settled or case is None or case.action != "waiting":
        return []  # still undecided, or another run reopened it
    case = u.save(s.ORPHANS, case, action="pending")
    fid = f"orphan:{case.provider_intent_id}:{case.version}"
    params = OrphanParams(case.provider_intent_id)
    create_flow(
        u, fid, "orphan", Step.LOOK, params, owner=flow.lease_owner, lease_until=flow.lease_until
    )
    return [fid]


#: Orphans waiting for the bank (a debit still processing, a refund not settled) when
#: last looked at: asked about again, and reopened once settled.
REOPEN: BatchJob[IntentState] = BatchJob(
    "reopen_orphans",
    ReopenStep.ASK,
    "retrieve_intent",
    _state_of,
    _reopen,
    _still_waiting,
)
