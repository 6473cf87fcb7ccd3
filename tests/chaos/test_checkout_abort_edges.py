"""A checkout's abort at its edges: a cancel the provider refuses for good, a refusal
that says nothing of the create sent before it, and a seller check retried before any
create went out.

- A definite refusal of the abort's cancel (a 403 from a restricted key) is a strike:
  the flow backs off, can be abandoned, and, when the refusal lasts, is dead-lettered
  with its alert instead of asking the provider again and again for ever.
- A refused API key (401/403) is checked before the idempotency key, and a replay
  always follows an unanswered create: neither proves that no create can land, so the
  abort waits for one before it releases the stock.
- A seller check retried after a failure, with no create sent, ends the checkout at
  once when the seller turns out unable to charge, as a first check does.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from tests.support import SESSION, flow_of, make_shop, mug

from paycore import errors as E
from paycore import jobs
from paycore.flows.checkout import CartItem
from paycore.status import FlowStatus
from paycore_adapters.memory import Wiring

FID = f"checkout:{SESSION}"


def checkout(w: Wiring) -> None:
    """The customer's checkout call; the flow may end, or be left to recovery."""
    with contextlib.suppress(E.PaycoreError):
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])


def counting(calls: dict[str, int], refuse: dict[str, E.ProviderError | None]) -> Any:
    """A provider fault counting the calls made, and refusing those named in ``refuse``."""

    def fault(name: str, phase: str, key: str | None) -> None:
        if phase != "before":
            return
        calls[name] = calls.get(name, 0) + 1
        err = refuse.get(name)
        if err is not None:
            raise err

    return fault


# --- 3: a cancel refused for good ---------------------------------------------------


def aborts_with_a_live_intent(w: Wiring, calls: dict[str, int]) -> None:
    """The shop switches the seller off while the create is in flight: the checkout goes
    to its abort with a live intent, whose cancel the provider refuses (403) for good."""
    refuse: dict[str, E.ProviderError | None] = {
        "cancel_intent": E.ProviderConfigurationError("cancel_intent: 403 (this key may not)")
    }
    count = counting(calls, refuse)

    def fault(name: str, phase: str, key: str | None) -> None:
        if name == "create_intent" and phase == "after":
            w.service.set_charges_enabled("s1", False)
        count(name, phase, key)

    w.provider.fault = fault
    checkout(w)


