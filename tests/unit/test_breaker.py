"""The provider's circuit breaker (seed finding A5): new checkouts fail fast in an
outage, recovery keeps asking, the first answer closes it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from tests.support import make_shop

from paycore import schema as s
from paycore.errors import (
    FlowPending,
    InvalidInput,
    ProviderCircuitOpen,
    ProviderError,
    ProviderInvalidRequest,
    ProviderUnavailable,
)
from paycore.flows.checkout import CartItem
from paycore.status import OrderStatus, ReservationStatus
from paycore_adapters.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, BreakerProvider
from paycore_adapters.memory import Wiring

RESET_MS = 30_000


def down(call: str, phase: str, key: str | None) -> None:
    if phase == "before":
        raise ProviderUnavailable(f"{call}: connection refused")


def shop(fail_max: int = 3) -> tuple[Wiring, Breaker]:
    w = make_shop()
    breaker = Breaker(w.clock, fail_max=fail_max, reset_ms=RESET_MS)
    w.service.engine.provider = BreakerProvider(w.provider, breaker)  # type: ignore[assignment]
    return w, breaker


def checkout(w: Wiring, n: int) -> Any:
    return w.service.create_payment_intent(f"cs_test_breaker{n:04d}", [CartItem("p_mug", 1)])


def fail_until_open(w: Wiring, breaker: Breaker) -> None:
    w.provider.fault = down
    for n in range(10):
        if breaker.state == OPEN:
            return
        with pytest.raises((FlowPending, ProviderError)):
            checkout(w, n)
    raise AssertionError("the breaker never opened")


def test_it_opens_after_fail_max_unanswered_calls_in_a_row() -> None:
    w, breaker = shop(fail_max=3)
    fail_until_open(w, breaker)
    assert breaker.failures == 3
    assert w.provider.calls["retrieve_account"] >= 3


def test_an_answer_between_failures_resets_the_count() -> None:
    w, breaker = shop(fail_max=3)
    provider = w.service.engine.provider
    for _ in range(5):
        w.provider.fault = down
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                provider.retrieve_intent("pi_x")
        w.provider.fault = None
        with pytest.raises(ProviderError):  # a definite refusal is an answer
            provider.retrieve_intent("pi_unknown")
    assert (breaker.state, breaker.failures) == (CLOSED, 0)


def test_while_open_a_new_checkout_fails_fast_and_keeps_no_stock() -> None:
    w, breaker = shop()
    fail_until_open(w, breaker)
    sent = w.provider.calls["retrieve_account"], w.provider.calls["create_intent"]
    w.provider.fault = None  # the provider is back, but nobody has heard it yet
    with pytest.raises(ProviderCircuitOpen) as caught:
        checkout(w, 100)
    assert caught.value.code == "provider_circuit_open"
    assert (w.provider.calls["retrieve_account"], w.provider.calls["create_intent"]) == sent
    orders = {o.id: o for o in w.store.snapshot().rows(s.ORDERS)}
    newest = max(orders)
    assert orders[newest].status is OrderStatus.CANCELED
    held = [r for r in w.store.snapshot().rows(s.RESERVATIONS) if r.order_id == newest]
    assert held and all(r.status is not ReservationStatus.HELD for r in held), held


def test_recovery_keeps_asking_and_its_first_answer_closes_the_breaker() -> None:
    w, breaker = shop()
    fail_until_open(w, breaker)
    w.provider.fault = None
    reads = w.provider.calls["retrieve_intent"] + w.provider.calls["list_intents"]
    w.clock.advance(5_000)  # well before reset_ms
    w.service.run_jobs()
    assert w.provider.calls["retrieve_intent"] + w.provider.calls["list_intents"] > reads
    assert breaker.state == CLOSED
    assert checkout(w, 200).payment_id


def test_after_reset_ms_one_trial_goes_and_decides() -> None:
    w, breaker = shop()
    provider = w.service.engine.provider
    fail_until_open(w, breaker)
    w.clock.advance(RESET_MS)
    with pytest.raises(ProviderUnavailable):  # the trial, still down: open again
        provider.retrieve_account("acct_1")
    assert breaker.state == OPEN and breaker.opened_at == w.clock.now()
    with pytest.raises(ProviderCircuitOpen):
        provider.retrieve_account("acct_1")
    w.clock.advance(RESET_MS)
    w.provider.fault = None
    assert provider.retrieve_account("acct_1").charges_enabled is True
    assert breaker.state == CLOSED


def test_only_one_trial_at_a_time() -> None:
    w, breaker = shop()
    fail_until_open(w, breaker)
    w.clock.advance(RESET_MS)
    trial = breaker.admit()
    assert trial is not None
    assert breaker.state == HALF_OPEN
    with pytest.raises(ProviderCircuitOpen):
        breaker.admit()
    breaker.abandoned(trial)  # the trial ended without an answer: another may go
    assert breaker.admit() not in (None, trial)


def test_a_definite_refusal_of_the_trial_closes_it() -> None:
    w, breaker = shop()
    fail_until_open(w, breaker)
    w.clock.advance(RESET_MS)
    trial = breaker.admit()

    def refuse() -> None:
        raise ProviderInvalidRequest("amount_too_small")

    with pytest.raises(ProviderInvalidRequest):
        BreakerProvider(w.provider, breaker)._run(refuse, trial)
    assert breaker.state == CLOSED


def test_state_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    w, breaker = shop()
    with caplog.at_level(logging.INFO, logger="paycore_adapters.breaker"):
        fail_until_open(w, breaker)
        w.provider.fault = None
        w.service.run_jobs()
    moves = [
        (r.circuit_from, r.circuit_to, r.levelname)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "paycore_adapters.breaker"
    ]
    assert moves == [(CLOSED, OPEN, "WARNING"), (OPEN, CLOSED, "INFO")]


@pytest.mark.parametrize(
    "bad", [{"fail_max": 0}, {"reset_ms": 0}, {"fail_max": True}, {"reset_ms": 1.5}]
)
def test_bad_settings_are_refused(bad: dict[str, Any]) -> None:
    w = make_shop()
    with pytest.raises(InvalidInput):
        Breaker(w.clock, **bad)


def test_a_late_failure_of_a_trial_does_not_reopen_a_closed_breaker() -> None:
    """The trial hangs; meanwhile another call is answered (closed); then the trial times
    out: the provider is answering, so the breaker stays closed."""
    w, breaker = shop()
    provider = w.service.engine.provider
    fail_until_open(w, breaker)
    w.clock.advance(RESET_MS)

    def trial_hangs_then_times_out(call: str, phase: str, key: str | None) -> None:
        if call == "retrieve_account" and phase == "before":
            w.provider.fault = None
            with pytest.raises(ProviderError):  # recovery asks meanwhile and is answered
                provider.retrieve_intent("pi_unknown")
            assert (breaker.state, breaker.failures) == (CLOSED, 0)
            raise ProviderUnavailable("retrieve_account: read timed out")

    w.provider.fault = trial_hangs_then_times_out
    with pytest.raises(ProviderUnavailable):
        provider.retrieve_account("acct_1")
    assert (breaker.state, breaker.failures) == (CLOSED, 1)
    assert provider.retrieve_account("acct_1").charges_enabled is True


def test_a_trial_of_an_earlier_half_open_period_does_not_block_the_next() -> None:
    """The trial hangs; the breaker closes, opens again and reset_ms passes: the new
    half-open period lets its own trial through, and the old trial's end decides nothing."""
    w, breaker = shop()
    fail_until_open(w, breaker)
    w.clock.advance(RESET_MS)
    first = breaker.admit()
    assert first and breaker.state == HALF_OPEN
    breaker.answered()  # another call is answered: closed
    for _ in range(breaker.fail_max):
        breaker.failed()
    assert breaker.state == OPEN
    w.clock.advance(RESET_MS)
    second = breaker.admit()  # refused with retry_after_ms=0 while the first was out
    assert second and second != first and breaker.state == HALF_OPEN
    with pytest.raises(ProviderCircuitOpen):  # still one trial at a time
        breaker.admit()
    breaker.failed(first)  # the first trial times out at last: not this period's trial
    assert breaker.state == HALF_OPEN
    breaker.abandoned(first)  # nor does its end free this period's trial slot
    with pytest.raises(ProviderCircuitOpen):
        breaker.admit()
    breaker.failed(second)  # this period's trial decides
    assert breaker.state == OPEN and breaker.opened_at == w.clock.now()


def test_closing_ends_the_trial() -> None:
    """A trial outstanding when another answer closes the breaker is no longer a trial:
    its success or failure counts as any call's."""
    w, breaker = shop(fail_max=3)
    fail_until_open(w, breaker)
    w.clock.advance(RESET_MS)
    trial = breaker.admit()
    breaker.answered()
    assert breaker.state == CLOSED
    breaker.failed(trial)
    breaker.failed()
    assert (breaker.state, breaker.failures) == (CLOSED, 2)
    breaker.failed()
    assert breaker.state == OPEN
