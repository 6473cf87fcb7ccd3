"""paycore under Stripe's declines and bank debits as the fake now models them: the
confirmation limit that cancels an intent, a decline's error without its client secret,
a processing debit the provider cancels, and refunds made before a debit settled."""

from __future__ import annotations

from tests.support import converged, deliver_webhooks, make_shop, safe

from paycore.flows.checkout import CartItem
from paycore.status import PaymentStatus
from paycore_adapters.fake_methods import DECLINE_LIMIT
from paycore_adapters.harness.bugs import switched_on
from paycore_adapters.memory import Wiring

DECLINED, DEBIT, DEBIT_FAILS = (
    "pm_card_chargeDeclined",
    "pm_successDelayed_de",
    "pm_failedDelayed_de",
)


def _checkout(w: Wiring, session: str) -> tuple[str, str]:
    res = w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
    intent = w.service.payment(res.payment_id).provider_intent_id
    assert intent is not None
    return res.payment_id, intent


def _dashboard_refund(w: Wiring, intent: str, amount: int) -> str:
    view = w.provider.create_refund(
        intent, amount=amount, reason=None, metadata={}, idempotency_key=f"dash-{intent}"
    )
    assert (view.status, view.pending_reason) == ("pending", "charge_pending")
    return view.id


def test_the_confirmation_limit_cancels_the_payment_and_everything_converges() -> None:
    """Stripe cancels an intent after too many declines (the fake: DECLINE_LIMIT): the
    last declined confirmation answers with a canceled payment, the payment stays
    canceled, and once quiet every invariant holds."""
    w = make_shop()
    w.provider.decline_limit = DECLINE_LIMIT
    pid, intent = _checkout(w, "cs_test_declines_limit1")
    results = [w.service.confirm_payment(pid, DECLINED) for _ in range(DECLINE_LIMIT)]
    assert [r.declined is not None for r in results[:-1]] == [True] * (DECLINE_LIMIT - 1)
    assert [r.status for r in results] == ["open"] * (DECLINE_LIMIT - 1) + ["canceled"]
    view = w.provider.retrieve_intent(intent)
    assert (view.status, view.cancellation_reason) == ("canceled", "automatic")
    safe(w)
    converged(w)
    assert w.service.payment(pid).status is PaymentStatus.CANCELED


class TestF02DeclineSecretAtThePort:
    """F2: the client secret of a decline's intent must not cross the port."""

    def test_no_decline_brings_its_secret_across_the_port_unless_the_adapter_forwards_it(
        self,
    ) -> None:
        """The error paycore gets for a decline holds the intent without its client secret;
        with seeded bug F2 (the adapter forwarding Stripe's error as it came) the port's
        check sees the secret."""
        for bug, expected in ((None, []), ("F2", ["intent"])):
            w = make_shop()
            seen: list[str] = []
            w.provider.on_secret = lambda _call, field, seen=seen: seen.append(field)  # type: ignore[attr-defined]
            pid, _ = _checkout(w, f"cs_test_declines_secret_{bug or 'none'}")
            if bug is None:
                w.service.confirm_payment(pid, DECLINED)
            else:
                with switched_on(bug):
                    w.service.confirm_payment(pid, DECLINED)
            assert seen == expected, bug


def test_a_debit_the_provider_cancels_while_processing_cancels_the_payment() -> None:
    """Stripe may cancel a processing debit (rare): its webhook cancels the payment, and
    once quiet every invariant holds."""
    w = make_shop()
    pid, intent = _checkout(w, "cs_test_declines_cancel1")
    assert w.service.confirm_payment(pid, DEBIT).status == "processing"
    deliver_webhooks(w)
    w.provider.cancel_while_processing(intent)
    deliver_webhooks(w)
    assert w.service.payment(pid).status is PaymentStatus.CANCELED
    converged(w)


def test_a_refund_made_before_the_debit_settled_is_recorded_once_it_settles() -> None:
    """A dashboard refund of a debit still processing waits on the charge; the invariants
    hold meanwhile (it is bounded by what the debit will capture) and, once the debit
    succeeded and all is quiet, paycore has recorded it."""
    w = make_shop()
    pid, intent = _checkout(w, "cs_test_declines_refund1")
    w.service.confirm_payment(pid, DEBIT)
    refund = _dashboard_refund(w, intent, 500)
    safe(w)
    w.provider.settle(intent)
    converged(w)
    assert w.service.payment(pid).status is PaymentStatus.SUCCEEDED
    assert w.provider.retrieve_refund(refund).status == "succeeded"
    assert [r.amount.amount for r in w.service.refunds_of(pid)] == [500]


def test_a_refund_of_a_debit_that_failed_is_canceled_and_nothing_is_recorded() -> None:
    """When the debit fails the refund that waited on it is canceled: paycore records no
    refund, the payment is open for another method, and every invariant holds."""
    w = make_shop()
    pid, intent = _checkout(w, "cs_test_declines_refund2")
    w.service.confirm_payment(pid, DEBIT_FAILS)
    refund = _dashboard_refund(w, intent, 1250)
    w.provider.settle(intent)
    converged(w)
    assert w.provider.retrieve_refund(refund).status == "canceled"
    assert w.service.refunds_of(pid) == []
    assert w.service.payment(pid).status is not PaymentStatus.SUCCEEDED
