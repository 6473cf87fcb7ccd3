"""A provider that ignores idempotency keys (an emulator, not Stripe): a checkout's create
retried after a lost answer makes a second intent of the same payment. The reconciler
cancels the extra one, or refunds it in full once charged, and never touches the intent
the payment records."""

from __future__ import annotations

import pytest
from tests.support import (
    begin_checkout,
    converged,
    deliver_webhooks,
    flow_of,
    make_shop,
    mug,
    run,
    step,
    with_config,
)

from paycore import jobs
from paycore.config import Config
from paycore.errors import OperationalError
from paycore.flows.checkout import CartItem
from paycore.flows.params import REFUND_LANDING_MS
from paycore.service import PaymentService
from paycore.status import FlowStatus, PaymentStatus, RefundStatus
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
    """The chaos model on a provider that ignores idempotency keys, paycore told so."""

    told = True

    def make_world(self) -> World:
        config = Config(processing_hold_ms=3_600_000, provider_honours_keys=not self.told)
        world = World(wiring=type(self).wiring, config=config)
        world.w.provider.honours_idempotency_keys = False  # type: ignore[attr-defined]
        return world


class UntoldKeylessShop(KeylessShop):
    """The same provider, paycore configured for Stripe (keys honoured)."""

    told = False


#: What a provider that ignores keys breaks when paycore is not told: a refund whose
#: answer was lost is sent again under its key before its flow looks, so the replay
#: makes a second provider refund (and local refunds may then exceed what was captured);
#: a create whose answer was lost, replayed under its key, makes a second live intent
#: for the session until the reconciler cancels it (seed 0 reaches it since the world's
#: customer acts on others' intents, which moved its draws).
REFUND_REPLAY_GAP = frozenset(
    {
        "one-provider-refund-per-refund",
        "provider-refunds-within-captured",
        "local-refunds-within-captured",
        "one-live-intent-per-session",
    }
)


def keyless_run(seed: int, machine: type[KeylessShop] = KeylessShop) -> set[str]:
    report = run_chaos(seed=seed, examples=40, steps=30, machine=machine, shrink=False)
    assert report.error is None, report.error
    assert report.examples_run > 0
    return {v.invariant for v in report.violations}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_chaos_model_finds_nothing_when_paycore_is_told_keys_are_ignored(seed: int) -> None:
    """Every retried create, confirm, cancel and refund on a provider that makes each
    request anew: with ``provider_honours_keys=False`` no invariant breaks."""
    assert keyless_run(seed) == set()


def test_untold_paycore_breaks_only_the_refund_invariants() -> None:
    """Configured for Stripe on a keyless provider: the extra intents are still canceled
    or refunded and no invariant of payments, orders or stock breaks; what breaks is the
    refund replayed under its key, and a create replayed so is a second live intent for
    its session until the reconciler cancels it (why the setting exists)."""
    assert keyless_run(0, UntoldKeylessShop) <= REFUND_REPLAY_GAP


# --- the refund flow, step by step, on a provider that ignores keys ----------------