class TestCancelRefusedForGood:
    def test_a_refused_cancel_is_a_strike_with_a_backoff(self) -> None:
        """One refusal costs a strike and a backoff: the run stops there instead of
        asking again at once."""
        w = make_shop()
        calls: dict[str, int] = {}
        aborts_with_a_live_intent(w, calls)
        flow = flow_of(w, FID)
        assert flow.status is FlowStatus.ACTIVE
        assert calls["cancel_intent"] == 1
        assert flow.attempts == 1
        assert flow.last_error == "provider_configuration"
        assert flow.next_run_at > w.clock.now()

    def test_the_operator_may_abandon_it_once_it_failed(self) -> None:
        """The strike makes it a retrying flow (``attempts > 0``): the abandon guard,
        which refuses a flow that never failed, lets the operator act on it."""
        w = make_shop()
        aborts_with_a_live_intent(w, {})
        w.clock.advance(w.service.config.lease_ms + 1)
        flow = w.service.abandon_flow(FID)  # accepted (it then runs its compensation)
        assert flow.data["compensating"] is True
        assert flow.status is FlowStatus.ACTIVE

    def test_a_refusal_that_lasts_ends_dead_lettered_with_its_alert(self) -> None:
        """Strikes, the give-up into the compensation, strikes again, then the dead
        letter: a bounded number of cancels, and an operator is told."""
        w = make_shop()
        calls: dict[str, int] = {}
        aborts_with_a_live_intent(w, calls)
        cfg = w.service.config
        for _ in range(4 * cfg.max_attempts):
            if flow_of(w, FID).status is not FlowStatus.ACTIVE:
                break
            w.clock.advance(cfg.backoff_cap_ms + cfg.lease_ms)
            w.service.run_recovery()
        assert flow_of(w, FID).status is FlowStatus.DEAD
        assert calls["cancel_intent"] <= 2 * cfg.max_attempts
        dead = [a.fields["flow_id"] for a in w.alerts.raised if a.kind == "flow_dead_lettered"]
        assert dead == [FID]
        assert mug(w) == (5, 1, 0)  # the intent is live: the stock stays held

    def test_once_the_cancel_goes_through_the_abort_closes(self) -> None:
        """The settings fixed, the next round cancels the intent; the lookup then finds
        nothing left to cancel, and the checkout closes with its stock released."""
        w = make_shop()
        calls: dict[str, int] = {}
        aborts_with_a_live_intent(w, calls)
        w.provider.fault = None
        w.clock.advance(w.service.config.backoff_cap_ms + w.service.config.lease_ms)
        w.service.run_recovery()
        assert flow_of(w, FID).status is FlowStatus.FAILED
        assert [i.status for i in w.provider.intents()] == ["canceled"]
        assert mug(w) == (5, 0, 0)

    def test_a_refusal_because_the_intent_moved_on_is_settled_by_the_lookup(self) -> None:
        """The cancel is refused because the intent is no longer cancelable (canceled
        meanwhile): after the strike's backoff the lookup sees that and closes."""
        w = make_shop()
        calls: dict[str, int] = {}
        refuse: dict[str, E.ProviderError | None] = {}
        count = counting(calls, refuse)

        def fault(name: str, phase: str, key: str | None) -> None:
            if name == "create_intent" and phase == "after":
                w.service.set_charges_enabled("s1", False)
            if name == "cancel_intent" and phase == "before":
                (intent,) = w.provider.intents()
                w.provider.fault = None
                w.provider.cancel_intent(intent.id, idempotency_key="elsewhere")
                w.provider.fault = fault
                refuse["cancel_intent"] = E.ProviderInvalidRequest("already canceled")
            count(name, phase, key)

        w.provider.fault = fault
        checkout(w)
        w.clock.advance(w.service.config.backoff_cap_ms + w.service.config.lease_ms)
        w.service.run_recovery()
        assert flow_of(w, FID).status is FlowStatus.FAILED
        assert calls["cancel_intent"] == 1
        assert mug(w) == (5, 0, 0)


# --- 6: a refusal at the replay, or of the API key ----------------------------------


@pytest.mark.parametrize(
    "refusal",
    [
        E.ProviderConfigurationError("create_intent: 401 (invalid API key)"),
        E.ProviderInvalidRequest("create_intent: 400"),
    ],
    ids=["key_refused", "invalid_request"],
)
def test_a_refused_replay_waits_for_the_first_create(refusal: E.ProviderError) -> None:
    """The create goes unanswered (still in flight), and its replay is refused: the
    first create may still land, so the abort waits for it instead of releasing the
    stock, and cancels it once it lands; no orphan is left to the reconciler."""
    w = make_shop()
    w.provider.hold_next("create_intent")
    calls: dict[str, int] = {}
    w.provider.fault = counting(calls, {})
    refuse_second = counting(calls, {})

    def fault(name: str, phase: str, key: str | None) -> None:
        refuse_second(name, phase, key)
        if name == "create_intent" and phase == "before" and calls[name] == 2:
            raise refusal

    w.provider.fault = fault
    checkout(w)
    flow = flow_of(w, FID)
    assert flow.status is FlowStatus.ACTIVE, flow.result
    assert flow.step == "abort"
    assert mug(w) == (5, 1, 0)
    w.provider.fault = None
    (landed,) = w.provider.release_requests()
    w.clock.advance(w.service.config.backoff_cap_ms + w.service.config.lease_ms)
    w.service.run_recovery()
    flow = flow_of(w, FID)
    assert flow.status is FlowStatus.FAILED
    assert flow.result["reason"] == refusal.code
    assert [(i.id, i.status) for i in w.provider.intents()] == [(landed.id, "canceled")]
    assert mug(w) == (5, 0, 0)
    assert jobs.reconcile(w.service.engine) == []


