"""Wire faults: each armed for the next request (of one endpoint when asked), each doing
to the client and to the model what its name says."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from paycore_adapters.emulator import Emulator, FaultArmingInvalid

from .conftest import create, raw


def fails(call: Any, kind: type[stripe.StripeError]) -> Any:
    with pytest.raises(kind) as caught:
        call()
    return caught.value


def test_drop_applies_the_request_then_answers_nothing(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    emu.faults.arm("drop", endpoint="create_intent")
    fails(lambda: create(client, "k_drop"), stripe.APIConnectionError)
    (made,) = emu.model.intents()  # it happened
    assert create(client, "k_drop").id == made.id  # and the key replays it
    assert emu.faults.fired == [("drop", "create_intent")]


def test_reset_answers_nothing_and_applies_nothing(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    emu.faults.arm("reset")
    fails(lambda: create(client, "k_reset"), stripe.APIConnectionError)
    assert emu.model.intents() == []
    assert create(client, "k_reset").status == "requires_payment_method"


@pytest.mark.parametrize(("kind", "made"), [("server_error", 1), ("server_error_unapplied", 0)])
def test_a_500_with_or_without_its_effect_is_saved_under_the_key(
    emu: Emulator, client: stripe.StripeClient, kind: str, made: int
) -> None:
    emu.faults.arm(kind, endpoint="create_intent")
    for _ in range(2):  # the retry under the same key replays the 500
        e = fails(lambda: create(client, "k_5xx"), stripe.APIError)
        assert (e.http_status, e.headers["stripe-should-retry"]) == (500, "false")
    assert len(emu.model.intents()) == made
    assert create(client, "k_other").id  # a new key goes through


def test_a_500_on_a_read(emu: Emulator, client: stripe.StripeClient) -> None:
    emu.faults.arm("server_error_unapplied", endpoint="retrieve_account")
    e = fails(lambda: client.v1.accounts.retrieve("acct_contract"), stripe.APIError)
    assert (e.http_status, e.headers["stripe-should-retry"]) == (500, "true")
    assert client.v1.accounts.retrieve("acct_contract").charges_enabled


@pytest.mark.parametrize(
    ("kind", "status", "sdk_error"),
    [
        ("rate_limit", 429, stripe.RateLimitError),
        ("lock_timeout", 429, stripe.RateLimitError),
        ("idempotency_key_in_use", 409, stripe.APIError),
    ],
)
def test_refusals_apply_nothing(
    emu: Emulator,
    client: stripe.StripeClient,
    kind: str,
    status: int,
    sdk_error: type[stripe.StripeError],
) -> None:
    emu.faults.arm(kind, times=2)
    for n in range(2):
        e = fails(lambda n=n: create(client, f"k_{kind}_{n}"), sdk_error)
        assert (e.http_status, e.error.code) == (status, kind)
    assert emu.model.intents() == [] and emu.faults.pending() == []
    assert create(client, f"k_{kind}_0").status == "requires_payment_method"


def test_slow_answers_the_normal_answer(emu: Emulator, client: stripe.StripeClient) -> None:
    emu.faults.arm("slow", endpoint="retrieve_account", delay_s=0.05)
    assert client.v1.accounts.retrieve("acct_contract").id == "acct_contract"
    assert emu.faults.fired == [("slow", "retrieve_account")]


def test_a_fault_for_one_endpoint_waits_for_it(emu: Emulator) -> None:
    emu.faults.arm("rate_limit", endpoint="create_refund")
    status, _, _ = raw(emu, "GET", "/v1/accounts/acct_contract")
    assert status == 200 and emu.faults.pending() == [("rate_limit", "create_refund", 1)]


def test_bad_arming_is_refused(emu: Emulator) -> None:
    for kwargs in (
        {"kind": "meteor"},
        {"kind": "drop", "endpoint": "delete_everything"},
        {"kind": "drop", "times": 0},
        {"kind": "slow", "delay_s": 60.0},
    ):
        with pytest.raises(FaultArmingInvalid):
            emu.faults.arm(**kwargs)
    assert emu.faults.pending() == []


def test_a_500_armed_for_a_replay_is_not_left_for_a_later_request(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    first = create(client, "k_before")
    emu.faults.arm("server_error", endpoint="create_intent")
    assert create(client, "k_before").id == first.id  # answered from the saved outcome
    assert create(client, "k_after").status == "requires_payment_method"
    assert emu.model.armed_500s() == 0 and len(emu.model.intents()) == 2
