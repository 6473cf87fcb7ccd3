"""Checkout paths the model rarely reaches: intents the look-up does not list yet, abort's
cancel, key generations.

Each test drives the checkout flow step by step (``step`` runs one engine step: a provider
call, or the transaction that applies its answer) and asserts what a payments engineer
looks at: the payment, order and stock, the provider's intents, and the flow's bookkeeping.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from tests.support import (
    SESSION,
    begin_checkout,
    converged,
    flow_of,
    make_shop,
    mug,
    run,
    safe,
    step,
    with_config,
)

from paycore import errors as E
from paycore import jobs
from paycore import schema as s
from paycore.errors import ProviderUnavailable
from paycore.flows import checkout
from paycore.flows.checkout import CartItem
from paycore.flows.engine import Engine
from paycore.money import MAX_AMOUNT, Money
from paycore.ports import IntentView, ListPage
from paycore.records import Flow
from paycore.status import FlowStatus, OrderStatus, PaymentStatus
from paycore_adapters.harness.faults import FaultKind, FaultPlan
from paycore_adapters.memory import Wiring

FID = checkout.flow_id_for(SESSION)
PAY, ORD = "pay_000001", "ord_000001"
PI_1, PI_2 = "pi_000001", "pi_000002"
WAITING = "intent is processing; waiting for it to settle"


# --- helpers ----------------------------------------------------------------------------


class ListIndex:
    """Intents in ``missing`` are not in the provider's list yet: the request that makes
    them is still on its way (it lands later), or they fall outside the look-up's window
    (the provider's clock runs behind). The list does not lag; the search is never asked."""

    def __init__(self, w: Wiring) -> None:
        self.missing: set[str] = set()
        real = w.provider.list_intents

        def list_intents(**kwargs: Any) -> ListPage[IntentView]:
            page = real(**kwargs)
            return ListPage(tuple(v for v in page.data if v.id not in self.missing), page.has_more)

        w.provider.list_intents = list_intents  # type: ignore[method-assign]


def fail_once(w: Wiring, call: str, phase: str = "before") -> None:
    """The next ``call`` fails with a timeout: before it reaches the provider, or after
    its effect (``phase="after"``: the answer is lost)."""

    def fault(name: str, at: str, key: str | None) -> None:
        if name == call and at == phase:
            w.provider.fault = None
            raise ProviderUnavailable(f"{call}: timeout ({phase})")

    w.provider.fault = fault


def refuse_once(w: Wiring, call: str, error: E.ProviderError) -> None:
    """The next ``call`` is refused with ``error`` before it reaches the provider."""

    def fault(name: str, at: str, key: str | None) -> None:
        if name == call and at == "before":
            w.provider.fault = None
            raise error

    w.provider.fault = fault


def fail_in_turn(w: Wiring, *calls: tuple[str, str]) -> None:
    """Each (call, phase) in turn fails once with a timeout (see :func:`fail_once`)."""
    left = list(calls)

    def fault(name: str, at: str, key: str | None) -> None:
        if left and (name, at) == left[0]:
            left.pop(0)
            if not left:
                w.provider.fault = None
            raise ProviderUnavailable(f"{name}: timeout ({at})")

    w.provider.fault = fault


def lost_and_unlisted(w: Wiring, index: ListIndex, intent_id: str) -> None:
    """A create makes ``intent_id`` and its answer is lost, the replay of its key gets no
    answer, and the list does not show the intent: find waits out the landing bound, then
    goes on to create under a new key."""
    fail_in_turn(w, ("create_intent", "after"), ("create_intent", "before"))
    step(w, FID, 2)  # create: made, its answer lost -> replay
    index.missing.add(intent_id)
    step(w, FID, 2)  # replay: no answer -> find
    step(w, FID, 2)  # find: not listed -> wait, a request may still land
    if flow_of(w, FID).step == "find":
        w.clock.advance(w.service.config.create_landing_ms)
        step(w, FID, 2)  # find: still not listed -> create with a new key generation
    assert flow_of(w, FID).step == "create"
    assert flow_of(w, FID).data["keygen"] >= 1


def run_in_time(w: Wiring, flow_id: str) -> Flow:
    """Step until the flow ends, letting the clock reach each retry's time (bounded)."""
    for _ in range(200):
        flow = flow_of(w, flow_id)
        if flow.status is not FlowStatus.ACTIVE and not w.service.engine.has_inflight(flow_id):
            return flow
        if flow.next_run_at > w.clock.now() and not w.service.engine.has_inflight(flow_id):
            w.clock.advance(flow.next_run_at - w.clock.now())
        w.service.engine.step(flow_id)
    raise AssertionError(f"flow {flow_id} did not end")


def intent_status(w: Wiring, intent_id: str) -> str:
    return w.provider.retrieve_intent(intent_id).status


def order_status(w: Wiring) -> OrderStatus:
    order = w.service.order(ORD)
    assert order is not None
    return order.status


def assert_backed_off(w: Wiring, before: Flow, after: Flow, why: str, at: str) -> None:
    """The step recorded a retry: one more attempt, a later run time, the reason, same step."""
    assert after.status is FlowStatus.ACTIVE
    assert after.step == at
    assert after.attempts == before.attempts + 1
    assert after.last_error == why
    assert after.next_run_at > w.clock.now()


def to_abort_with_hidden_intent(w: Wiring, index: ListIndex) -> None:
    """A create whose answer is lost (pi_000001 exists but the list does not show it), a
    find that sees nothing past the landing bound, a second create the provider refuses:
    the flow is at ``abort``."""
    lost_and_unlisted(w, index, PI_1)
    w.provider.disable_account("acct_1")
    step(w, FID, 2)  # create refused (definite) -> abort
    w.provider.set_account("acct_1")
    assert flow_of(w, FID).step == "abort"
    assert w.service.payment(PAY).status is PaymentStatus.CREATING


# --- abort when the list misses an intent its payment records -----------------------------


def recorded_then_missed(w: Wiring) -> ListIndex:
    """The abort's list showed pi_000001 processing and it was recorded on the payment; the
    next list misses it: the flow must retrieve it instead of giving the stock back."""
    index = ListIndex(w)
    begin_checkout(w)
    to_abort_with_hidden_intent(w, index)
    w.provider.customer_confirm(PI_1, "pm_successDelayed_de")
    index.missing.discard(PI_1)
    step(w, FID, 2)  # abort: sees it processing, records it, waits
    p = w.service.payment(PAY)
    assert (p.status, p.provider_intent_id) == (PaymentStatus.PROCESSING, PI_1)
    assert flow_of(w, FID).last_error == WAITING
    index.missing.add(PI_1)
    step(w, FID, 2)  # abort: the list misses the recorded intent -> sync_recorded
    flow = flow_of(w, FID)
    assert (flow.step, flow.data["recorded"]) == ("sync_recorded", PI_1)
    assert mug(w) == (1, 1, 0), "the stock of a payment that may still succeed stays held"
    assert order_status(w) is OrderStatus.PENDING
    safe(w)
    return index


class TestAbortWithAnUnlistedRecordedIntent:
    def test_recorded_intent_that_succeeded_is_a_sale(self) -> None:
        """The missed intent settled: the retrieve records the payment, the order is paid."""
        w = make_shop(stock=1)
        recorded_then_missed(w)
        w.provider.settle(PI_1, success=True)
        # sync_recorded: retrieve the recorded intent, apply the success -> abort
        reports = [w.service.engine.step(FID) for _ in range(2)]
        assert [(r.step, r.effect) for r in reports] == [
            ("sync_recorded", "call:retrieve_intent"),
            ("sync_recorded", "apply:retrieve_intent"),
        ]
        assert flow_of(w, FID).step == "abort"
        assert w.service.payment(PAY).status is PaymentStatus.SUCCEEDED
        assert order_status(w) is OrderStatus.PAID and mug(w) == (1, 0, 1)
        step(w, FID, 2)  # abort: nothing to cancel, the payment succeeded -> done
        flow = flow_of(w, FID)
        assert flow.status is FlowStatus.SUCCEEDED
        assert flow.result == {"order_id": ORD, "payment_id": PAY}
        assert w.service.payment(PAY).lock_owner is None
        converged(w)

    def test_recorded_intent_still_processing_is_waited_for(self) -> None:
        """The missed intent still processes: the flow backs off and keeps the stock held."""
        w = make_shop(stock=1)
        recorded_then_missed(w)
        before = flow_of(w, FID)
        step(w, FID, 2)
        assert_backed_off(w, before, flow_of(w, FID), WAITING, "sync_recorded")
        assert w.service.payment(PAY).status is PaymentStatus.PROCESSING
        assert mug(w) == (1, 1, 0) and intent_status(w, PI_1) == "processing"
        safe(w)

    def test_retrieve_error_is_retried(self) -> None:
        """The retrieve of the recorded intent fails: the step backs off with the error code."""
        w = make_shop(stock=1)
        recorded_then_missed(w)
        before = flow_of(w, FID)
        fail_once(w, "retrieve_intent")
        step(w, FID, 2)
        assert_backed_off(w, before, flow_of(w, FID), "provider_unavailable", "sync_recorded")
        assert w.service.payment(PAY).status is PaymentStatus.PROCESSING
        safe(w)

    def test_recorded_intent_that_failed_is_canceled_then_stock_released(self) -> None:
        """The debit failed (cancelable again): cancel it, record it, release the stock."""
        w = make_shop(stock=1)
        recorded_then_missed(w)
        w.provider.settle(PI_1, success=False)
        step(w, FID, 2)  # sync_recorded: retrieve -> reopened -> cancel_found
        flow = flow_of(w, FID)
        assert (flow.step, flow.data["cancel_id"]) == ("cancel_found", PI_1)
        assert w.service.payment(PAY).status is PaymentStatus.OPEN
        step(w, FID, 2)  # cancel_found: canceled; the payment owns it: recorded at once
        assert flow_of(w, FID).step == "abort"
        assert intent_status(w, PI_1) == "canceled"
        assert w.service.payment(PAY).status is PaymentStatus.CANCELED
        assert order_status(w) is OrderStatus.CANCELED and mug(w) == (1, 0, 0)
        step(w, FID, 2)  # abort: the list still misses it; the payment is final -> failed
        flow = flow_of(w, FID)
        assert flow.status is FlowStatus.FAILED
        assert flow.result is not None
        assert (flow.result["error"], flow.result["reason"]) == (
            "provider_error",
            "provider_invalid_request",
        )
        converged(w)


# --- abort's cancel of an intent it found ------------------------------------------------


def abort_found_live_intent(w: Wiring) -> ListIndex:
    """The abort's list shows pi_000001, never recorded and still cancelable."""
    index = ListIndex(w)
    begin_checkout(w)
    to_abort_with_hidden_intent(w, index)
    index.missing.clear()
    step(w, FID, 2)  # abort: a live intent -> cancel_found
    flow = flow_of(w, FID)
    assert (flow.step, flow.data["cancel_id"]) == ("cancel_found", PI_1)
    return index


class TestCancelFound:
    def test_ambiguous_cancel_error_is_retried_before_stock_is_released(self) -> None:
        """A timeout on the cancel may or may not have canceled: look again after a backoff
        (a 500 saved under the cancel's key would replay for a day, so the next cancel
        takes a new key), and keep the stock meanwhile."""
        w = make_shop(stock=1)
        abort_found_live_intent(w)
        before = flow_of(w, FID)
        fail_once(w, "cancel_intent")
        step(w, FID, 2)
        after = flow_of(w, FID)
        assert_backed_off(w, before, after, "provider_unavailable", "abort")
        assert after.data["cancel_gen"] == 1
        assert intent_status(w, PI_1) == "requires_payment_method"
        assert mug(w) == (1, 1, 0) and order_status(w) is OrderStatus.PENDING
        step(w, FID, 2)  # the look: still live -> cancel it again, under a new key
        assert flow_of(w, FID).step == "cancel_found"
        step(w, FID, 2)  # the cancel lands; the payment never owned the intent
        assert intent_status(w, PI_1) == "canceled"
        assert flow_of(w, FID).step == "abort"
        assert w.service.payment(PAY).status is PaymentStatus.CREATING
        flow = run(w, FID)
        assert flow.status is FlowStatus.FAILED
        p = w.service.payment(PAY)
        assert (p.status, p.provider_intent_id) == (PaymentStatus.CANCELED, PI_1)
        assert order_status(w) is OrderStatus.CANCELED and mug(w) == (1, 0, 0)
        converged(w)

    def test_a_500_saved_under_the_cancels_key_does_not_hold_the_abort_for_a_day(
        self,
    ) -> None:
        """The cancel answers 500 and Stripe saves it under the key (it replays for 24 h):
        the abort looks again and cancels under a new key, so it ends within its backoff,
        not a day later."""
        w = make_shop(stock=1)
        abort_found_live_intent(w)
        plan = FaultPlan(now=w.clock.now)
        plan.arm(FaultKind.SERVER_ERROR, "cancel_intent")
        w.provider.fault = plan.provider_hook
        step(w, FID, 2)  # 500, saved under the cancel's key
        assert len(plan.poisoned) == 1 and flow_of(w, FID).step == "abort"
        w.clock.advance(w.service.config.backoff_cap_ms)
        assert run(w, FID).status is FlowStatus.FAILED
        assert intent_status(w, PI_1) == "canceled" and mug(w) == (1, 0, 0)

    @pytest.mark.parametrize(
        "error",
        [
            E.ProviderRateLimited("cancel_intent: slow down"),  # nothing done; retry it
            E.ProviderSavedFailure("cancel_intent: 500 saved"),  # may be done; not the key
        ],
        ids=["retryable-definite", "ambiguous-not-retryable"],
    )
    def test_a_cancel_retryable_or_ambiguous_alone_is_backed_off_under_a_new_key(
        self, error: E.ProviderError
    ) -> None:
        """Either property on its own is reason to wait and look again under a new key
        generation: a 429 did nothing but asks to slow down; a saved 500 is not
        retryable under its key, yet the cancel may have landed. Neither is taken as
        the final refusal of a paid intent (which looks again at once)."""
        w = make_shop(stock=1)
        abort_found_live_intent(w)
        before = flow_of(w, FID)
        refuse_once(w, "cancel_intent", error)
        step(w, FID, 2)
        after = flow_of(w, FID)
        assert_backed_off(w, before, after, error.code, "abort")
        assert after.data["cancel_gen"] == 1
        assert mug(w) == (1, 1, 0) and order_status(w) is OrderStatus.PENDING

    def test_each_unanswered_cancel_takes_the_next_key_generation(self) -> None:
        """Two timeouts in a row: the second cancel went under generation 1, so the
        third goes under generation 2 (a 500 saved under the first key must never
        come back); the third lands and the checkout fails with its stock back."""
        w = make_shop(stock=1)
        abort_found_live_intent(w)
        for gen in (1, 2):
            fail_once(w, "cancel_intent")
            step(w, FID, 2)  # the cancel: no answer -> abort after a backoff
            assert flow_of(w, FID).data["cancel_gen"] == gen
            w.clock.advance(w.service.config.backoff_cap_ms)
            step(w, FID, 2)  # the look: still live -> cancel again
            assert flow_of(w, FID).step == "cancel_found"
        assert run(w, FID).status is FlowStatus.FAILED
        assert intent_status(w, PI_1) == "canceled" and mug(w) == (1, 0, 0)
        converged(w)

    def test_definite_refusal_looks_again_and_finds_the_sale(self) -> None:
        """The customer paid before the cancel landed: the refusal is a strike (a refusal
        that lasts must end dead, not loop); the next look-up finds the success and the
        checkout ends as a sale."""
        w = make_shop(stock=1)
        abort_found_live_intent(w)
        before = flow_of(w, FID)
        w.provider.customer_confirm(PI_1, "pm_card_visa")
        step(w, FID, 2)  # cancel_found: refused (succeeded) -> abort, a strike
        after = flow_of(w, FID)
        assert (after.step, after.attempts, after.last_error) == (
            "abort",
            before.attempts + 1,
            "provider_invalid_request",
        )
        assert w.service.payment(PAY).status is PaymentStatus.CREATING
        flow = run(w, FID)
        assert flow.status is FlowStatus.SUCCEEDED
        p = w.service.payment(PAY)
        assert (p.status, p.provider_intent_id) == (PaymentStatus.SUCCEEDED, PI_1)
        assert order_status(w) is OrderStatus.PAID and mug(w) == (1, 0, 1)
        converged(w)

    def test_canceling_a_duplicate_does_not_cancel_the_payment_of_another_intent(self) -> None:
        """Two intents for one payment: canceling the spare one must not mark the payment
        canceled while the one it pays with is still processing."""
        w = make_shop(stock=1)
        index = ListIndex(w)
        begin_checkout(w)
        lost_and_unlisted(w, index, PI_1)
        lost_and_unlisted(w, index, PI_2)
        w.provider.disable_account("acct_1")
        step(w, FID, 2)  # refused -> abort
        w.provider.set_account("acct_1")  # enabled again: the customer's charge can go
        w.provider.customer_confirm(PI_1, "pm_successDelayed_de")
        index.missing.clear()
        step(w, FID, 2)  # abort: pi_000002 is live -> cancel it
        assert flow_of(w, FID).data["cancel_id"] == PI_2
        step(w, FID, 2)  # cancel_found: pi_000002 canceled; the payment does not own it
        assert intent_status(w, PI_2) == "canceled"
        assert w.service.payment(PAY).status is PaymentStatus.CREATING
        assert order_status(w) is OrderStatus.PENDING and mug(w) == (1, 1, 0)
        step(w, FID, 2)  # abort: pi_000001 processing -> recorded, wait
        p = w.service.payment(PAY)
        assert (p.status, p.provider_intent_id) == (PaymentStatus.PROCESSING, PI_1)
        w.provider.settle(PI_1, success=True)
        assert run(w, FID).status is FlowStatus.SUCCEEDED
        assert order_status(w) is OrderStatus.PAID and mug(w) == (1, 0, 1)
        converged(w)

    def test_several_live_intents_are_all_canceled_oldest_first(self) -> None:
        """Two unanswered creates left two cancelable intents: abort cancels both (the
        oldest first) and the payment records the oldest, as find would have adopted."""
        w = make_shop(stock=1)
        index = ListIndex(w)
        begin_checkout(w)
        lost_and_unlisted(w, index, PI_1)
        lost_and_unlisted(w, index, PI_2)
        w.provider.disable_account("acct_1")
        step(w, FID, 2)  # refused -> abort
        index.missing.clear()
        step(w, FID, 2)  # abort: two live intents
        assert flow_of(w, FID).data["cancel_id"] == PI_1
        step(w, FID, 4)  # cancel pi_000001, look again
        assert flow_of(w, FID).data["cancel_id"] == PI_2
        assert run(w, FID).status is FlowStatus.FAILED
        assert [intent_status(w, i) for i in (PI_1, PI_2)] == ["canceled", "canceled"]
        p = w.service.payment(PAY)
        assert (p.status, p.provider_intent_id) == (PaymentStatus.CANCELED, PI_1)
        assert order_status(w) is OrderStatus.CANCELED and mug(w) == (1, 0, 0)
        converged(w)


# --- find: key generations and several intents -------------------------------------------


def record_create_keys(w: Wiring, plan: FaultPlan) -> list[str]:
    """Install ``plan`` and list the idempotency key of every create_intent request."""
    keys: list[str] = []

    def hook(call: str, phase: str, key: str | None) -> None:
        if call == "create_intent" and phase == "before" and key is not None:
            keys.append(key)
        plan.provider_hook(call, phase, key)

    w.provider.fault = hook
    return keys


class TestFindAfterUnansweredCreate:
    @pytest.mark.parametrize("errors", [1, 2])
    def test_saved_server_error_is_escaped_with_a_new_key_generation(self, errors: int) -> None:
        """The provider saved a 500 under the create's key and replays it: the replay gets
        it again, the list shows no intent past the landing bound, and each new create
        uses a key never used before (sent twice: the create and its replay), and
        succeeds."""
        w = make_shop(stock=1)
        plan = FaultPlan(now=w.clock.now)
        for _ in range(errors):
            plan.arm(FaultKind.SERVER_ERROR, "create_intent")
        keys = record_create_keys(w, plan)
        begin_checkout(w)
        flow = run_in_time(w, FID)
        assert flow.status is FlowStatus.SUCCEEDED
        generations = list(dict.fromkeys(keys))
        assert len(generations) == errors + 1
        assert keys == [k for k in generations[:-1] for _ in (1, 2)] + generations[-1:]
        assert set(plan.poisoned) == set(generations[:-1])
        assert [v.id for v in w.provider.intents()] == [PI_1]
        p = w.service.payment(PAY)
        assert (p.status, p.provider_intent_id) == (PaymentStatus.OPEN, PI_1)
        assert flow.data["keygen"] == errors
        converged(w)

    def test_a_lost_answer_is_replayed_under_the_same_key(self) -> None:
        """The create's answer is lost: the replay of its key gets the intent it made (no
        look-up, no second intent)."""
        w = make_shop(stock=1)
        begin_checkout(w)
        fail_once(w, "create_intent", "after")
        step(w, FID, 2)
        assert flow_of(w, FID).step == "replay"
        step(w, FID, 2)
        assert flow_of(w, FID).status is FlowStatus.SUCCEEDED
        assert [v.id for v in w.provider.intents()] == [PI_1]
        assert w.provider.calls["list_intents"] == 0
        assert w.service.payment(PAY).provider_intent_id == PI_1

    def test_a_create_that_never_arrived_is_made_by_the_replay(self) -> None:
        """The create never reached the provider: the replay of its key makes the intent."""
        w = make_shop(stock=1)
        begin_checkout(w)
        fail_once(w, "create_intent")
        step(w, FID, 4)
        assert flow_of(w, FID).status is FlowStatus.SUCCEEDED
        assert [v.id for v in w.provider.intents()] == [PI_1]
        assert flow_of(w, FID).data.get("keygen", 0) == 0

    def test_find_with_nothing_listed_waits_then_backs_off_towards_a_new_create(self) -> None:
        """No intent listed after an unanswered create and replay: the flow waits (no
        strike) until ``create_landing_ms`` passed, then counts a retry and creates again
        under a new key."""
        w = make_shop(stock=1)
        begin_checkout(w)
        fail_in_turn(w, ("create_intent", "before"), ("create_intent", "before"))
        step(w, FID, 4)
        before = flow_of(w, FID)
        assert before.step == "find"
        step(w, FID, 2)
        waiting = flow_of(w, FID)
        why = "no intent listed yet; a request may still land"
        assert_backed_off(w, before, waiting, why, "find")
        assert waiting.data.get("strikes", 0) == before.data.get("strikes", 0)
        w.clock.advance(w.service.config.create_landing_ms)
        step(w, FID, 2)
        after = flow_of(w, FID)
        assert_backed_off(w, waiting, after, "no intent found after an unanswered create", "create")
        assert after.data["keygen"] == 1 and after.data["strikes"] == 1

    def test_an_intent_landing_within_the_bound_is_adopted(self) -> None:
        """The create's request is still on its way when find first lists: the flow waits,
        the request lands, and the next find adopts its intent (no second intent)."""
        w = make_shop(stock=1)
        index = ListIndex(w)
        begin_checkout(w)
        fail_in_turn(w, ("create_intent", "after"), ("create_intent", "before"))
        step(w, FID, 2)
        index.missing.add(PI_1)  # made, but its request has not landed as far as the list goes
        step(w, FID, 4)  # replay: no answer -> find: nothing listed -> wait
        assert flow_of(w, FID).step == "find"
        index.missing.clear()  # it lands
        w.clock.advance(w.service.config.create_landing_ms - 1)
        step(w, FID, 2)
        assert flow_of(w, FID).status is FlowStatus.SUCCEEDED
        assert [v.id for v in w.provider.intents()] == [PI_1]
        assert w.service.payment(PAY).provider_intent_id == PI_1

    def test_a_request_landing_past_the_bound_is_canceled_by_the_reconciler(self) -> None:
        """Nothing bounds when a request whose answer never came may land: one landing after
        the checkout went on under a new key leaves an intent no payment records. It is not
        chargeable (nobody has its secret) and the reconciler's orphan flow cancels it."""
        w = make_shop(stock=1)
        index = ListIndex(w)
        begin_checkout(w)
        lost_and_unlisted(w, index, PI_1)  # pi_000001's request lands only later
        step(w, FID, 2)  # create under the new key: pi_000002, adopted
        assert w.service.payment(PAY).provider_intent_id == PI_2
        index.missing.clear()  # now pi_000001 lands
        assert w.service.run_reconciler()[0] == 1  # one orphan flow started
        w.service.run_recovery()
        assert intent_status(w, PI_1) == "canceled"
        assert intent_status(w, PI_2) == "requires_payment_method"
        assert w.service.payment(PAY).provider_intent_id == PI_2
        converged(w)

    def test_list_error_in_find_is_retried(self) -> None:
        """The list itself fails: the find step backs off with the provider's error code."""
        w = make_shop(stock=1)
        begin_checkout(w)
        fail_in_turn(w, ("create_intent", "after"), ("create_intent", "before"))
        step(w, FID, 4)
        before = flow_of(w, FID)
        assert before.step == "find"
        fail_once(w, "list_intents")
        step(w, FID, 2)
        assert_backed_off(w, before, flow_of(w, FID), "provider_unavailable", "find")
        assert run(w, FID).status is FlowStatus.SUCCEEDED
        assert w.service.payment(PAY).provider_intent_id == PI_1

    @pytest.mark.parametrize("apart_ms", [0, 1_000], ids=["same-second", "later"])
    def test_several_intents_found_the_oldest_is_adopted(self, apart_ms: int) -> None:
        """Two unanswered creates left two intents (created in one second, or a second
        apart): the payment adopts the oldest (first created, then lowest id), and the
        reconciler cancels the other as an orphan."""
        w = with_config(make_shop(stock=1), create_landing_ms=0)
        index = ListIndex(w)
        begin_checkout(w)
        lost_and_unlisted(w, index, PI_1)
        w.clock.advance(apart_ms)
        fail_in_turn(w, ("create_intent", "after"), ("create_intent", "before"))
        step(w, FID, 4)  # pi_000002, answer lost; replay unanswered -> find
        index.missing.clear()
        step(w, FID, 2)  # find: both listed
        views = {v.id: v for v in w.provider.intents()}
        assert (views[PI_1].created == views[PI_2].created) is (apart_ms == 0)
        flow = flow_of(w, FID)
        assert flow.status is FlowStatus.SUCCEEDED
        assert flow.result == {"order_id": ORD, "payment_id": PAY}
        assert w.service.payment(PAY).provider_intent_id == PI_1
        assert w.service.run_reconciler() == (1, 0)
        w.service.run_recovery()
        assert intent_status(w, PI_1) == "requires_payment_method"
        assert intent_status(w, PI_2) == "canceled"
        converged(w)


# --- abort: retries, the error it ends with ----------------------------------------------


class TestAbortOutcome:
    def test_a_seller_refused_at_the_check_fails_at_once_without_a_look(self) -> None:
        """The seller's account cannot charge: no create was sent, so the checkout ends
        without asking the provider anything more: stock released, SellerCannotCharge
        saying what to do."""
        w = make_shop(stock=1)
        begin_checkout(w)
        w.provider.disable_account("acct_1")
        listed = w.provider.calls["list_intents"]
        flow = run(w, FID)
        assert flow.status is FlowStatus.FAILED
        assert w.provider.calls["list_intents"] == listed and w.provider.intents() == []
        blocker = "charges are disabled on account acct_1 (requirements.past_due)"
        assert flow.result == {
            "error": "seller_cannot_charge",
            "message": f"checkout {SESSION} could not create a payment (seller_cannot_charge: "
            f"{blocker}); its stock was released: start a new checkout",
            "reason": "seller_cannot_charge",
            "blocker": blocker,
        }
        assert w.service.payment(PAY).status is PaymentStatus.FAILED
        assert order_status(w) is OrderStatus.CANCELED and mug(w) == (1, 0, 0)
        converged(w)

    def test_abort_list_error_is_retried_then_the_checkout_fails_typed(self) -> None:
        """The seller is switched off in the shop while its intent is made: the abort's
        failed list is retried; then the intent is canceled, the stock released, and
        the checkout fails with SellerCannotCharge."""
        w = make_shop(stock=1)
        begin_checkout(w)
        step(w, FID, 1)  # check the seller and create at once
        w.service.set_charges_enabled("s1", False)
        step(w, FID, 1)  # the intent is not handed out: abort
        before = flow_of(w, FID)
        assert (before.step, before.data["error"]) == ("abort", "seller_cannot_charge")
        fail_once(w, "list_intents")
        step(w, FID, 2)
        assert_backed_off(w, before, flow_of(w, FID), "provider_unavailable", "abort")
        assert mug(w) == (1, 1, 0)
        flow = run(w, FID)
        assert flow.status is FlowStatus.FAILED
        assert flow.result is not None and flow.result["error"] == "seller_cannot_charge"
        assert [i.status for i in w.provider.intents()] == ["canceled"]
        assert w.service.payment(PAY).status is PaymentStatus.CANCELED
        assert order_status(w) is OrderStatus.CANCELED and mug(w) == (1, 0, 0)
        converged(w)

    def test_gave_up_checkout_fails_as_provider_unavailable(self) -> None:
        """A provider that rate-limits every create: the flow compensates, and the caller
        learns the provider was unavailable (not a vague error), stock back on sale."""
        w = with_config(make_shop(stock=1), retry_horizon_ms=0)

        def always_429(call: str, phase: str, key: str | None) -> None:
            if call == "create_intent" and phase == "before":
                raise E.ProviderRateLimited("slow down")

        w.provider.fault = always_429
        begin_checkout(w)
        flow = run(w, FID)
        assert flow.status is FlowStatus.FAILED
        assert flow.result == {
            "error": "provider_error",
            "message": f"checkout {SESSION} could not create a payment (provider_unavailable); "
            "its stock was released: start a new checkout",
            "reason": "provider_unavailable",
        }
        assert [a.kind for a in w.alerts.raised] == ["flow_gave_up"]
        assert order_status(w) is OrderStatus.CANCELED and mug(w) == (1, 0, 0)
        w.provider.fault = None
        converged(w)


# --- begin: what is written, to whom it is leased, what the provider is sent ---------------


class TestBeginRecords:
    def test_new_checkout_flow_is_leased_to_its_creator(self) -> None:
        """Recovery on another worker must not run a checkout its creator is still running."""
        w = make_shop()
        engine = w.service.engine
        begin_checkout(w)
        flow = flow_of(w, FID)
        assert flow.lease_owner == engine.worker_id
        assert flow.lease_until == w.clock.now() + w.service.config.lease_ms
        other = Engine(
            w.store, w.provider, w.clock, w.alerts, w.service.config, engine.defs, "worker-2"
        )
        assert jobs.due_flows(other) == []
        w.clock.advance(w.service.config.lease_ms)
        assert jobs.due_flows(other) == [FID]

    def test_order_and_its_holds_record_seller_lines_and_expiry(self) -> None:
        """The order records its seller and creation time; each line's hold names its line
        (a late success re-holds by line) and expires when the order does."""
        w = make_shop()
        w.clock.advance(5_000)
        start = w.clock.now()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 2), CartItem("p_tee", 1)])
        order = w.service.order(ORD)
        assert order is not None
        assert (order.seller_id, order.created_at) == ("s1", start)
        assert [(line.name, line.seller_id) for line in order.lines] == [
            ("Mug", "s1"),
            ("Tee", "s1"),
        ]
        assert order.expires_at == start + w.service.config.reservation_ttl_ms
        rows = [r for r in w.store.snapshot().rows(s.RESERVATIONS) if r.order_id == ORD]
        assert sorted((r.id, r.line, r.sku, r.quantity, r.expires_at) for r in rows) == [
            (f"{ORD}/0", 0, "SKU-MUG", 2, order.expires_at),
            (f"{ORD}/1", 1, "SKU-TEE", 1, order.expires_at),
        ]

    def test_payment_is_claimed_by_its_checkout_until_the_intent_is_adopted(self) -> None:
        """The payment written by begin names its session, seller account and creation time,
        and is claimed by the checkout flow; adopting the intent releases the claim."""
        w = make_shop()
        w.clock.advance(7_000)
        start = w.clock.now()
        begin_checkout(w)
        p = w.service.payment(PAY)
        assert (p.status, p.order_id, p.checkout_session_id) == (
            PaymentStatus.CREATING,
            ORD,
            SESSION,
        )
        assert (p.seller_account, p.created_at, p.lock_owner) == ("acct_1", start, FID)
        assert run(w, FID).status is FlowStatus.SUCCEEDED
        p = w.service.payment(PAY)
        assert (p.status, p.provider_intent_id, p.lock_owner) == (PaymentStatus.OPEN, PI_1, None)

    def test_seller_check_error_is_retried(self) -> None:
        """The provider cannot say whether the seller may charge: back off, then go on."""
        w = make_shop()
        begin_checkout(w)
        before = flow_of(w, FID)
        fail_once(w, "retrieve_account")
        step(w, FID, 2)
        assert_backed_off(w, before, flow_of(w, FID), "provider_unavailable", "check_seller")
        assert run(w, FID).status is FlowStatus.SUCCEEDED

    def test_a_definite_refusal_of_the_seller_check_is_a_strike(self) -> None:
        """A refusal of the check that says nothing about the seller (not an open
        circuit, not the settings, not an unknown account) is retried after a backoff as
        any failed attempt is, and the checkout goes on once the check answers."""
        w = make_shop()
        begin_checkout(w)
        before = flow_of(w, FID)
        refuse_once(w, "retrieve_account", E.ProviderInvalidRequest("retrieve_account: bad"))
        step(w, FID, 2)
        after = flow_of(w, FID)
        assert_backed_off(w, before, after, "provider_invalid_request", "check_seller")
        assert mug(w)[1] == 1 and order_status(w) is OrderStatus.PENDING  # still held
        w.clock.advance(after.next_run_at - w.clock.now())
        assert run(w, FID).status is FlowStatus.SUCCEEDED

    def test_intent_carries_the_order_and_payment_ids(self) -> None:
        """The provider's intent names session, order and payment, so support and the
        reconciler can trace it back; amount and account are the order's."""
        w = make_shop()
        r = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 2)])
        (view,) = w.provider.intents()
        assert dict(view.metadata) == {
            "checkout_session_id": SESSION,
            "order_id": r.order_id,
            "payment_id": r.payment_id,
            "paycore_installation": w.service.installation_id(),
            "paycore_reference": w.service.payment(r.payment_id).reference,
        }
        assert (view.amount, view.currency) == (2500, "EUR")


