"""handle_webhook: an inbox keyed by event id, then the provider's current truth.

Deliveries are at least once and in any order. The first transaction records
the event id in the inbox (a duplicate is a no-op). The flow then fetches the
object's *current* state from the provider instead of trusting the event's
payload, so a late or reordered event can only ever apply the newest status;
:func:`paycore.flows.sync.apply_intent` never moves a terminal status.
"""

from __future__ import annotations

from paycore import schema as s
from paycore.errors import InvalidInput
from paycore.flows.engine import Advance, FlowDef, Outcome, Remote, create_flow
from paycore.flows.identity import intent_is_payments, refund_is_refunds
from paycore.flows.sync import apply_intent, apply_refund, claimed, order_of
from paycore.ports import ProviderEvent, RefundView
from paycore.records import Flow, InboxEntry, Refund
from paycore.unit import Unit

KINDS = frozenset({"payment_intent", "refund"})


def begin_webhook(u: Unit, event: ProviderEvent, owner: str, lease_until: int) -> str | None:
    """Take the event into the inbox. None for a duplicate delivery."""
    if not isinstance(event, ProviderEvent) or not event.id:
        raise InvalidInput(
            f"handle_webhook takes a verified ProviderEvent with an id, got "
            f"{type(event).__name__}: verify the signature and convert the event first"
        )
    if event.object_kind not in KINDS:
        raise InvalidInput(
            f"event {event.id} has object_kind {event.object_kind!r}; paycore takes only "
            f"{' and '.join(sorted(KINDS))} events: do not forward the others",
            event_id=event.id,
        )
    if u.get(s.INBOX, event.id) is not None:
        return None
    flow_id = f"webhook:{event.id}"
    u.tx.insert(
        s.INBOX,
        InboxEntry(event.id, event.type, event.object_id, u.now, flow_id),
    )
    owner_rows = u.find(s.PAYMENTS, "provider_intent_id", event.object_id)
    create_flow(
        u,
        flow_id,
        "webhook",
        "fetch",
        seen_version=owner_rows[0].version if owner_rows else None,
        owner=owner,
        lease_until=lease_until,
        event_id=event.id,
        object_kind=event.object_kind,
        object_id=event.object_id,
    )
    return flow_id


def _fetch(flow: Flow) -> Remote:
    oid = flow.params["object_id"]
    if flow.params["object_kind"] == "refund":
        return Remote("retrieve_refund", lambda p: p.retrieve_refund(oid), _after_refund)
    return Remote("retrieve_intent", lambda p: p.retrieve_intent(oid), _after_intent)


def _after_intent(u: Unit, flow: Flow, out: Outcome) -> Advance:
    if out.error is not None:
        return Advance(retry=out.error.code)
    matches = u.find(s.PAYMENTS, "provider_intent_id", out.value.id)
    if not matches:
        pid = out.value.metadata.get("payment_id")
        payment = u.get(s.PAYMENTS, pid) if pid else None
        if (
            payment is None
            or payment.provider_intent_id is not None
            or claimed(u, payment)
            or not intent_is_payments(
                out.value, payment, order_of(u, payment), flow.params.get("installation")
            )
        ):
            # Not ours (ids repeat across stores and restores), a duplicate intent, or
            # one its checkout flow is still deciding about (it adopts or cancels it):
            # the reconciler deals with orphans.
            return Advance(done={"matched": False})
        matches = [payment]
    seen = flow.data.get("seen_version", flow.params.get("seen_version"))
    if seen is not None and matches[0].version != seen:
        # The payment changed while we asked the provider: our view may be older than
        # what was recorded meanwhile. Ask again rather than move it backwards.
        n = flow.data.get("refetches", 0) + 1
        data = {"seen_version": matches[0].version, "refetches": n}
        return Advance(to="fetch", data=data, retry="payment changed" if n > 3 else None)
    payment = apply_intent(u, matches[0], out.value)
    return Advance(done={"matched": True, "status": payment.status.value})


def _after_refund(u: Unit, flow: Flow, out: Outcome) -> Advance:
    if out.error is not None:
        return Advance(retry=out.error.code)
    view = out.value
    found = u.find(s.REFUNDS, "provider_refund_id", view.id)
    refund = found[0] if found else _named_refund(u, flow, view)
    if refund is None:
        return Advance(done={"matched": False})
    refund = apply_refund(u, refund, view)
    return Advance(done={"matched": True, "status": refund.status.value})


def _named_refund(u: Unit, flow: Flow, view: RefundView) -> Refund | None:
    """The refund the provider refund's metadata names, if it is that refund's for sure."""
    refund = u.get(s.REFUNDS, view.metadata.get("refund_id", ""))
    if refund is None or refund.provider_refund_id is not None:
        return None
    payment = u.get(s.PAYMENTS, refund.payment_id)
    installation = flow.params.get("installation")
    if payment is None or not refund_is_refunds(view, refund, payment, installation):
        return None
    return refund


DEF = FlowDef("webhook", {"fetch": _fetch})
