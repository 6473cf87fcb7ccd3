"""The refund flow after an unanswered call: the same key again, then the list, and a new
key only once no request of the old one can still land.

A call whose answer never came (a timeout, a 5xx, a key still in use by a request that
runs on) may have made the refund, or may make it later: Stripe keeps running a request
its client gave up on, and refuses the same key with 409 ``idempotency_key_in_use`` while
it runs (docs.stripe.com/api/idempotent_requests, docs.stripe.com/error-codes). So
``replay`` sends the same request under the same key first: Stripe answers with the first
request's result, or makes the refund if the first never arrived. When the replay gets no
answer either, ``resolve`` lists the intent's refunds (lists do not lag) and keeps this
refund's own. An empty list proves nothing while a request may still land: the flow waits
(a transient retry) until ``RefundParams.landing_ms`` passed since its last request, and
only then moves to a new key generation (a time of that request ahead of the clock that
reads the list was written by a clock that ran ahead: the wait counts from the read).
A request that lands later still is met in one of two ways. If it took what the new key
asks for, the provider refuses the new call ("already refunded"): that refusal sends the
flow to the list once more (``refunds._refused``), which finds the late refund and
records it, and the refund fails only if the list shows none. If it lands after the
refund failed (the new key refused for another reason), the failed refund keeps its
status, and ``statuses-agree`` reports it, with the provider's books, in ``paycore
check``: the one case a human settles.

A refusal for what is left of the payment (:func:`short_of`: less than asked, or
nothing) goes to the list too, under any key: when no refund of this one's is listed,
the payment's refunds made outside paycore (a dashboard refund whose webhook is not in)
are recorded (:func:`record_outside`) before the refund fails. When they took what it asked
for, it ends as refunded elsewhere (:mod:`paycore.flows.refund_elsewhere`), not as a
failure; otherwise its alert names them.
"""

from __future__ import annotations

from paycore import listing
from paycore import schema as s
from paycore.errors import PaycoreError, ProviderInvalidRequest, error_class
from paycore.flows.engine import Advance, Remote
from paycore.flows.identity import refund_is_refunds
from paycore.flows.params import RefundParams, params_of
from paycore.flows.refund_elsewhere import refunded_elsewhere
from paycore.flows.refund_failures import money_returned, refund_failed
from paycore.flows.steps import RefundStep
from paycore.machines import REFUND
from paycore.ports import RefundView
from paycore.records import Flow, Payment
from paycore.status import RefundStatus
from paycore.unit import Unit


def resolve(flow: Flow) -> Remote[list[RefundView]]:
    intent_id = params_of(RefundParams, flow).intent_id
    return Remote("list_refunds", lambda p: listing.all_refunds(p, intent_id), after_resolve)


def after_resolve(u: Unit, flow: Flow, views: list[RefundView]) -> Advance:
    from paycore.flows.refunds import apply_refund  # refunds builds its flow from here

    prm = params_of(RefundParams, flow)
    refund = u.get(s.REFUNDS, prm.refund_id)
    assert refund is not None
    payment = u.get(s.PAYMENTS, refund.payment_id)
    assert payment is not None
    # Refund ids repeat across stores and restores: only this refund's reference counts.
    mine = [v for v in views if refund_is_refunds(v, refund, payment, prm.installation)]
    if mine:
        refund = apply_refund(u, refund, mine[0])
        return done(refund.id, refund.status)
    if refund.provider_refund_id is not None:
        # Not listed, yet recorded since: the unanswered call landed late and its
        # webhook (or a job) recorded it while the list was read. A new key would make
        # a second refund.
        return done(refund.id, refund.status)
    code = flow.data.get("refused")
    if code is not None:
        # A new key's call was refused, and no refund of this one's exists: it stands.
        said = flow.data.get("error_code")
        err = error_class(code)(
            str(flow.data.get("why", "")), **({"error_code": said} if said else {})
        )
        if flow.data.get("short"):
            return refused(u, flow, err, outside=record_outside(u, payment, views))
        return refused(u, flow, err)
    since, read_at = int(flow.data.get("step_at", flow.created_at)), u.answered_at()
    if since > read_at:
        # Written by a clock ahead of this one (a jump of the host's time): the request
        # went out before the list was read whatever it says, so the wait counts from then.
        why = "no refund listed yet; a request may still land (its time was ahead)"
        return Advance(retry=why, transient=True, data={"step_at": read_at})
    if read_at - since < prm.landing_ms:
        # A request of this key may still be running (or on its way) as the list was
        # read: wait, no strike. Its read time counts, not when its answer is applied.
        return Advance(retry="no refund listed yet; a request may still land", transient=True)
    return Advance(
        to=RefundStep.CALL,
        retry="no refund found after an unanswered call",
        data={"keygen": flow.data.get("keygen", 0) + 1},
    )