class TestCartTotalBounds:
    def test_total_of_the_currency_minimum_is_accepted(self) -> None:
        """The smallest chargeable total, the provider's minimum (EUR 0.50), is a valid
        checkout (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts)."""
        w = make_shop()
        w.service.add_product("p_pin", "s1", "SKU-PIN", "Pin", Money(50, "EUR"))
        w.service.restock("s1", "SKU-PIN", 1)
        r = w.service.create_payment_intent(SESSION, [CartItem("p_pin", 1)])
        assert w.service.payment(r.payment_id).amount == Money(50, "EUR")
        assert w.provider.retrieve_intent(PI_1).amount == 50

    @pytest.mark.parametrize(
        ("price", "qty"),
        [(Money(49, "EUR"), 1), (Money(1, "EUR"), 3), (Money(29, "GBP"), 1), (Money(49, "JPY"), 1)],
    )
    def test_a_total_below_the_currency_minimum_is_refused_before_the_provider(
        self, price: Money, qty: int
    ) -> None:
        """A total the provider would refuse as ``amount_too_small`` (EUR 0.50, GBP 0.30,
        ¥50: JPY has no minor unit) is refused with InvalidAmount naming the minimum;
        nothing is written and the provider is not asked."""
        w = make_shop()
        w.service.add_product("p_pin", "s1", "SKU-PIN", "Pin", price)
        w.service.restock("s1", "SKU-PIN", 5)
        before, calls = w.store.fingerprint(), w.provider.calls.copy()
        with pytest.raises(E.InvalidAmount) as caught:
            w.service.create_payment_intent(SESSION, [CartItem("p_pin", qty)])
        minimum = {"EUR": 50, "GBP": 30, "JPY": 50}[price.currency]
        assert caught.value.fields == {
            "amount": price.amount * qty,
            "currency": price.currency,
            "minimum": minimum,
            "maximum": MAX_AMOUNT,
        }
        assert "minimum" in caught.value.message
        assert w.store.fingerprint() == before
        assert w.provider.calls == calls

    def test_total_of_exactly_the_maximum_is_accepted(self) -> None:
        """MAX_AMOUNT itself is allowed: only totals above it are refused."""
        w = make_shop()
        w.service.add_product("p_gold", "s1", "SKU-GOLD", "Gold", Money(MAX_AMOUNT, "EUR"))
        w.service.restock("s1", "SKU-GOLD", 1)
        r = w.service.create_payment_intent(SESSION, [CartItem("p_gold", 1)])
        assert w.service.payment(r.payment_id).amount == Money(MAX_AMOUNT, "EUR")

    def test_one_over_the_maximum_is_refused_and_nothing_written(self) -> None:
        """MAX_AMOUNT + 1 is refused with InvalidAmount naming the total."""
        w = make_shop()
        w.service.add_product("p_gold", "s1", "SKU-GOLD", "Gold", Money(MAX_AMOUNT, "EUR"))
        w.service.add_product("p_pin", "s1", "SKU-PIN", "Pin", Money(1, "EUR"))
        w.service.restock("s1", "SKU-GOLD", 1)
        w.service.restock("s1", "SKU-PIN", 1)
        before = w.store.fingerprint()
        with pytest.raises(E.InvalidAmount) as caught:
            w.service.create_payment_intent(SESSION, [CartItem("p_gold", 1), CartItem("p_pin", 1)])
        assert caught.value.fields == {
            "amount": MAX_AMOUNT + 1,
            "currency": "EUR",
            "minimum": 50,
            "maximum": MAX_AMOUNT,
        }
        assert str(MAX_AMOUNT + 1) in caught.value.message
        assert w.store.fingerprint() == before


