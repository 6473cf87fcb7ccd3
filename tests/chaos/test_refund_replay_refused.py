"""A refund's replay refused for the API key, not for the request.

The replay sends the first call again under the same key: Stripe answers with the first
request's result when it ran, and runs it now when it never arrived
(docs.stripe.com/api/idempotent_requests), so a refusal of the replay is the request's
own. Not so for a refusal of the key itself: Stripe checks the API key before it looks
at the idempotency key (a 401 for a revoked key, a 403 for a restricted key without
the permission: docs.stripe.com/error-codes, docs.stripe.com/keys), so such a refusal
says nothing about whether the first request made the refund. The flow asks the list;
it never fails a refund, telling the shop to refund again, while the money went back.
"""

from __future__ import annotations

from typing import Any

from tests.support import SESSION, make_shop, run, step

from paycore import errors as err
from paycore.flows.checkout import CartItem
from paycore.ports import RefundView
from paycore.status import FlowStatus, RefundStatus
from paycore_adapters.memory import Wiring


def paid_shop(answer_first: bool, refused: err.ProviderError) -> tuple[Wiring, str, list[str]]:
    """A shop with one payment made; its provider makes the first refund asked for
    (answering it, or losing the answer on the way back) and refuses every later call
    with ``refused``. The payment's id, and the keys the refund calls were sent under."""
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    inner = w.provider.create_refund
    calls: list[str] = []

    def create_refund(intent_id: str, **kw: Any) -> RefundView:
        calls.append(kw["idempotency_key"])
        if len(calls) > 1:
            raise refused
        made = inner(intent_id, **kw)
        if answer_first:
            return made
        raise err.ProviderUnavailable("create_refund: timed out")

    w.provider.create_refund = create_refund  # type: ignore[method-assign,assignment]
    return w, res.payment_id, calls


def test_a_replay_refused_for_the_api_key_asks_the_list() -> None:
    # the shop swapped in a restricted key without write access to refunds
    key = err.ProviderConfigurationError("The key lacks the permissions", http_status=403)
    w, payment_id, calls = paid_shop(False, key)
    fid = w.service.start_refund(payment_id, None, None, "rma-key")
    step(w, fid, 2)  # the call, unanswered -> replay
    flow = run(w, fid)  # the replay is refused for the key: the list finds the refund
    assert calls[0] == calls[1]  # the replay, same key
    assert flow.status is FlowStatus.SUCCEEDED, flow.result
    refund_recorded(w, payment_id)


def refund_recorded(w: Wiring, payment_id: str) -> None:
    """The provider's one refund is recorded as made, and the shop is not asked to refund."""
    (refund,) = w.service.refunds_of(payment_id)
    assert refund.status is RefundStatus.SUCCEEDED
    assert refund.provider_refund_id == w.provider.refunds()[0].id
    assert not [a for a in w.service.attention() if a.kind == "refund_failed"]


def test_a_call_run_again_after_a_crash_and_refused_for_the_api_key_asks_the_list() -> None:
    """With Stripe no send is recorded before the call: a crash after the refund was made
    leaves the flow at its call, and recovery sends it again under the first key. A
    refused API key then says nothing of the first request either."""
    key = err.ProviderConfigurationError("Invalid API Key provided", http_status=401)
    w, payment_id, calls = paid_shop(True, key)
    fid = w.service.start_refund(payment_id, None, None, "rma-crash")
    step(w, fid, 1)  # the call: its answer is held in memory, not yet applied
    w.service.engine.forget_inflight()  # the crash
    w.clock.advance(w.service.config.lease_ms + 1)
    w.service.run_recovery()
    assert len(calls) == 2 and calls[0] == calls[1]  # sent again, same key
    refund_recorded(w, payment_id)
