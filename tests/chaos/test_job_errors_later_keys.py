"""A provider error on a batch job's later key (not the run's first call, which is passed
over whatever the error): the job's own error rule decides whether the run goes on."""

from __future__ import annotations

from tests.chaos.test_job_errors import cursor, fail_first
from tests.support import deliver_webhooks, make_shop

from paycore import jobs
from paycore.errors import ProviderNotFound
from paycore.flows.checkout import CartItem
from paycore_adapters.memory import Wiring


def refunded_payments(w: Wiring, n: int) -> dict[str, int]:
    """``n`` paid orders, each refunded from the provider's dashboard (100 + i), every
    webhook lost: each payment's refunded amount, in the order the scan asks (by id)."""
    amounts = {}
    for i in range(n):
        res = w.service.create_payment_intent(f"cs_test_jobscan{i:04d}", [CartItem("p_mug", 1)])
        w.service.confirm_payment(res.payment_id, "pm_card_visa")
        amounts[res.payment_id] = 100 + i
    deliver_webhooks(w)
    for i, pid in enumerate(amounts):
        intent = w.service.payment(pid).provider_intent_id
        assert intent is not None
        w.provider.create_refund(
            intent, amount=amounts[pid], reason=None, metadata={}, idempotency_key=f"dash-{i}"
        )
    w.provider.take_events()
    return dict(sorted(amounts.items()))


class TestExternalRefundScanLaterKey:
    def test_an_unknown_intent_after_the_first_payment_does_not_end_the_run(self) -> None:
        """The second payment's intent is unknown to the provider (not found: no refunds):
        the same run goes on to the third, records the other two refunds, and its cursor
        moves to the last payment it asked about."""
        w = make_shop()
        amounts = refunded_payments(w, 3)
        first, second, third = amounts
        fail_first(w, "list_refunds", lambda: ProviderNotFound("no such intent"), nth=2)
        assert jobs.find_external_refunds(w.service.engine) == 2
        assert w.provider.calls["list_refunds"] == 3
        assert [r.amount.amount for r in w.service.refunds_of(first)] == [amounts[first]]
        assert w.service.refunds_of(second) == []
        assert [r.amount.amount for r in w.service.refunds_of(third)] == [amounts[third]]
        assert cursor(w, "external_refunds") == third