# --- refused carts: typed errors, fields, messages, nothing written -----------------------


def refused(w: Wiring, items: Any, cls: type[E.PaycoreError], session: str = SESSION) -> Any:
    """Check out ``items``: it must raise exactly ``cls`` and change nothing."""
    store, calls = w.store.fingerprint(), w.provider.calls.copy()
    with pytest.raises(cls) as caught:
        w.service.create_payment_intent(session, items)
    assert type(caught.value) is cls
    assert w.store.fingerprint() == store and w.provider.calls == calls
    return caught.value


class TestRefusedCarts:
    @pytest.mark.parametrize(
        "items",
        [
            pytest.param("p_mug", id="string"),
            pytest.param({"product_id": "p_mug", "quantity": 1}, id="mapping"),
        ],
    )
    def test_cart_that_is_not_a_list_is_refused(self, items: Any) -> None:
        """A string or a single mapping is not a cart (a string is iterable, but of letters)."""
        w = make_shop()
        err = refused(w, items, E.InvalidInput)
        assert err.code == "invalid_input"
        assert err.message == "items must be a list of CartItem(product_id, quantity)"

    def test_mapping_items_are_accepted(self) -> None:
        """Items given as mappings with product_id and quantity check out like CartItems."""
        w = make_shop()
        r = w.service.create_payment_intent(SESSION, [{"product_id": "p_mug", "quantity": 2}])
        assert w.service.payment(r.payment_id).amount == Money(2500, "EUR")
        assert mug(w) == (5, 2, 0)

    @pytest.mark.parametrize(
        ("item", "cls", "says", "fields"),
        [
            pytest.param(
                {"quantity": 1},
                E.InvalidInput,
                "product_id must be a non-empty string, got None",
                {},
                id="no-product",
            ),
            pytest.param(
                {"product_id": "p_mug"},
                E.InvalidQuantity,
                "quantity of p_mug must be a whole number of at least 1, got None",
                {"product_id": "p_mug"},
                id="no-quantity",
            ),
            pytest.param(
                CartItem("p_mug", 10_001),
                E.InvalidQuantity,
                "quantity of p_mug exceeds the limit of 10000",
                {"product_id": "p_mug"},
                id="over-limit",
            ),
            pytest.param(
                ("p_mug", 1),
                E.InvalidInput,
                "cart item ('p_mug', 1) is not a CartItem or a mapping",
                {},
                id="tuple",
            ),
        ],
    )
    def test_bad_item_is_refused_naming_it(
        self, item: Any, cls: type[E.PaycoreError], says: str, fields: dict[str, Any]
    ) -> None:
        """Each malformed item gets its typed error, naming the product or the field."""
        w = make_shop()
        err = refused(w, [item], cls)
        assert err.message == says
        assert err.fields == fields

    @pytest.mark.parametrize("pid", ["", 42], ids=["empty", "int"])
    def test_product_id_must_be_a_non_empty_string(self, pid: Any) -> None:
        """An empty or non-string product id is refused before any lookup."""
        err = refused(make_shop(), [{"product_id": pid, "quantity": 1}], E.InvalidInput)
        assert err.message == f"product_id must be a non-empty string, got {pid!r}"

    def test_repeated_product_is_merged_into_one_line(self) -> None:
        """The same product twice is one order line with the summed quantity."""
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1), CartItem("p_mug", 2)])
        order = w.service.order(ORD)
        assert order is not None
        assert [(line.product_id, line.quantity) for line in order.lines] == [("p_mug", 3)]
        assert order.total == Money(3750, "EUR") and mug(w) == (5, 3, 0)

    def test_quantity_at_the_limit_passes_validation(self) -> None:
        """Exactly max_quantity is a valid quantity: the cart then fails on stock, not on it."""
        w = make_shop()
        err = refused(w, [CartItem("p_mug", 10_000)], E.OutOfStock)
        assert err.fields == {
            "seller_id": "s1",
            "sku": "SKU-MUG",
            "available": 5,
            "requested": 10_000,
        }

    def test_number_of_lines_is_limited(self) -> None:
        """A cart may hold max_lines different products, not one more."""
        w = make_shop()
        w.service.config = attrs.evolve(w.service.config, max_lines=1)
        err = refused(w, [CartItem("p_mug", 1), CartItem("p_tee", 1)], E.InvalidInput)
        assert err.message == "a cart holds at most 1 different products"
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1), CartItem("p_mug", 1)])
        assert w.service.payment(PAY).amount == Money(2500, "EUR")

    def test_seller_who_cannot_charge_is_named(self) -> None:
        """A seller whose charges are disabled: SellerCannotCharge names the seller."""
        w = make_shop()
        w.service.set_charges_enabled("s1", False)
        err = refused(w, [CartItem("p_mug", 1)], E.SellerCannotCharge)
        assert err.fields == {"seller_id": "s1"}
        assert err.message == "seller s1 cannot take payments yet; try again later"

    def test_empty_cart_message(self) -> None:
        """An empty cart says what to do."""
        err = refused(make_shop(), [], E.EmptyCart)
        assert err.message == "the cart is empty: add at least one item before paying"

    def test_unknown_and_deleted_products_are_named(self) -> None:
        """ProductNotFound / ProductUnavailable carry the product id and say to remove it."""
        w = make_shop()
        err = refused(w, [CartItem("p_nope", 1)], E.ProductNotFound)
        assert err.fields == {"product_id": "p_nope"}
        assert err.message == "product p_nope does not exist; remove it from the cart"
        w.service.delete_product("p_tee")
        err = refused(w, [CartItem("p_tee", 1)], E.ProductUnavailable)
        assert err.fields == {"product_id": "p_tee"}
        assert err.message == "product p_tee is no longer sold; remove it from the cart"

    def test_cart_mixing_two_sellers_is_refused(self) -> None:
        """One intent pays one seller's account: a two-seller cart is refused, naming both."""
        w = make_shop()
        w.provider.set_account("acct_2")
        w.service.add_seller("s2", "Hat Shop", "acct_2")
        w.service.add_product("p_hat", "s2", "SKU-HAT", "Hat", Money(500, "EUR"))
        w.service.restock("s2", "SKU-HAT", 3)
        err = refused(w, [CartItem("p_mug", 1), CartItem("p_hat", 1)], E.MixedSellerCart)
        assert err.code == "mixed_seller_cart"
        assert err.fields == {"sellers": "s1,s2"}
        assert err.message == (
            "a checkout pays one seller; this cart mixes s1, s2: "
            "split it into one checkout per seller"
        )

    def test_cart_of_two_currencies_is_refused(self) -> None:
        """One intent has one currency: the product in another one is named."""
        w = make_shop()
        w.service.add_product("p_usd", "s1", "SKU-USD", "Cap", Money(900, "USD"))
        w.service.restock("s1", "SKU-USD", 3)
        err = refused(w, [CartItem("p_mug", 1), CartItem("p_usd", 1)], E.CurrencyMismatch)
        assert err.fields == {"product_id": "p_usd"}
        assert err.message == (
            "every product in one checkout must be priced in one currency: "
            "p_usd is in USD, not EUR; split the cart by currency"
        )

    def test_out_of_stock_names_sku_and_counts(self) -> None:
        """OutOfStock says which SKU, how many are left and how many were asked."""
        w = make_shop(stock=2)
        err = refused(w, [CartItem("p_mug", 3)], E.OutOfStock)
        assert err.fields == {"seller_id": "s1", "sku": "SKU-MUG", "available": 2, "requested": 3}
        assert err.message == "only 2 of SKU-MUG left at seller s1, 3 asked"

    def test_malformed_session_id_says_what_a_session_id_is(self) -> None:
        """The message states the format and that one random id is generated per checkout."""
        err = refused(make_shop(), [CartItem("p_mug", 1)], E.InvalidCheckoutSession, "cs_x")
        assert err.message == (
            "checkout_session_id must be 16 to 128 characters of letters, digits, '_' or '-'; "
            "generate one random id per checkout"
        )

    def test_session_reused_for_another_cart_names_session_and_order(self) -> None:
        """A session id is bound to its cart: another cart is refused, naming both."""
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        err = refused(w, [CartItem("p_mug", 2)], E.CheckoutSessionReused)
        assert err.fields == {"checkout_session_id": SESSION, "order_id": ORD}
        assert err.message == (
            f"checkout session {SESSION} already belongs to a different cart; "
            "start a new checkout session for a new cart"
        )

    def test_session_replay_is_accepted_until_its_lifetime_ends(self) -> None:
        """The same cart on the same session returns the same checkout up to the session's
        lifetime, and is refused as expired one millisecond later."""
        w = make_shop()
        w.clock.advance(1_000)
        first = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        w.clock.advance(w.service.config.checkout_session_ttl_ms)
        again = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        assert (again.order_id, again.payment_id, again.replayed) == (
            first.order_id,
            first.payment_id,
            True,
        )
        w.clock.advance(1)
        err = refused(w, [CartItem("p_mug", 1)], E.CheckoutSessionExpired)
        assert err.fields == {"checkout_session_id": SESSION}
        assert err.message == f"checkout session {SESSION} has expired; start a new checkout"
