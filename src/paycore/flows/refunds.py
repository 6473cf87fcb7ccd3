"""Refunds: every rule in one place, and the create_refund flow.

What is still refundable, how a refund is recorded (a caller's, an automatic one,
with its flow) and how the provider's answer about it moves payment, order and
stock (:func:`apply_refund`) live here, beside the flow that makes a refund.

The first transaction checks the amount against what is still refundable (captured
minus pending and succeeded refunds) and records the refund as pending in the same
transaction, so two concurrent refunds can never both pass the check (S6, S13). The
provider call carries a key derived from the refund's id; the provider's answer is
recorded through :func:`apply_refund` (order status; stock back on sale only when the
caller said the goods came back, ``restock=True``, and the order is refunded in full).
"""

from __future__ import annotations

import re

import attrs

from paycore import schema as s
from paycore.errors import (
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    InvalidRefundReason,
    ProviderConfigurationError,
    ProviderError,
    ProviderIdempotencyMismatch,
    RefundExceedsRefundable,
    RestockNotPossible,
)
from paycore.flows import refund_checks as checks
from paycore.flows import refund_landing as landing
from paycore.flows import refund_recovery as recovery
from paycore.flows.engine import Advance, FlowDef, Remote, create_flow, key, step
from paycore.flows.identity import identity, new_reference
from paycore.flows.params import RefundParams, params_of
from paycore.flows.payments import load_payment
from paycore.flows.refund_elsewhere import too_much
from paycore.flows.refund_failures import money_returned, refund_failed
from paycore.flows.steps import RefundStep
from paycore.flows.sync import order_of, reservations_of
from paycore.machines import ORDER, REFUND, RESERVATION
from paycore.money import check_minor_units
from paycore.ports import RefundView
from paycore.records import Flow, Payment, Refund
from paycore.shown import shown
from paycore.status import OrderStatus, RefundStatus, ReservationStatus
from paycore.unit import Unit

REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
#: Matched whole (``re.fullmatch``): ``$`` alone would let "rma-1\n" be a second "rma-1".
KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
#: Prefixes of the keys paycore gives refunds it records itself: refunds made outside
#: paycore (``external:<provider refund id>``) and automatic refunds (``out-of-stock``,
#: ``out-of-stock#<n>``). A caller's key must never collide with them.
RESERVED_KEY_PREFIXES = ("external:", "out-of-stock")


def _prm(flow: Flow) -> RefundParams:
    return params_of(RefundParams, flow)


def check_refund_args(amount: object, reason: object, idempotency_key: object) -> str:
    """Validate the caller's arguments; return the idempotency key.

    Raises:
        InvalidAmount, InvalidRefundReason, InvalidIdempotencyKey: nothing changed.
    """
    if amount is not None:
        check_minor_units(amount)
    if reason is not None and (not isinstance(reason, str) or reason not in REASONS):
        raise InvalidRefundReason(
            f"refund reason must be one of {', '.join(sorted(REASONS))} or None, "
            f"got {shown(reason)}"
        )
    if idempotency_key is None:
        raise InvalidIdempotencyKey(
            "idempotency_key is required: pass one key per refund you mean to make, and the "
            "same key when you retry it (after FlowPending or CommitUnknown too)"
        )
    if not isinstance(idempotency_key, str) or not KEY_RE.fullmatch(idempotency_key):
        raise InvalidIdempotencyKey(
            "idempotency_key must be 1 to 200 characters of letters, digits, '_', '.', ':' or '-'"
        )
    if idempotency_key.startswith(RESERVED_KEY_PREFIXES):
        raise InvalidIdempotencyKey(
            f"idempotency_key {idempotency_key!r} is reserved: keys starting with "
            f"{' or '.join(map(repr, RESERVED_KEY_PREFIXES))} name refunds paycore records "
            "itself; use another key"
        )
    return idempotency_key


