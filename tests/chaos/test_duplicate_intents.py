"""A provider that ignores idempotency keys (an emulator, not Stripe): a checkout's create
retried after a lost answer makes a second intent of the same payment. The reconciler
cancels the extra one, or refunds it in full once charged, and never touches the intent
the payment records."""

from __future__ import annotations

import pytest
from tests.support import begin_checkout, converged, deliver_webhooks, make_shop, mug, run

from paycore import jobs
from paycore.status import FlowStatus, PaymentStatus
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.harness.faults import FaultKind, FaultPlan
from paycore_adapters.harness.model import PaycoreMachine
from paycore_adapters.harness.runner import run_chaos
from paycore_adapters.harness.world import World
from paycore_adapters.memory import Wiring

SESSION = "cs_test_dupes00001"


def keyless_shop() -> Wiring:
    w = make_shop(stock=3)
    fake = w.provider.inner  # type: ignore[attr-defined]
    assert isinstance(fake, FakeProvider)
    fake.honours_idempotency_keys = False
    return w


def fake_of(w: Wiring) -> FakeProvider:
    fake = w.provider.inner  # type: ignore[attr-defined]
    assert isinstance(fake, FakeProvider)
    return fake


def checkout_with_lost_create(w: Wiring) -> tuple[str, str, str]:
    """The payment, its intent and the extra intent the retried create made."""
    plan = FaultPlan(now=w.clock.now)
    plan.arm(FaultKind.RESPONSE_LOST, "create_intent")
    w.provider.fault = plan.provider_hook
    flow = run(w, begin_checkout(w, SESSION))
    assert flow.status is FlowStatus.SUCCEEDED and plan.fired[FaultKind.RESPONSE_LOST] == 1
    w.provider.fault = None
    intents = fake_of(w).intents()
    assert len(intents) == 2, "the retried create made a second intent"
    (pay,) = {i.metadata["payment_id"] for i in intents}  # both made for one payment
    mine = w.service.payment(pay).provider_intent_id
    assert mine is not None
    (extra,) = [i.id for i in intents if i.id != mine]
    return pay, mine, extra


def status_of(w: Wiring, intent_id: str) -> str:
    return w.provider.retrieve_intent(intent_id).status


def test_honouring_keys_is_the_default_and_a_retry_replays() -> None:
    """Stripe's behaviour is the default: the same retried create makes one intent."""
    w = make_shop(stock=3)
    assert fake_of(w).honours_idempotency_keys
    plan = FaultPlan(now=w.clock.now)
    plan.arm(FaultKind.RESPONSE_LOST, "create_intent")
    w.provider.fault = plan.provider_hook
    assert run(w, begin_checkout(w, SESSION)).status is FlowStatus.SUCCEEDED
    assert len(fake_of(w).intents()) == 1


def test_the_extra_intent_is_canceled_and_the_payment_keeps_its_own() -> None:
    w = keyless_shop()
    pay, mine, extra = checkout_with_lost_create(w)
    found = jobs.reconcile(w.service.engine)
    assert found == [f"orphan:{extra}"]
    run(w, found[0])
    assert status_of(w, extra) == "canceled"
    assert status_of(w, mine) == "requires_payment_method"
    w.service.confirm_payment(pay, "pm_card_visa")
    deliver_webhooks(w)
    assert w.service.payment(pay).status is PaymentStatus.SUCCEEDED
    assert status_of(w, mine) == "succeeded"
    converged(w)
    charged = [i for i in fake_of(w).intents() if i.status == "succeeded"]
    assert [i.id for i in charged] == [mine] and charged[0].amount == 1250
    assert mug(w) == (3, 0, 1), "one mug sold, none held"


def test_an_extra_intent_the_customer_paid_is_refunded_in_full() -> None:
    """A customer could confirm the extra intent too (its client secret left the
    provider): both are charged, the reconciler refunds the extra one in full."""
    w = keyless_shop()
    pay, mine, extra = checkout_with_lost_create(w)
    w.service.confirm_payment(pay, "pm_card_visa")
    fake_of(w).customer_confirm(extra, "pm_card_visa")
    deliver_webhooks(w)
    found = jobs.reconcile(w.service.engine)
    assert found == [f"orphan:{extra}"]
    run(w, found[0])
    converged(w)
    refunds = fake_of(w).refunds()
    assert [(r.intent_id, r.amount, r.status) for r in refunds] == [(extra, 1250, "succeeded")]
    assert status_of(w, mine) == "succeeded"
    assert w.service.payment(pay).status is PaymentStatus.SUCCEEDED
    kept = sum(i.amount_received for i in fake_of(w).intents() if i.status == "succeeded") - sum(
        r.amount for r in refunds
    )
    assert kept == 1250, "the money is kept once"
    assert mug(w) == (3, 0, 1), "one mug sold, none held"


class KeylessShop(PaycoreMachine):
    """The chaos model on a provider that ignores idempotency keys."""

    def make_world(self) -> World:
        world = super().make_world()
        world.w.provider.honours_idempotency_keys = False  # type: ignore[attr-defined]
        return world


#: What a provider that ignores keys breaks that paycore does not guard yet: a refund
#: whose answer was lost is replayed under its key before its flow looks, so the replay
#: makes a second provider refund (and local refunds may then exceed what was captured).
REFUND_REPLAY_GAP = frozenset({"one-provider-refund-per-refund", "refunds-within-captured"})


def keyless_run(seed: int) -> set[str]:
    report = run_chaos(seed=seed, examples=40, steps=30, machine=KeylessShop, shrink=False)
    assert report.error is None, report.error
    assert report.examples_run > 0
    return {v.invariant for v in report.violations}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_chaos_model_breaks_no_intent_invariant_when_keys_are_ignored(seed: int) -> None:
    """Every retried create, confirm, cancel and refund runs again: the extra intents are
    canceled or refunded and no invariant of payments, intents, orders or stock breaks
    (the default run, keys honoured, is unchanged)."""
    assert keyless_run(seed) <= REFUND_REPLAY_GAP


@pytest.mark.xfail(
    strict=True,
    reason="the refund flow replays a create_refund whose answer was lost before it looks; "
    "on a provider that ignores keys the replay is a second refund (not fixed yet)",
)
def test_the_chaos_model_finds_nothing_when_keys_are_ignored() -> None:
    assert keyless_run(0) == set()
