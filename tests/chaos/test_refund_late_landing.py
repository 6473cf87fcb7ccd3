"""A refund request that lands after its flow moved to a new key.

The refund flow moves to a new key generation only once ``landing_ms`` passed with no
refund of its own listed (:mod:`paycore.flows.refund_recovery`): by then a request of the
old key should have landed or never will. A request held up longer than that still
lands. Two things must hold then:

when the late refund took what the new key's call asked for, the provider refuses the
new call; that refusal is no proof that the money was not returned, so the flow asks the
list, finds its refund and records it (it does not fail the refund and alert the shop to
refund again, which would pay the customer twice).
"""

from __future__ import annotations

from typing import Any

from tests.support import SESSION, converged, deliver_webhooks, flow_of, make_shop, run, step

from paycore import errors as err
from paycore.flows.checkout import CartItem
from paycore.flows.params import REFUND_LANDING_MS
from paycore.ports import RefundView
from paycore.records import Refund
from paycore.status import FlowStatus, OrderStatus, RefundStatus
from paycore_adapters.memory import Wiring


class HeldRequests:
    """Wraps the fake's ``create_refund``: a request under a first-generation key is sent
    but held on its way (the caller gets no answer); ``land`` delivers it later."""

    def __init__(self, w: Wiring) -> None:
        self.inner = w.provider.create_refund
        self.held: list[tuple[str, dict[str, Any]]] = []
        w.provider.create_refund = self  # type: ignore[method-assign,assignment]

    def __call__(self, intent_id: str, **kw: Any) -> RefundView:
        if kw["idempotency_key"].endswith(":refund:0"):
            self.held.append((intent_id, kw))
            raise err.ProviderUnavailable("create_refund: timed out")
        return self.inner(intent_id, **kw)

    def land(self) -> RefundView:
        intent_id, kw = self.held.pop(0)
        return self.inner(intent_id, **kw)


def paid(w: Wiring) -> tuple[str, str]:
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    return res.order_id, res.payment_id


def to_second_key(w: Wiring, fid: str) -> None:
    """The call and its replay go unanswered; the list shows nothing past the landing
    window: the flow stands at the call with a new key."""
    step(w, fid, 2)  # call, unanswered -> replay
    step(w, fid, 2)  # replay, unanswered -> resolve
    w.clock.advance(REFUND_LANDING_MS)
    step(w, fid, 2)  # nothing listed, and no request can land any more: a new key
    flow = flow_of(w, fid)
    assert (flow.step, flow.data["keygen"]) == ("call", 1)


def the_refund(w: Wiring, payment_id: str) -> Refund:
    (refund,) = [r for r in w.service.refunds_of(payment_id) if r.id == "rf_000001"]
    return refund


def test_a_new_key_refused_because_the_old_one_landed_finds_the_refund() -> None:
    w = make_shop()
    oid, pid = paid(w)
    requests = HeldRequests(w)
    fid = w.service.start_refund(pid, None, None, "rma-late")
    to_second_key(w, fid)
    late = requests.land()  # the first request lands now, and refunds everything
    assert late.status == "succeeded"
    w.clock.advance(w.service.config.backoff_cap_ms)
    flow = run(w, fid)  # the new key's call is refused: nothing is left to refund
    assert flow.status is FlowStatus.SUCCEEDED
    refund = the_refund(w, pid)
    assert (refund.status, refund.provider_refund_id) == (RefundStatus.SUCCEEDED, late.id)
    assert not [a for a in w.service.attention() if a.kind == "refund_failed"]
    deliver_webhooks(w)
    payment = w.service.payment(pid)
    assert payment is not None and payment.amount_refunded == payment.amount_received
    order = w.service.order(oid)
    assert order is not None and order.status is OrderStatus.REFUNDED
    assert [r.id for r in w.provider.refunds()] == [late.id]
    converged(w)


def test_a_new_key_refused_with_nothing_listed_fails_the_refund_at_once() -> None:
    """The first key's request never lands; the new key's call is refused outright. The
    list, asked once, shows no refund of this one's: the refusal stands, and the refund
    fails with the provider's error, without waiting out another landing window or
    trying a third key."""
    w = make_shop()
    _, pid = paid(w)
    requests = HeldRequests(w)
    fid = w.service.start_refund(pid, None, None, "rma-refused")
    to_second_key(w, fid)
    keys: list[str] = []

    def refused(intent_id: str, **kw: Any) -> RefundView:
        keys.append(kw["idempotency_key"])
        raise err.ProviderInvalidRequest("This charge cannot be refunded (card closed).")

    requests.inner = refused
    lists = w.provider.calls["list_refunds"]
    w.clock.advance(w.service.config.backoff_cap_ms)
    flow = run(w, fid)
    assert (flow.status, flow.step) == (FlowStatus.FAILED, "resolve")
    assert flow.result is not None and flow.result["error"] == "provider_invalid_request"
    assert "card closed" in flow.result["message"]  # the provider's words, kept
    assert [k.rsplit(":", 1)[-1] for k in keys] == ["1"]  # the second key, once
    assert w.provider.calls["list_refunds"] == lists + 1
    assert the_refund(w, pid).status is RefundStatus.FAILED
    assert [a.kind for a in w.service.attention()].count("refund_failed") == 1


def test_the_first_key_refused_fails_the_refund_without_asking() -> None:
    """Under the first key nothing earlier can have landed: a refusal fails the refund
    at once, without a list."""
    w = make_shop()
    _, pid = paid(w)

    def refused(intent_id: str, **kw: Any) -> RefundView:
        raise err.ProviderInvalidRequest("This charge cannot be refunded (card closed).")

    w.provider.create_refund = refused  # type: ignore[method-assign,assignment]
    flow = run(w, w.service.start_refund(pid, None, None, "rma-first"))
    assert (flow.status, flow.step) == (FlowStatus.FAILED, "call")
    assert w.provider.calls["list_refunds"] == 0
    assert the_refund(w, pid).status is RefundStatus.FAILED