def begin_refund(
    u: Unit,
    payment_id: str,
    amount: int | None,
    reason: str | None,
    idem_key: str,
    *,
    restock: bool = False,
    lease: tuple[str | None, int] = (None, 0),
    landing_ms: int | None = None,
) -> Refund:
    """Record the refund (or find the one this key made); ``lease``: the new flow's, (worker
    id, until when), for the worker that runs it next; ``landing_ms``: the config's
    ``create_landing_ms`` (see :func:`open_refund`). Raises on bad requests."""
    payment = load_payment(u, payment_id)
    for existing in u.find(s.REFUNDS, "payment_id", payment_id):
        if existing.idempotency_key == idem_key:
            _same_request(existing, amount, reason)
            if existing.restock is not restock:
                raise IdempotencyKeyReused(
                    f"idempotency key {idem_key} was used for a refund with "
                    f"restock={existing.restock}, not {restock}; use a new key for a new refund",
                    refund_id=existing.id,
                )
            return existing
    checks.payment_refundable(payment)
    if restock:
        checks.order_holds_sold_stock(u, payment_id, payment.order_id)
    left = refundable(u, payment)
    want = left if amount is None else amount
    if want < 1 or want > left:
        raise RefundExceedsRefundable(
            too_much(payment, amount, left),
            payment_id=payment_id,
            requested=want,
            refundable=left,
        )
    if restock and want != left:
        raise RestockNotPossible(
            f"restock goes with the refund of everything still refundable ({left}), not "
            f"{want}: refund part without restock, or the rest with restock=True; "
            "single units that came back are counted in with adjust_stock",
            payment_id=payment_id,
            requested=want,
            refundable=left,
        )
    return open_refund(
        u,
        payment,
        amount=want,
        reason=reason,
        idempotency_key=idem_key,
        requested_amount=amount,
        restock=restock,
        lease=lease,
        landing_ms=landing_ms,
    )


def _same_request(existing: Refund, amount: int | None, reason: str | None) -> None:
    """A key replays its first refund only for the very same request (as Stripe's keys do)."""
    if existing.requested_amount == amount and existing.reason == reason:
        return
    key = existing.idempotency_key
    if existing.reason != reason:
        raise IdempotencyKeyReused(
            f"idempotency key {key} was used for a refund with reason {existing.reason!r}, "
            f"not {reason!r}; use a new key for a new refund",
            refund_id=existing.id,
        )

    def asked(value: int | None) -> str:
        return "everything still refundable" if value is None else str(value)

    first = asked(existing.requested_amount)
    if existing.requested_amount is None:
        first = f"{first} ({existing.amount.amount})"
    raise IdempotencyKeyReused(
        f"idempotency key {key} was used for a refund of {first}, not {asked(amount)}; "
        "use a new key for a new refund",
        refund_id=existing.id,
    )


def _refund(u: Unit, flow: Flow) -> Refund:
    r = u.get(s.REFUNDS, _prm(flow).refund_id)
    assert r is not None
    return r


def _call(flow: Flow) -> Remote[RefundView]:
    prm = _prm(flow)
    k = key(flow, "refund")
    return Remote(
        "create_refund",
        lambda p: p.create_refund(
            prm.intent_id,
            amount=prm.amount,
            reason=prm.reason,
            metadata={
                "refund_id": prm.refund_id,
                "order_id": prm.order_id,
                **identity(prm.installation, prm.reference),
            },
            idempotency_key=k,
        ),
        _after_call,
        ask=RefundStep.REPLAY,
        refused=_refused,
    )


def _after_call(u: Unit, flow: Flow, view: RefundView) -> Advance:
    refund = _refund(u, flow)
    if refund.provider_refund_id not in (None, view.id):
        # An earlier request of this refund landed late and was recorded first: this
        # answer is the refund made a second time (``refund_made_twice``), never the
        # status of the one the refund holds.
        from paycore.flows import external  # it applies refunds: imported when needed

        payment = load_payment(u, refund.payment_id)
        seen = external.known(u, payment, view)
        if seen is not None:
            apply_refund(u, seen, view)
        else:
            external.record_external_refund(u, payment, view)
        return recovery.done(refund.id, refund.status)
    refund = apply_refund(u, refund, view)
    return recovery.done(refund.id, refund.status)


