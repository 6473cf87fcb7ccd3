"""The model's idempotency and concurrency errors as the bare SDK meets them over the
wire: a replay, a mismatch, a key in use (409), an intent locked by a request still
running (429 ``lock_timeout``), a saved 500, and an emulator that takes one key only."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from paycore_adapters.emulator import Emulator

from .conftest import KEY, create, sdk

ERROR_FIELDS = {"type", "code", "decline_code", "message", "param", "payment_intent"}


def failure(call: Any, kind: type[stripe.StripeError]) -> Any:
    with pytest.raises(kind) as caught:
        call()
    return caught.value


def test_a_replay_answers_the_first_result_and_a_mismatch_is_refused(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    first = create(client, "k_same")
    again = create(client, "k_same")
    assert again.id == first.id and len(emu.model.intents()) == 1
    e = failure(lambda: create(client, "k_same", amount=3000), stripe.IdempotencyError)
    assert e.http_status == 400 and e.error.type == "idempotency_error"
    assert len(emu.model.intents()) == 1


def test_a_key_in_use_is_409_and_a_locked_intent_429(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    pi = create(client, "k_h0")
    emu.model.hold_next("confirm_intent")
    confirm = {"payment_method": "pm_card_visa"}
    failure(  # held at the model: the connection closes with no answer
        lambda: client.v1.payment_intents.confirm(pi.id, confirm, {"idempotency_key": "k_h1"}),
        stripe.APIConnectionError,
    )
    in_use = failure(
        lambda: client.v1.payment_intents.confirm(pi.id, confirm, {"idempotency_key": "k_h1"}),
        stripe.APIError,
    )
    assert (in_use.http_status, in_use.error.code) == (409, "idempotency_key_in_use")
    locked = failure(
        lambda: client.v1.payment_intents.cancel(pi.id, None, {"idempotency_key": "k_h2"}),
        stripe.RateLimitError,
    )
    assert (locked.http_status, locked.error.code) == (429, "lock_timeout")
    assert locked.headers["stripe-should-retry"] == "true"
    emu.model.release_requests()
    landed = client.v1.payment_intents.confirm(pi.id, confirm, {"idempotency_key": "k_h1"})
    assert landed.status == "succeeded"


def test_a_saved_500_replays_and_says_do_not_retry(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    emu.model.fail_next_with_500("create_intent", applied=False)
    for _ in range(2):
        e = failure(lambda: create(client, "k_500"), stripe.APIError)
        assert (e.http_status, e.error.type) == (500, "api_error")
        assert e.headers["stripe-should-retry"] == "false"
    assert emu.model.intents() == []


def test_only_the_given_key_is_taken_when_one_is_set() -> None:
    with Emulator(api_key=KEY) as emu:
        emu.model.set_account("acct_x")
        assert sdk(emu).v1.accounts.retrieve("acct_x").id == "acct_x"
        other = sdk(emu, "sk_test_someone_else")
        failure(lambda: other.v1.accounts.retrieve("acct_x"), stripe.AuthenticationError)
