"""A step that sends its request again under the same key (a flow's ``resends``: a
refund's or a checkout's replay) counts the key's age from the step that first used it.

The engine applies a call's outcome after the call (a worker applies it at once; a
slow answer, or a harness interleaving, later). Moving to the replay used to restart
the key's clock at the apply, so an answer applied a day after its request went out
was replayed under a key the provider had forgotten: a second refund, or a second
intent. The replay must ask first instead (F4's rule, for the key it actually sends).
"""

from __future__ import annotations

from tests.support import make_shop

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.status import FlowStatus
from paycore_adapters.fake_limits import IDEMPOTENCY_KEPT_MS


def test_a_refund_replayed_a_day_after_its_call_went_out_asks_first() -> None:
    w = make_shop()
    res = w.service.create_payment_intent("cs_key_age_000001", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    fid = w.service.start_refund(res.payment_id, 500, idempotency_key="rk-age-1")
    eng = w.service.engine
    w.provider.hold_next("create_refund")
    assert eng.step(fid).result == "provider_unavailable"  # its answer never came
    w.provider.release_requests()  # ... but the request landed: 500 refunded
    w.clock.advance(IDEMPOTENCY_KEPT_MS + 1)  # the answer is applied a day later
    for _ in range(10):
        if eng.step(fid).result == "inactive":
            break
    flow = w.store.snapshot().get(s.FLOWS, fid)
    assert flow is not None and flow.status is FlowStatus.SUCCEEDED
    (made,) = w.provider.refunds()
    assert made.amount == 500
    assert w.service.refunds_of(res.payment_id)[0].provider_refund_id == made.id
    assert not w.violations("safety")


def test_a_create_replayed_a_day_after_it_went_out_asks_first() -> None:
    w = make_shop()
    fid = w.service.start_checkout("cs_key_age_000002", [CartItem("p_mug", 1)], chain=True)
    eng = w.service.engine
    w.provider.hold_next("create_intent")
    eng.step(fid)  # the seller check and the create; the create's answer never came
    w.provider.release_requests()  # ... but it landed: one intent
    w.clock.advance(IDEMPOTENCY_KEPT_MS + 1)
    for _ in range(10):
        if eng.step(fid).result == "inactive":
            break
    assert len(w.provider.intents()) == 1
    assert not w.violations("safety")