def _refused(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    if isinstance(err, ProviderIdempotencyMismatch):
        # The key answers for another request (a key of a flow recorded before a
        # restore from backup, say): this refund's request never ran under it, at the
        # call or at its replay. The list says what exists; a new key follows.
        return Advance(to=RefundStep.RESOLVE, data={"last_error": err.code})
    # A refusal that may not be the only request's answer: under a new key (``keygen``;
    # absent under the first), a request of an earlier key may have landed late and
    # taken what this call asks for ("already refunded"); a refused API key is checked
    # before the idempotency key, so it says nothing of this key's request sent before
    # a crash. The list says whether the money went back (after_resolve) first.
    # Refused for what is left (a refund made in the dashboard whose webhook is not in):
    # the list says which, and they are recorded before the refund fails.
    short = recovery.short_of(err)
    if flow.data.get("keygen") or isinstance(err, ProviderConfigurationError) or short:
        why = {"refused": err.code, "why": str(err), **({"short": True} if short else {})}
        why["error_code"] = err.fields.get("error_code")  # charge_disputed, say
        return Advance(to=RefundStep.RESOLVE, data=why)
    return recovery.refused(u, flow, err)


def _replay(flow: Flow) -> Remote[RefundView]:
    """The call again, same request and key: Stripe replays the first's result, or makes
    the refund if the first never arrived (:mod:`paycore.flows.refund_recovery`)."""
    return attrs.evolve(_call(flow), ask=RefundStep.RESOLVE)


DEF = FlowDef(
    "refund",
    {
        RefundStep.CALL: step(_call, RefundStep.REPLAY, RefundStep.RESOLVE),
        RefundStep.REPLAY: step(_replay, RefundStep.RESOLVE),
        RefundStep.RESOLVE: step(recovery.resolve, RefundStep.CALL),
    },
    ask_first={RefundStep.CALL: RefundStep.RESOLVE, RefundStep.REPLAY: RefundStep.RESOLVE},
    resends=frozenset({RefundStep.REPLAY}),
    settled=dict.fromkeys((RefundStep.CALL, RefundStep.REPLAY), recovery.settled),
)


# --- recording refunds and applying the provider's answer ----------------------


def refundable(u: Unit, payment: Payment) -> int:
    """Captured minus every refund that is pending or succeeded."""
    taken = sum(
        r.amount.amount
        for r in u.find(s.REFUNDS, "payment_id", payment.id)
        if r.status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED)
    )
    return payment.amount_received - taken


def open_refund(
    u: Unit,
    payment: Payment,
    *,
    amount: int,
    reason: str | None,
    idempotency_key: str,
    automatic: bool = False,
    requested_amount: int | None = None,
    restock: bool = False,
    lease: tuple[str | None, int] = (None, 0),
    landing_ms: int | None = None,
) -> Refund:
    """Record a pending refund and start its flow, in the caller's transaction.
    ``requested_amount``: what the caller asked for (None: everything left). ``lease``:
    the flow's, for a worker that runs it at once (no owner: any worker may).
    ``landing_ms``: how long an unanswered call may still land, ``Config.create_landing_ms``;
    None (a refund a flow opens): the window the payment's checkout recorded from the
    config (:mod:`paycore.flows.refund_landing`)."""
    refund_id = f"rf_{u.tx.next_seq('refund'):06d}"
    reference = new_reference(u, "rref")
    refund = Refund(
        id=refund_id,
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=type(payment.amount)(amount, payment.amount.currency),
        reason=reason,
        idempotency_key=idempotency_key,
        created_at=u.now,
        automatic=automatic,
        requested_amount=requested_amount,
        restock=restock,
        reference=reference,
    )
    u.create(s.REFUNDS, refund, REFUND)
    create_flow(
        u,
        landing.flow_id(refund_id),
        "refund",
        RefundStep.CALL,
        RefundParams(
            refund_id=refund_id,
            # every refundable payment has its intent; "" names none (the provider says so)
            intent_id=payment.provider_intent_id or "",
            amount=amount,
            reason=reason,
            order_id=payment.order_id,
            reference=reference,
            landing_ms=landing.for_payment(u, payment) if landing_ms is None else landing_ms,
        ),
        owner=lease[0],
        lease_until=lease[1],
    )
    return refund


