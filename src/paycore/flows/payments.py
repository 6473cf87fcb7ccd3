"""confirm_payment and cancel_payment: serialized on the payment, resumable, shared effects.

Both claim the payment (``Payment.lock_owner``) in their first transaction,
so a confirm and a cancel of one payment never overlap (S9). Both record the
provider's answer through :func:`paycore.flows.sync.apply_intent`, the same
code the webhook uses, so stock is committed or released once (S10, S17).
A cancel releases stock in the same transaction that records the provider's
cancellation: there is no later, separate release to fail (S5, S7).
"""

from __future__ import annotations

from typing import Any

from paycore import schema as s
from paycore.errors import (
    PaymentBusy,
    PaymentNotCancelable,
    PaymentNotConfirmable,
    PaymentNotFound,
    ProviderCardDeclined,
    ProviderError,
    ProviderIdempotencyMismatch,
    ProviderInvalidRequest,
)
from paycore.flows.engine import Advance, FlowDef, Remote, create_flow, key, step
from paycore.flows.identity import installation_id
from paycore.flows.params import CancelParams, ConfirmParams, params_of
from paycore.flows.steps import CancelStep, ConfirmStep
from paycore.flows.sync import CANCELABLE, apply_intent, claimed, save_changed
from paycore.ports import IntentView
from paycore.records import Flow, Payment
from paycore.shown import shown_id
from paycore.status import PaymentStatus
from paycore.unit import Unit, storable

P = PaymentStatus


def check_payment_id(payment_id: object) -> str:
    """A payment id that could name a payment: a non-blank string every store can hold
    (no NUL, no lone surrogate). Anything else names no payment: PaymentNotFound, as
    :func:`load_payment` says, on every store, without asking one."""
    if not isinstance(payment_id, str) or not payment_id.strip():
        raise PaymentNotFound(
            f"payment id must be a non-empty string, got {shown_id(payment_id)}; use the "
            "payment_id that create_payment_intent returned"
        )
    if not storable(payment_id):
        raise PaymentNotFound(
            f"no payment {shown_id(payment_id)}: an id with a NUL or a lone surrogate names none; "
            "use the payment_id that create_payment_intent returned"
        )
    return payment_id


def load_payment(u: Unit, payment_id: object) -> Payment:
    pid = check_payment_id(payment_id)
    return u.require(
        s.PAYMENTS,
        pid,
        lambda: PaymentNotFound(
            f"no payment {shown_id(pid)}: use the payment_id that create_payment_intent returned",
            payment_id=shown_id(pid),
        ),
    )


def _claim(u: Unit, payment: Payment, flow_id: str, **changes: object) -> Payment:
    if claimed(u, payment):
        what = (payment.lock_owner or "").split(":")[0]
        raise PaymentBusy(
            f"payment {payment.id} is busy with {what}; retry shortly", payment_id=payment.id
        )
    return u.save(s.PAYMENTS, payment, lock_owner=flow_id, **changes)


def _params(flow: Flow) -> ConfirmParams | CancelParams:
    if flow.kind == "confirm":
        return params_of(ConfirmParams, flow)
    return params_of(CancelParams, flow)


def _intent_of(payment: Payment) -> str:
    """The intent a confirm or cancel acts on: they start only once it is recorded."""
    assert payment.provider_intent_id is not None, "a payment past creating has its intent"
    return payment.provider_intent_id


def _mine(u: Unit, flow: Flow) -> Payment:
    payment = u.get(s.PAYMENTS, _params(flow).payment_id)
    assert payment is not None
    return payment


def _settle(u: Unit, flow: Flow, view: IntentView | None, release_as: str = "release") -> Payment:
    """Record the provider's view (if any) and release this flow's claim, in one update."""
    payment = _mine(u, flow)
    unlock: dict[str, Any] = {"lock_owner": None} if payment.lock_owner == flow.id else {}
    if view is None:
        return save_changed(u, payment, unlock)
    return apply_intent(u, payment, view, release_as=release_as, **unlock)


def _status(payment: Payment, **extra: object) -> dict[str, object]:
    return {"payment_id": payment.id, "status": payment.status._value_, **extra}


def _finished(payment: Payment, **extra: object) -> Advance:
    """The flow is done with ``payment`` as it leaves it (handed back to the caller)."""
    return Advance(done=_status(payment, **extra), reply=payment)


# --- confirm ----------------------------------------------------------------------


