"""create_refund: validated under the store's lock, recorded before the call, idempotent by key.

The first transaction checks the amount against what is still refundable
(captured minus pending and succeeded refunds) and records the refund as
pending in the same transaction, so two concurrent refunds can never both
pass the check (S6, S13). The provider call carries a key derived from the
refund's id; the provider's answer is recorded through
:func:`paycore.flows.sync.apply_refund` (order status, restock on a full refund).
"""

from __future__ import annotations

import re
import uuid

from paycore import schema as s
from paycore.errors import (
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    InvalidRefundReason,
    PaymentNotRefundable,
    ProviderIdempotencyInUse,
    ProviderRateLimited,
    RefundExceedsRefundable,
)
from paycore.flows.engine import Advance, FlowDef, Outcome, Remote, key
from paycore.flows.identity import identity, refund_is_refunds
from paycore.flows.payments import load_payment
from paycore.flows.sync import apply_refund, open_refund, refundable
from paycore.machines import REFUND
from paycore.money import check_minor_units
from paycore.records import Flow, Refund
from paycore.status import PaymentStatus
from paycore.unit import Unit

REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


def check_refund_args(amount: object, reason: object, idempotency_key: object) -> str:
    """Validate the caller's arguments; return the idempotency key to use."""
    if amount is not None:
        check_minor_units(amount)
    if reason is not None and reason not in REASONS:
        raise InvalidRefundReason(
            f"refund reason must be one of {', '.join(sorted(REASONS))} or None, got {reason!r}"
        )
    if idempotency_key is None:
        return f"auto-{uuid.uuid4().hex}"
    if not isinstance(idempotency_key, str) or not KEY_RE.match(idempotency_key):
        raise InvalidIdempotencyKey(
            "idempotency_key must be 1 to 200 characters of letters, digits, '_', '.', ':' or '-'"
        )
    return idempotency_key


def begin_refund(
    u: Unit, payment_id: str, amount: int | None, reason: str | None, idem_key: str
) -> Refund:
    """Record the refund (or find the one this key already made). Raises on bad requests."""
    payment = load_payment(u, payment_id)
    for existing in u.find(s.REFUNDS, "payment_id", payment_id):
        if existing.idempotency_key == idem_key:
            if amount is not None and existing.amount.amount != amount:
                raise IdempotencyKeyReused(
                    f"idempotency key {idem_key} was used for a refund of "
                    f"{existing.amount.amount}, not {amount}; use a new key for a new refund",
                    refund_id=existing.id,
                )
            return existing
    if payment.status is not PaymentStatus.SUCCEEDED:
        raise PaymentNotRefundable(
            f"payment {payment_id} is {payment.status.value}; only a succeeded payment can "
            "be refunded (cancel it instead)",
            payment_id=payment_id,
            status=payment.status.value,
        )
    left = refundable(u, payment)
    want = left if amount is None else amount
    if want < 1 or want > left:
        raise RefundExceedsRefundable(
            f"cannot refund {want} of payment {payment_id}: {left} is still refundable",
            payment_id=payment_id,
            requested=want,
            refundable=left,
        )
    return open_refund(u, payment, amount=want, reason=reason, idempotency_key=idem_key)


def _refund(u: Unit, flow: Flow) -> Refund:
    r = u.get(s.REFUNDS, flow.params["refund_id"])
    assert r is not None
    return r


def _call(flow: Flow) -> Remote:
    prm = flow.params
    k = key(flow, "refund")
    return Remote(
        "create_refund",
        lambda p: p.create_refund(
            prm["intent_id"],
            amount=prm["amount"],
            reason=prm["reason"],
            metadata={
                "refund_id": prm["refund_id"],
                "order_id": prm["order_id"],
                **identity(prm["installation"], prm.get("reference")),
            },
            idempotency_key=k,
        ),
        _after_call,
    )


def _after_call(u: Unit, flow: Flow, out: Outcome) -> Advance:
    refund = _refund(u, flow)
    err = out.error
    if err is None:
        refund = apply_refund(u, refund, out.value)
        return Advance(done={"refund_id": refund.id, "status": refund.status.value})
    if isinstance(err, ProviderRateLimited | ProviderIdempotencyInUse):
        return Advance(retry=err.code)
    if err.outcome == "ambiguous":
        return Advance(to="resolve", data={"last_error": err.code})
    # Definite refusal: the money was not returned; free the amount again.
    u.move(s.REFUNDS, refund, REFUND, "fail")
    return Advance(failed=err)


def _resolve(flow: Flow) -> Remote:
    intent_id = flow.params["intent_id"]
    return Remote("list_refunds", lambda p: p.list_refunds(intent_id), _after_resolve)


def _after_resolve(u: Unit, flow: Flow, out: Outcome) -> Advance:
    if out.error is not None:
        return Advance(retry=out.error.code)
    refund = _refund(u, flow)
    payment = u.get(s.PAYMENTS, refund.payment_id)
    assert payment is not None
    installation = flow.params.get("installation")
    # Refund ids repeat across stores and restores: only this refund's reference counts.
    mine = [v for v in out.value if refund_is_refunds(v, refund, payment, installation)]
    if mine:
        refund = apply_refund(u, refund, mine[0])
        return Advance(done={"refund_id": refund.id, "status": refund.status.value})
    return Advance(
        to="call",
        retry="no refund found after an unanswered call",
        data={"keygen": flow.data.get("keygen", 0) + 1},
    )


DEF = FlowDef("refund", {"call": _call, "resolve": _resolve}, ask_first={"call": "resolve"})