def apply_refund(u: Unit, refund: Refund, view: RefundView) -> Refund:
    """Move ``refund`` to the provider's status, with its effects on payment, order, stock."""
    if refund.provider_refund_id is None:
        refund = u.save(s.REFUNDS, refund, provider_refund_id=view.id)
    status = RefundStatus(view.status) if view.status in _REFUND_VALUES else refund.status
    if status is refund.status or not REFUND.allows(refund.status, _REFUND_TRIGGER[status]):
        return refund
    was_succeeded = refund.status is RefundStatus.SUCCEEDED
    refund = u.move(s.REFUNDS, refund, REFUND, _REFUND_TRIGGER[status])
    payment = u.get(s.PAYMENTS, refund.payment_id)
    assert payment is not None
    if status is RefundStatus.SUCCEEDED:
        payment = u.save(
            s.PAYMENTS, payment, amount_refunded=payment.amount_refunded + refund.amount.amount
        )
        _on_refunded(u, payment, refund)
        money_returned(u, payment)
        return refund
    if was_succeeded:
        # The bank sent the money back to the shop: the customer was not refunded after
        # all. The order keeps its status (the stock may be sold again, and the open
        # refund_failed alert is the record that money is owed); a refund made again
        # restocks by the order's committed units (``refund_checks``).
        u.save(s.PAYMENTS, payment, amount_refunded=payment.amount_refunded - refund.amount.amount)
    # Failed or canceled, before or after it succeeded: the shop is told, and alerted.
    refund_failed(u, refund)
    return refund


_REFUND_VALUES = frozenset(s.value for s in RefundStatus)
_SOLD = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)
_REFUND_TRIGGER = {
    RefundStatus.SUCCEEDED: "settle",
    RefundStatus.FAILED: "fail",
    RefundStatus.CANCELED: "cancel",
    RefundStatus.PENDING: "-",
}


def _on_refunded(u: Unit, payment: Payment, refund: Refund) -> None:
    order = order_of(u, payment)
    if order.status not in _SOLD:
        return  # out-of-stock orders keep their status; the refund record tells the rest
    # Refunded already: a refund of it was sent back by the bank and this one refunds
    # again. The order keeps its status; the shop hears of each refund.
    again = order.status is OrderStatus.REFUNDED
    amount = refund.amount.amount
    if payment.amount_refunded < payment.amount_received:
        if not again:
            u.move(s.ORDERS, order, ORDER, "refund_part")
        u.notify(order.id, f"refund_{refund.id}", amount=amount)
        return
    if again:  # order_refunded went out once already (one message per order and kind)
        u.notify(order.id, f"refund_{refund.id}", amount=amount, refunded_in_full=True)
    else:
        u.move(s.ORDERS, order, ORDER, "refund_rest")
        u.notify(order.id, "order_refunded", amount=payment.amount_refunded)
    # The goods stay sold unless a refund of this order was made with restock=True (the
    # caller said they came back). Refunds may settle in any order: look at all of them.
    settled = u.find(s.REFUNDS, "payment_id", payment.id)
    if not any(r.restock and r.status is RefundStatus.SUCCEEDED for r in settled):
        return
    for r in reservations_of(u, order.id):
        if r.status is ReservationStatus.COMMITTED:
            u.move(s.RESERVATIONS, r, RESERVATION, "give_back")
            u.change_stock(r.seller_id, r.sku, committed=-r.quantity)
