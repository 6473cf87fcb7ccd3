"""handle_webhook: an inbox keyed by event id, then the provider's current truth.

Deliveries are at least once and in any order. The first transaction records
the event id in the inbox (a duplicate is a no-op). The flow then fetches the
object's *current* state from the provider instead of trusting the event's
payload, so a late or reordered event can only ever apply the newest status;
:func:`paycore.flows.sync.apply_intent` never moves a terminal status. That is
also why an event about the intent of a payment that is already final (the
``succeeded`` event that follows the customer's own confirmation, the usual case)
is taken in that first transaction with no flow: nothing the provider could say
would change the payment, so there is nothing to ask.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from paycore import schema as s
from paycore.catalog import ident
from paycore.errors import InvalidInput, ProviderError, ProviderNotFound
from paycore.flows import disputes
from paycore.flows.engine import (
    Advance,
    Effect,
    FlowDef,
    Remote,
    create_flow,
    retry_on,
    step,
)
from paycore.flows.external import known, payment_of, record_external_refund
from paycore.flows.identity import intent_is_payments, is_ours, known_installation
from paycore.flows.params import WebhookParams, params_of
from paycore.flows.refunds import apply_refund
from paycore.flows.steps import WebhookStep
from paycore.flows.sync import apply_intent, claimed, order_of
from paycore.machines import PAYMENT
from paycore.outcomes import WebhookOutcome
from paycore.ports import IntentView, ProviderEvent, RefundView
from paycore.records import Flow, InboxEntry, Payment
from paycore.status import PaymentStatus
from paycore.unit import Unit

KINDS = frozenset({"payment_intent", "refund", "dispute"})

#: The event types paycore acts on, for an endpoint's subscription
#: (docs.stripe.com/api/events/types). Each names an intent or a refund, and the flow asks
#: the provider for that object's current state. ``charge.refund.updated`` is about a
#: refund too. The ``charge.dispute.*`` ones name a dispute, read from the event itself
#: (:mod:`paycore.flows.disputes`). Stripe also sends ``charge.succeeded``, ``charge.failed``,
#: ``charge.refunded`` and other ``charge.*`` events about a payment's charge, to every
#: endpoint subscribed to them: paycore acknowledges those as ignored
#: (``ignored:unsupported_object_kind``) and changes nothing but its inbox, since an
#: answer other than 2xx has Stripe redeliver for up to three days
#: (docs.stripe.com/webhooks#retries).
ACTED_ON = frozenset(
    {
        "payment_intent.created",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.refund.updated",
        *disputes.EVENT_TYPES,
    }
)


def screen(event: object) -> WebhookOutcome | None:
    """Refuse what is not a verified event; say why a verified event is of no use.

    Raises:
        InvalidInput: not a :class:`ProviderEvent`; an id or a type that is not a
            non-empty string every store can hold (no NUL, no lone surrogate, at most
            ``MAX_ID_BYTES`` bytes); an object id that is given but not such text.

    Returns the ignored outcome of an event paycore cannot use, else None. An event
    whose object id is missing (None or empty) is one: the adapter gives an object
    without an id that way, and an answer other than 2xx would only have it redelivered.
    """
    if not isinstance(event, ProviderEvent):
        raise InvalidInput(
            f"handle_webhook takes a verified ProviderEvent with an id, got "
            f"{type(event).__name__}: verify the signature and convert the event first"
        )
    _event_text("id", event.id)
    _event_text("type", event.type)
    if event.object_id is not None and event.object_id != "":
        _event_text("object_id", event.object_id)
    if not isinstance(event.object_kind, str) or event.object_kind not in KINDS:
        return WebhookOutcome.UNSUPPORTED_OBJECT_KIND
    if not event.object_id:
        return WebhookOutcome.MISSING_OBJECT_ID
    if event.object_kind == "dispute":
        return disputes.screen(event)
    return None


def _event_text(field: str, value: object) -> None:
    """An event's id, type or object id must be an id every store can hold."""
    try:
        ident(f"event {field}", value)
    except InvalidInput as exc:
        raise InvalidInput(
            f"handle_webhook takes a verified ProviderEvent with an id, a type and an object "
            f"id every store can hold: {exc.message}; verify the signature and convert the "
            "event first",
            field=field,
        ) from None


def foreign_intent(u: Unit, intent_id: str, snapshot_metadata: Mapping[str, object]) -> bool:
    """Is this intent another integration's, going by its event's signed snapshot? Then
    its event is acknowledged with no flow, no provider read and no inbox row.

    True only when no payment holds the intent and the snapshot's metadata does not carry
    this installation's id (:func:`paycore.flows.identity.is_ours`): paycore writes that id
    into every intent it creates, in the create itself, so every snapshot of one of its
    intents carries it. An intent a payment already holds is followed whatever its
    snapshot says (its metadata may have been edited, or made before the id existed).
    Only reads: an installation that has made nothing yet has no id, and nothing is ours.
    """
    if not intent_id or u.find(s.PAYMENTS, "provider_intent_id", intent_id):
        return False
    meta = {k: v for k, v in snapshot_metadata.items() if isinstance(v, str)}
    return not is_ours(meta, known_installation(u))