def _confirmed(payment: Payment) -> bool:
    """A payment that succeeded is not confirmed again (S10)."""
    return payment.status is P.SUCCEEDED


def begin_confirm(
    u: Unit,
    payment_id: str,
    payment_method: str | None,
    return_url: str | None,
    owner: str,
    lease_until: int,
) -> str | None:
    """Claim the payment for a confirmation. None when it already succeeded (S10)."""
    payment = load_payment(u, payment_id)
    if _confirmed(payment):
        return None
    if payment.status in (P.CANCELED, P.FAILED):
        raise PaymentNotConfirmable(
            f"payment {payment_id} is {payment.status.value} and can never be confirmed; "
            "start a new checkout",
            payment_id=payment_id,
            status=payment.status.value,
        )
    if payment.status is P.CREATING:
        raise PaymentBusy(
            f"payment {payment_id} is still being created; retry shortly", payment_id=payment_id
        )
    attempt = payment.confirm_attempts + 1
    flow_id = f"confirm:{payment_id}:{attempt}"
    _claim(u, payment, flow_id, confirm_attempts=attempt)
    create_flow(
        u,
        flow_id,
        "confirm",
        ConfirmStep.CALL,
        owner=owner,
        lease_until=lease_until,
        params=ConfirmParams(
            payment_id, _intent_of(payment), payment_method, return_url, installation_id(u)
        ),
    )
    return flow_id


def _confirm_call(flow: Flow) -> Remote[IntentView]:
    prm = params_of(ConfirmParams, flow)
    intent_id = prm.intent_id
    k = key(flow, "confirm")
    return Remote(
        "confirm_intent",
        lambda p: p.confirm_intent(
            intent_id,
            payment_method=prm.payment_method,
            return_url=prm.return_url,
            idempotency_key=k,
        ),
        _after_confirm,
        ask=ConfirmStep.SYNC,
        refused=_confirm_refused,
    )


def _after_confirm(u: Unit, flow: Flow, view: IntentView) -> Advance:
    payment = _settle(u, flow, view)
    return _finished(payment, next_action_url=view.next_action_url)