def settled(u: Unit, flow: Flow) -> Advance | None:
    """At ``call`` and ``replay``, before anything is sent (``FlowDef.settled``): a refund
    that holds its provider refund (its webhook, the refund sync or a list recorded it)
    or has ended is never sent again; its flow ends with the refund's status. Sent, it
    would at best replay the refund under its key, and past the key's retention, or by
    a clock that misjudges the key's age, make it a second time."""
    refund = u.get(s.REFUNDS, params_of(RefundParams, flow).refund_id)
    if refund is None or (
        refund.provider_refund_id is None and refund.status is RefundStatus.PENDING
    ):
        return None
    return done(refund.id, refund.status)


def done(refund_id: str, status: RefundStatus) -> Advance:
    return Advance(done={"refund_id": refund_id, "status": status.value})


def refused(
    u: Unit, flow: Flow, err: PaycoreError, *, outside: list[RefundView] | None = None
) -> Advance:
    """A definite refusal: the money was not returned; free the amount again, and make
    sure someone hears of it (the caller of an automatic refund is no one). ``outside``:
    the refusal was for what is left (:func:`short_of`), and these refunds made outside
    paycore, recorded now, took it: when the books show that nothing or less than asked
    is left, it ends as refunded elsewhere (:func:`refunded_elsewhere`: the shop is told
    ``refund_refused_<id>``, the caller gets RefundExceedsRefundable, no alert); else the
    alert names them and does not ask for the refund to be made again."""
    refund = u.get(s.REFUNDS, params_of(RefundParams, flow).refund_id)
    assert refund is not None
    disputed = err.fields.get("error_code") == DISPUTED
    failed = u.move(s.REFUNDS, refund, REFUND, "fail")
    # Refused because refunds made elsewhere took the money: the shop hears that, not a failure.
    elsewhere = refunded_elsewhere(u, failed, outside) if outside is not None else None
    if elsewhere is None:
        refund_failed(u, failed, outside=outside, disputed=disputed)
    if outside is not None:
        payment = u.get(s.PAYMENTS, refund.payment_id)
        assert payment is not None
        money_returned(u, payment)  # the refunds made outside paycore may return it all
    return Advance(failed=elsewhere or err)


#: Stripe's refusal of a refund of a charge that was charged back: "The charge you're
#: attempting to refund has been charged back" (docs.stripe.com/error-codes#charge-disputed).
#: The dispute decides the money (:mod:`paycore.flows.disputes`): no refund again.
DISPUTED = "charge_disputed"


def short_of(err: PaycoreError) -> bool:
    """Did the provider refuse a refund for what is left of the payment (less than asked,
    or nothing: Stripe's ``charge_already_refunded``, or ``param`` ``amount``)?"""
    fields = err.fields
    return isinstance(err, ProviderInvalidRequest) and (
        fields.get("error_code") == "charge_already_refunded" or fields.get("param") == "amount"
    )


def record_outside(u: Unit, payment: Payment, views: list[RefundView]) -> list[RefundView]:
    """Record the refunds of ``payment`` in ``views`` that paycore does not know (made in
    the dashboard, their webhook not in yet), as the reconciler's scan does; those
    recorded, with money held or returned."""
    from paycore.flows.external import known, record_external_refund  # imports refunds

    recorded: list[RefundView] = []
    for view in views:
        current = u.get(s.PAYMENTS, payment.id)
        assert current is not None
        if known(u, current, view) is None and record_external_refund(u, current, view):
            recorded.append(view)
    return recorded
