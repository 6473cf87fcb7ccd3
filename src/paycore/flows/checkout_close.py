"""How a checkout ends without a payment: the cancel of an intent its abort found, then
its stock released, its order closed, and the error its caller gets (see
:mod:`paycore.flows.checkout`)."""

from __future__ import annotations

from paycore import schema as s
from paycore.errors import (
    PaycoreError,
    ProviderCircuitOpen,
    ProviderConfigurationError,
    ProviderError,
    SellerCannotCharge,
)
from paycore.flows.engine import Advance, Remote, key
from paycore.flows.params import CheckoutParams, params_of
from paycore.flows.steps import CheckoutStep as Step
from paycore.flows.sync import apply_intent, order_of, release_held
from paycore.machines import ORDER, PAYMENT
from paycore.ports import IntentView
from paycore.records import Flow, Payment
from paycore.status import PaymentStatus
from paycore.unit import Unit


def close(
    u: Unit, flow: Flow, payment: Payment, code: str | None = None, blocker: str | None = None
) -> Advance:
    """Nothing chargeable is left: release the stock and close the order (or keep the
    sale when the customer paid before the cancel landed). ``code`` and ``blocker`` say
    why (by default what the flow recorded when it went to abort)."""
    if payment.status is PaymentStatus.SUCCEEDED:
        return Advance(done={"order_id": payment.order_id, "payment_id": payment.id})
    order = order_of(u, payment)
    release_held(u, order.id)
    if payment.status is PaymentStatus.CREATING:
        payment = u.move(s.PAYMENTS, payment, PAYMENT, "creation_failed")
    if ORDER.allows(order.status, "cancel"):
        u.move(s.ORDERS, order, ORDER, "cancel")
    code = code or flow.data.get("error", "provider_unavailable")
    # A caller tells a seller who cannot charge and an open circuit (try again soon)
    # from the provider's other refusals.
    typed: dict[str, type[PaycoreError]] = {
        SellerCannotCharge.code: SellerCannotCharge,
        ProviderCircuitOpen.code: ProviderCircuitOpen,
        ProviderConfigurationError.code: ProviderConfigurationError,
    }
    err_type = typed.get(code, ProviderError)
    blocker = blocker or flow.data.get("blocker")
    why = f"{code}: {blocker}" if blocker else code
    extra = {"blocker": blocker} if blocker else {}
    return Advance(
        failed=err_type(
            f"checkout {params_of(CheckoutParams, flow).session_id} could not create a "
            f"payment ({why}); "
            "its stock was released: start a new checkout",
            reason=code,
            **extra,
        )
    )


def cancel_found(flow: Flow) -> Remote[IntentView]:
    """``cancel_found``: cancel the live intent the abort's lookup found."""
    intent_id = flow.data["cancel_id"]
    gen = int(flow.data.get("cancel_gen", 0))
    k = key(flow, f"cancel:{intent_id}" + (f"#{gen}" if gen else ""))
    return Remote(
        "cancel_intent",
        lambda p: p.cancel_intent(intent_id, idempotency_key=k),
        _after_cancel_found,
        refused=_cancel_unanswered,
        best_effort=True,
    )


def _cancel_unanswered(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    """Look again after a backoff (the lookup says whether the intent is still
    cancelable), then cancel under a new key (a saved 500 or refusal replays for a day; a
    second cancel is refused, never doubled). A definite refusal (a 403) is a strike: one
    that lasts ends dead-lettered with its alert, not asked again for ever."""
    gen = int(flow.data.get("cancel_gen", 0)) + 1
    return Advance(to=Step.ABORT, retry=err.code, data={"cancel_gen": gen})


def _after_cancel_found(u: Unit, flow: Flow, view: IntentView) -> Advance:
    payment = u.get(s.PAYMENTS, params_of(CheckoutParams, flow).payment_id)
    assert payment is not None
    if payment.provider_intent_id == view.id:
        apply_intent(u, payment, view)
    return Advance(to=Step.ABORT)
