"""A refund the bank cannot pay back until the customer acts is pending locally: the
invariants take the provider's ``requires_action`` as agreeing with a local ``pending``
(paycore has no status of its own for it), and still fire on a refund that is not."""

from __future__ import annotations

import attrs
from tests.support import make_shop, quiesce

from paycore import invariants as inv
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.invariants import Ledger
from paycore.ports import Snapshot
from paycore.status import RefundStatus
from paycore_adapters.memory import Wiring


def _refund_awaiting_the_customer(w: Wiring) -> str:
    w.provider.refunds_settle_immediately = False
    res = w.service.create_payment_intent("cs_test_refund_action1", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    intent = w.service.payment(res.payment_id).provider_intent_id
    assert intent is not None
    rf = w.provider.create_refund(
        intent, amount=1250, reason=None, metadata={}, idempotency_key="dash-action"
    )
    w.provider.require_refund_action(rf.id)
    quiesce(w)
    return res.payment_id


def test_a_refund_awaiting_the_customer_agrees_with_a_local_pending_one() -> None:
    w = make_shop()
    pid = _refund_awaiting_the_customer(w)
    assert [r.status for r in w.service.refunds_of(pid)] == [RefundStatus.PENDING]
    assert w.violations() == []


def test_a_local_refund_out_of_step_with_one_awaiting_the_customer_is_caught() -> None:
    w = make_shop()
    _refund_awaiting_the_customer(w)
    snap = w.store.snapshot()
    refund = attrs.evolve(next(iter(snap.rows(s.REFUNDS))), status=RefundStatus.SUCCEEDED)
    tables = {name: dict(rows) for name, rows in snap.tables.items()}
    tables[s.REFUNDS.name][refund.id] = refund
    ledger = Ledger(w.provider.intents(), w.provider.refunds(), w.clock.now())
    found = inv.check(Snapshot(tables), ledger, ("safety", "convergence"))
    assert [(v.invariant, v.detail) for v in found if v.subject == refund.id] == [
        ("statuses-agree", "local succeeded, provider requires_action")
    ]