def test_a_refused_key_at_the_first_create_still_closes_at_once() -> None:
    """A new checkout whose one create was refused for its API key sent nothing that can
    land: it fails at once with the typed error, its stock released."""
    w = make_shop()
    calls: dict[str, int] = {}
    refuse: dict[str, E.ProviderError | None] = {
        "create_intent": E.ProviderConfigurationError("create_intent: 401")
    }
    w.provider.fault = counting(calls, refuse)
    with pytest.raises(E.ProviderConfigurationError):
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    assert mug(w) == (5, 0, 0)
    assert calls.get("list_intents", 0) == 1  # the abort's one look, no wait


# --- 7: a seller check retried before any create ------------------------------------


def test_a_retried_seller_check_that_finds_the_seller_unable_closes_at_once() -> None:
    """A 503 on the first seller check (no create sent), then the account can no longer
    charge: recovery ends the checkout at once, stock released, no intent looked for."""
    w = make_shop()
    calls: dict[str, int] = {}
    refuse: dict[str, E.ProviderError | None] = {
        "retrieve_account": E.ProviderUnavailable("retrieve_account: 503")
    }
    w.provider.fault = counting(calls, refuse)
    with pytest.raises(E.FlowPending):
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    refuse.clear()
    w.provider.set_account("acct_1", charges_enabled=False, disabled_reason="rejected.fraud")
    w.clock.advance(w.service.config.backoff_cap_ms + w.service.config.lease_ms)
    w.service.run_recovery()
    flow = flow_of(w, FID)
    assert flow.status is FlowStatus.FAILED
    assert flow.result["error"] == "seller_cannot_charge"
    assert mug(w) == (5, 0, 0)
    assert calls == {"retrieve_account": 2}


def test_a_retried_check_after_a_lost_create_still_looks() -> None:
    """The first check went on at once to a create whose answer was lost (a crash); the
    check run again fails once (503), then finds the seller unable: the lost create's
    intent is found and canceled before the checkout closes."""
    w = make_shop()
    fid = w.service.start_checkout(SESSION, [CartItem("p_mug", 1)], chain=True)
    report = w.service.engine.step(fid)
    assert report.effect == "call:retrieve_account+create_intent"
    w.service.engine.forget_inflight()
    refuse: dict[str, E.ProviderError | None] = {
        "retrieve_account": E.ProviderUnavailable("retrieve_account: 503")
    }
    w.provider.fault = counting({}, refuse)
    w.clock.advance(w.service.config.lease_ms + 1)
    w.service.run_recovery()
    assert flow_of(w, fid).step == "check_seller"
    refuse.clear()
    w.provider.set_account("acct_1", charges_enabled=False)
    w.clock.advance(w.service.config.backoff_cap_ms + w.service.config.lease_ms)
    w.service.run_recovery()
    assert flow_of(w, fid).status is FlowStatus.FAILED
    assert [i.status for i in w.provider.intents()] == ["canceled"]
    assert mug(w) == (5, 0, 0)
    assert jobs.reconcile(w.service.engine) == []


class TestACheckoutRunLater:
    """``start_checkout`` then ``run_flow`` (or recovery): the run takes the flow first, so
    its seller check never went on to a create: nothing to wait for or replay."""

    def test_on_a_provider_that_ignores_keys_it_completes_in_one_run(self) -> None:
        from paycore.config import Config

        w = make_shop(config=Config(provider_honours_keys=False))
        fid = w.service.start_checkout(SESSION, [CartItem("p_mug", 1)])
        assert w.service.run_flow(fid).status is FlowStatus.SUCCEEDED
        assert len(w.provider.intents()) == 1

    def test_a_refused_create_fails_at_once_with_its_error(self) -> None:
        w = make_shop()
        fid = w.service.start_checkout(SESSION, [CartItem("p_mug", 1)])
        refuse: dict[str, E.ProviderError | None] = {
            "create_intent": E.ProviderInvalidRequest("amount: too small", param="amount")
        }
        w.provider.fault = counting({}, refuse)
        with pytest.raises(E.ProviderError, match="provider_invalid_request"):
            w.service.run_flow(fid)
        assert flow_of(w, fid).status is FlowStatus.FAILED
        assert mug(w) == (5, 0, 0)  # the stock is back at once