def _confirm_refused(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    if isinstance(err, ProviderCardDeclined):
        payment = _settle(u, flow, err.fields["intent"])
        return _finished(payment, declined=err.message)
    if isinstance(err, ProviderInvalidRequest) and err.fields.get("param"):
        # The request itself was wrong (an unknown payment method): nothing happened.
        _settle(u, flow, None)
        return Advance(failed=err)
    data: dict[str, Any] = {"last_error": err.code}
    if isinstance(err, ProviderIdempotencyMismatch):
        # The key answers for another request (a key of a flow recorded before a restore
        # from backup, say): this confirm never ran under it. Its sync sends it again
        # under a new key if the intent is still waiting for it.
        data[_MISMATCHED] = flow.data.get("keygen", 0)
    # Refused because the intent moved on (a webhook, a cancel): ask what it is now.
    return Advance(to=ConfirmStep.SYNC, data=data)


#: ``Flow.data`` key: the key generation whose confirm met a key of another request.
_MISMATCHED = "mismatched_keygen"
#: Intent statuses in which a confirm that never ran is still to be sent.
_CONFIRMABLE = frozenset({"requires_payment_method", "requires_confirmation"})


def _sync(flow: Flow) -> Remote[IntentView]:
    intent_id = params_of(ConfirmParams, flow).intent_id
    return Remote("retrieve_intent", lambda p: p.retrieve_intent(intent_id), _after_sync)


def _after_sync(u: Unit, flow: Flow, view: IntentView) -> Advance:
    gen = flow.data.get("keygen", 0)
    if flow.data.get(_MISMATCHED) == gen and view.status in _CONFIRMABLE:
        # Unchanged since a confirm that never ran: send it again under a new key, at
        # once the first time (the caller waits for it); later ones as retries, so one
        # that keeps meeting such keys ends in the flow's give-up.
        why = "the confirm's key answered for another request"
        return Advance(to=ConfirmStep.CALL, retry=why if gen else None, data={"keygen": gen + 1})
    return _after_confirm(u, flow, view)


def _unlock_and_fail(flow: Flow) -> Remote[IntentView]:
    # Forward gave up: free the payment; webhooks and the reconciler will sync it.
    intent_id = _params(flow).intent_id
    return Remote(
        "retrieve_intent",
        lambda p: p.retrieve_intent(intent_id),
        _after_give_up,
        refused=_give_up_unanswered,
        best_effort=True,
    )


def _after_give_up(u: Unit, flow: Flow, view: IntentView | None) -> Advance:
    payment = _settle(u, flow, view)
    return Advance(
        failed=ProviderError(
            f"the provider did not answer for payment {payment.id}; its status will be "
            "synchronized by webhooks and the reconciler",
            payment_id=payment.id,
        )
    )


def _give_up_unanswered(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    return _after_give_up(u, flow, None)


CONFIRM = FlowDef(
    "confirm",
    {
        ConfirmStep.CALL: step(_confirm_call, ConfirmStep.SYNC),
        ConfirmStep.SYNC: step(_sync, ConfirmStep.CALL),
        ConfirmStep.GIVE_UP: step(_unlock_and_fail),
    },
    give_up=ConfirmStep.GIVE_UP,
    ask_first={ConfirmStep.CALL: ConfirmStep.SYNC},
)


# --- cancel -----------------------------------------------------------------------


def begin_cancel(
    u: Unit, payment_id: str, owner: str | None, lease_until: int, reason: str = "requested"
) -> str | None:
    """Claim the payment for cancellation. None when there is nothing left to cancel."""
    payment = load_payment(u, payment_id)
    if payment.status in (P.CANCELED, P.FAILED):
        return None
    if payment.status is P.SUCCEEDED:
        raise PaymentNotCancelable(
            f"payment {payment_id} succeeded; refund it instead of canceling",
            payment_id=payment_id,
        )
    if payment.status is P.CREATING:
        raise PaymentBusy(
            f"payment {payment_id} is still being created; retry shortly", payment_id=payment_id
        )
    flow_id = f"cancel:{payment_id}:{payment.version}"
    _claim(u, payment, flow_id)
    create_flow(
        u,
        flow_id,
        "cancel",
        CancelStep.CALL,
        owner=owner,
        lease_until=lease_until,
        params=CancelParams(payment_id, _intent_of(payment), reason),
    )
    return flow_id


def _release_as(flow: Flow) -> str:
    return "expire" if params_of(CancelParams, flow).reason == "expired" else "release"


def _cancel_call(flow: Flow) -> Remote[IntentView]:
    intent_id = params_of(CancelParams, flow).intent_id
    k = key(flow, "cancel")
    return Remote(
        "cancel_intent",
        lambda p: p.cancel_intent(intent_id, idempotency_key=k),
        _after_cancel,
        ask=CancelStep.SYNC,
        refused=_cancel_refused,
    )


def _after_cancel(u: Unit, flow: Flow, view: IntentView) -> Advance:
    payment = _settle(u, flow, view, _release_as(flow))
    return _finished(payment)


def _cancel_refused(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    # Refused (paid or canceled meanwhile, or not found): ask what the intent is now.
    return Advance(to=CancelStep.SYNC, data={"last_error": err.code})


def _cancel_sync(flow: Flow) -> Remote[IntentView]:
    intent_id = params_of(CancelParams, flow).intent_id
    return Remote("retrieve_intent", lambda p: p.retrieve_intent(intent_id), _after_cancel_sync)


def _after_cancel_sync(u: Unit, flow: Flow, view: IntentView) -> Advance:
    payment = _mine(u, flow)
    if view.status in CANCELABLE:
        # The cancel did not happen (its answer was lost before it ran): try again
        # with a new key, since the old one may replay a saved server error.
        apply_intent(u, payment, view)
        return Advance(
            to=CancelStep.CALL,
            retry="cancel had no effect",
            data={"keygen": flow.data.get("keygen", 0) + 1},
        )
    payment = _settle(u, flow, view, _release_as(flow))
    if payment.status is P.CANCELED:
        return _finished(payment)
    return Advance(
        failed=PaymentNotCancelable(
            f"payment {payment.id} is {payment.status.value} at the provider and cannot be "
            "canceled" + ("; refund it instead" if payment.status is P.SUCCEEDED else " now"),
            payment_id=payment.id,
            status=payment.status.value,
        )
    )


CANCEL = FlowDef(
    "cancel",
    {
        CancelStep.CALL: step(_cancel_call, CancelStep.SYNC),
        CancelStep.SYNC: step(_cancel_sync, CancelStep.CALL),
        CancelStep.GIVE_UP: step(_unlock_and_fail),
    },
    give_up=CancelStep.GIVE_UP,
    ask_first={CancelStep.CALL: CancelStep.SYNC},
)
