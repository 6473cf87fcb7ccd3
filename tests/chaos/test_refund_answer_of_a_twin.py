"""A new key's answer that is a second provider refund of a refund already holding one.

A refund whose call went unanswered is sent again under a new key once its landing
window passed. If the first request lands after all and its webhook records its
provider refund on the local refund before the new key's answer is applied, that
answer is the refund made a second time: it is recorded as such
(``refund_made_twice``), and the local refund keeps following its own provider
refund, never the other's status.
"""

from __future__ import annotations

import pytest
from tests.support import deliver_webhooks, make_shop

from paycore import schema as s
from paycore.flows import refunds
from paycore.flows.checkout import CartItem
from paycore.status import RefundStatus


@pytest.mark.parametrize("bank_fails_it", [True, False])
def test_the_second_refund_is_recorded_as_made_twice_not_applied_to_the_first(
    bank_fails_it: bool,
) -> None:
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_twin000001", [CartItem("p_mug", 2)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    deliver_webhooks(w)
    w.service.create_refund(r.payment_id, 1000, idempotency_key="rma-1")
    deliver_webhooks(w)
    (mine,) = w.service.refunds_of(r.payment_id)
    first = w.provider.retrieve_refund(mine.provider_refund_id or "")
    # The same request again under another key: the provider makes a second refund
    # (which the bank may fail at once: applied to ``mine``, it would fail ``mine``).
    twin = w.provider.create_refund(
        first.intent_id,
        amount=1000,
        reason=None,
        metadata=dict(first.metadata),
        idempotency_key="rma-1-new-key",
    )
    if bank_fails_it:
        w.provider.fail_refund(twin.id)
    w.provider.take_events()  # its webhooks are not in yet
    answer = w.provider.retrieve_refund(twin.id)
    flow_id = f"refund:{mine.id}"

    def apply(u: object) -> None:
        flow = w.store.snapshot().get(s.FLOWS, flow_id)
        assert flow is not None
        refunds._after_call(u, flow, answer)  # type: ignore[arg-type]

    w.service.engine.transact(apply, flow_id)
    after = {x.id: x for x in w.service.refunds_of(r.payment_id)}
    assert after[mine.id].provider_refund_id == first.id
    assert after[mine.id].status is RefundStatus.SUCCEEDED
    alerts = {(a.kind, a.subject) for a in w.store.snapshot().rows(s.ALERTS) if a.open}
    recorded = [x for x in after.values() if x.provider_refund_id == twin.id]
    bad = [(v.invariant, v.subject) for v in w.violations("safety")]
    if bank_fails_it:  # first seen failed: no money moved, nothing to record
        assert recorded == [] and ("refund_made_twice", twin.id) not in alerts
        assert bad == []
    else:  # the money went back twice: recorded, told, and the invariant says so
        assert [(x.external, x.status) for x in recorded] == [(True, RefundStatus.SUCCEEDED)]
        assert ("refund_made_twice", twin.id) in alerts
        assert bad == [("one-provider-refund-per-refund", mine.id)]