def begin_webhook(u: Unit, event: ProviderEvent, owner: str, lease_until: int) -> str | None:
    """Take the event into the inbox and return the id of the flow that handles it.
    None for a duplicate delivery, for an event paycore cannot use, and for one about
    the intent of a final payment: those two are recorded with no flow, so their
    redeliveries are duplicates."""
    ignored = screen(event)
    if u.get(s.INBOX, event.id) is not None:
        return None
    if ignored is not None:
        u.tx.insert(
            s.INBOX,
            InboxEntry(event.id, str(event.type), str(event.object_id or ""), u.now, ""),
        )
        return None
    if event.object_kind == "dispute":  # read from the event: no flow, no provider read
        u.tx.insert(s.INBOX, InboxEntry(event.id, event.type, event.object_id, u.now, ""))
        disputes.take(u, event)
        return None
    owner_rows = u.find(s.PAYMENTS, "provider_intent_id", event.object_id)
    if event.object_kind == "payment_intent" and _final(owner_rows):
        u.tx.insert(s.INBOX, InboxEntry(event.id, event.type, event.object_id, u.now, ""))
        return None
    flow_id = f"webhook:{event.id}"
    u.tx.insert(
        s.INBOX,
        InboxEntry(event.id, event.type, event.object_id, u.now, flow_id),
    )
    create_flow(
        u,
        flow_id,
        "webhook",
        WebhookStep.FETCH,
        WebhookParams(
            event_id=event.id,
            object_kind=event.object_kind,
            object_id=event.object_id,
            seen_version=owner_rows[0].version if owner_rows else None,
        ),
        owner=owner,
        lease_until=lease_until,
        keyed=False,  # it only reads
    )
    return flow_id


def flowless_outcome(
    event: ProviderEvent, transact: Callable[[Callable[[Unit], WebhookOutcome]], WebhookOutcome]
) -> WebhookOutcome:
    """What an event taken with no flow tells the endpoint: processed; for a dispute of
    no payment of this store, not ours (one read, for disputes only)."""
    if event.object_kind == "dispute":
        return transact(lambda u: disputes.outcome(u, event))
    return WebhookOutcome.PROCESSED


def _final(payments: list[Payment]) -> bool:
    """The intent's payment is final: no view of the intent can move it again."""
    return len(payments) == 1 and payments[0].status in PAYMENT.terminal


def outcome_of(flow: Flow) -> WebhookOutcome:
    """What a finished webhook flow tells the endpoint."""
    return WebhookOutcome((flow.result or {}).get("outcome", WebhookOutcome.PROCESSED))


def _ignored(outcome: WebhookOutcome) -> Advance:
    return Advance(done={"matched": False, "outcome": outcome.value})


def _fetch(flow: Flow) -> Effect:
    prm = params_of(WebhookParams, flow)
    oid = prm.object_id
    if prm.object_kind == "refund":
        return Remote(
            "retrieve_refund", lambda p: p.retrieve_refund(oid), _after_refund, refused=_unknown
        )
    return Remote(
        "retrieve_intent", lambda p: p.retrieve_intent(oid), _after_intent, refused=_unknown
    )


def _unknown(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    if isinstance(err, ProviderNotFound):
        return _ignored(WebhookOutcome.NOT_FOUND)  # definite: asking again cannot help
    return retry_on(err)


def _after_intent(u: Unit, flow: Flow, view: IntentView) -> Advance:
    matches = u.find(s.PAYMENTS, "provider_intent_id", view.id)
    if not matches:
        pid = view.metadata.get("payment_id")
        payment = u.get(s.PAYMENTS, pid) if pid else None
        if payment is None:
            return _ignored(WebhookOutcome.NOT_OURS)
        if (
            payment.provider_intent_id is not None
            or claimed(u, payment)
            or not intent_is_payments(
                view, payment, order_of(u, payment), params_of(WebhookParams, flow).installation
            )
        ):
            # Not ours (ids repeat across stores and restores), a duplicate intent, or
            # one its checkout flow is still deciding about (it adopts or cancels it):
            # the reconciler deals with orphans.
            return Advance(done={"matched": False})
        matches = [payment]
    seen = flow.data.get("seen_version", params_of(WebhookParams, flow).seen_version)
    if seen is not None and matches[0].version != seen:
        # The payment changed while we asked the provider: our view may be older than
        # what was recorded meanwhile. Ask again rather than move it backwards.
        n = flow.data.get("refetches", 0) + 1
        data = {"seen_version": matches[0].version, "refetches": n}
        return Advance(to=WebhookStep.FETCH, data=data, retry="payment changed" if n > 3 else None)
    payment = apply_intent(u, matches[0], view)
    return Advance(done={"matched": True, "status": payment.status.value})


def _after_refund(u: Unit, flow: Flow, view: RefundView) -> Advance:
    payment = payment_of(u, view)
    # Matched only within the payment that owns the refund's intent: a refund of someone
    # else's intent whose metadata names one of our refund ids is not that refund.
    refund = known(u, payment, view) if payment is not None else None
    if refund is None and payment is not None:
        if payment.status is not PaymentStatus.SUCCEEDED:
            # Our record of the payment lags the provider's: the reconciler syncs it, then
            # its scan of succeeded payments records this refund.
            return Advance(done={"matched": False, "deferred": "reconciler"})
        # Made outside paycore (the dashboard): recorded with its effects and an alert.
        recorded = record_external_refund(u, payment, view)
        if recorded is None:
            return Advance(done={"matched": False})
        return Advance(done={"matched": True, "status": recorded.status.value, "external": True})
    if refund is None and u.get(s.ORPHANS, view.intent_id) is not None:
        return Advance(done={"matched": False})  # an orphan's refund: its case records it
    if refund is None:
        return _ignored(WebhookOutcome.NOT_OURS)
    refund = apply_refund(u, refund, view)
    return Advance(done={"matched": True, "status": refund.status.value})


DEF = FlowDef("webhook", {WebhookStep.FETCH: step(_fetch)})