def paid(w: Wiring) -> str:
    res = w.service.create_payment_intent("cs_keyless_0000000001", [CartItem("p_mug", 2)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    return res.payment_id


def refund_with_lost_answer(w: Wiring) -> tuple[str, str]:
    """A refund of 1000 whose first call made the refund and lost its answer."""
    pid = paid(w)
    plan = FaultPlan(now=w.clock.now)
    plan.arm(FaultKind.RESPONSE_LOST, "create_refund")
    w.provider.fault = plan.provider_hook
    fid = w.service.start_refund(pid, 1000, None, "rma-lost")
    step(w, fid, 2)  # the call: made, answer lost
    assert plan.fired[FaultKind.RESPONSE_LOST] == 1
    w.provider.fault = None
    assert len(fake_of(w).refunds()) == 1
    return pid, fid


def test_untold_the_replay_of_a_lost_refund_makes_a_second_refund() -> None:
    """The hazard the setting guards against: the replay under the same key is a new
    request to this provider."""
    w = keyless_shop()
    _, fid = refund_with_lost_answer(w)
    assert flow_of(w, fid).step == "replay"
    run(w, fid)
    assert [r.amount for r in fake_of(w).refunds()] == [1000, 1000]


def test_told_the_flow_looks_instead_of_replaying_and_finds_its_refund() -> None:
    w = with_config(keyless_shop(), provider_honours_keys=False)
    pid, fid = refund_with_lost_answer(w)
    calls = w.provider.calls["create_refund"]
    step(w, fid)  # at the replay: it asks first
    assert flow_of(w, fid).step == "resolve"
    assert run(w, fid).status is FlowStatus.SUCCEEDED
    assert w.provider.calls["create_refund"] == calls, "nothing sent again"
    (made,) = fake_of(w).refunds()
    (rf,) = w.service.refunds_of(pid)
    assert (rf.provider_refund_id, rf.status) == (made.id, RefundStatus.SUCCEEDED)
    converged(w)


def test_told_a_refund_that_never_arrived_is_made_once_landing_passed() -> None:
    """Nothing listed: the flow waits out the landing window, then a new key makes the
    refund, once."""
    w = with_config(keyless_shop(), provider_honours_keys=False)
    pid = paid(w)
    plan = FaultPlan(now=w.clock.now)
    plan.arm(FaultKind.PROVIDER_DOWN, "create_refund")
    w.provider.fault = plan.provider_hook
    fid = w.service.start_refund(pid, 1000, None, "rma-never")
    step(w, fid, 2)  # the call: failed before the provider, no answer
    w.provider.fault = None
    step(w, fid, 3)  # replay -> ask first; the list: empty, a request may still land
    flow = flow_of(w, fid)
    assert flow.step == "resolve"
    assert flow.last_error == "no refund listed yet; a request may still land"
    assert fake_of(w).refunds() == []
    w.clock.advance(REFUND_LANDING_MS)
    assert run(w, fid).status is FlowStatus.SUCCEEDED
    assert [r.amount for r in fake_of(w).refunds()] == [1000]
    assert flow_of(w, fid).data["keygen"] == 1
    converged(w)


def test_told_a_lost_create_is_found_and_makes_no_second_intent() -> None:
    w = with_config(keyless_shop(), provider_honours_keys=False)
    plan = FaultPlan(now=w.clock.now)
    plan.arm(FaultKind.RESPONSE_LOST, "create_intent")
    w.provider.fault = plan.provider_hook
    flow = run(w, begin_checkout(w, SESSION))
    assert flow.status is FlowStatus.SUCCEEDED and plan.fired[FaultKind.RESPONSE_LOST] == 1
    (intent,) = fake_of(w).intents()
    assert w.service.payment(flow.result["payment_id"]).provider_intent_id == intent.id


def test_told_a_refund_whose_answer_was_not_kept_asks_before_sending_again() -> None:
    """The call made the refund, then the store failed as its answer was applied: the
    flow still stands at its call, so the send recorded before it sends it to look."""
    w = with_config(keyless_shop(), provider_honours_keys=False)
    pid = paid(w)
    fid = w.service.start_refund(pid, 1000, None, "rma-unkept")
    step(w, fid)  # the send is recorded, the call made: its answer held in memory
    assert flow_of(w, fid).data["sent"] == "call"
    assert len(fake_of(w).refunds()) == 1
    plan = FaultPlan(now=w.clock.now)
    plan.arm(FaultKind.COMMIT_FAILS)
    w.store.faults = plan  # type: ignore[attr-defined]
    with pytest.raises(OperationalError):
        step(w, fid)  # applying the answer: the commit fails, nothing kept
    w.store.faults = None  # type: ignore[attr-defined]
    assert flow_of(w, fid).step == "call"
    assert run(w, fid).status is FlowStatus.SUCCEEDED
    (made,) = fake_of(w).refunds()
    (rf,) = w.service.refunds_of(pid)
    assert rf.provider_refund_id == made.id
    assert "sent" not in flow_of(w, fid).data, "dropped when the flow moved on"
    converged(w)


def test_a_worker_whose_flow_moved_on_records_no_send_and_sends_nothing() -> None:
    """With a provider that ignores keys, a send is recorded before it goes out, and only on
    the version of the flow the worker read: a worker holding a copy that another worker
    has since moved on drops its step (nothing recorded, nothing sent twice)."""
    w = with_config(keyless_shop(), provider_honours_keys=False)
    fid = begin_checkout(w, SESSION)
    for _ in range(10):
        if flow_of(w, fid).step == "create":
            break
        w.service.engine.step(fid)
    stale = flow_of(w, fid)
    assert (stale.status, stale.step) == (FlowStatus.ACTIVE, "create")
    other = PaymentService(
        w.store, w.provider, w.clock, w.alerts, w.notifier, w.service.config, "worker-2"
    )
    w.clock.advance(w.service.config.lease_ms + 1)  # worker-1 stalled: its lease lapsed
    other.engine.step(fid)  # worker-2 records its send and creates the intent
    moved = flow_of(w, fid)
    assert moved.version != stale.version
    creates = w.provider.calls["create_intent"]
    assert creates == 1
    report = w.service.engine.step(fid, stale)  # worker-1, with the copy it read before
    assert report.result == "lease_lost"
    assert w.provider.calls["create_intent"] == creates
    assert len(fake_of(w).intents()) == 1
    assert flow_of(w, fid) == moved
