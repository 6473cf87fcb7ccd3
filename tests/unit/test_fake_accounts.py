"""The fake provider's connected accounts: states, refusals, reversals and copies."""

from __future__ import annotations

import pytest

from paycore.errors import ProviderInvalidRequest, ProviderNotFound
from paycore.money import Money
from paycore.ports import AccountView, CreateIntent
from paycore_adapters.fake_accounts import (
    BLOCKED_STATES,
    NO_TRANSFERS,
    AccountStateInvalid,
)
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock


@pytest.fixture
def fp() -> FakeProvider:
    fake = FakeProvider(ManualClock())
    fake.set_account("acct_1")
    return fake


def req(account: str = "acct_1", *, on_behalf_of: bool = True) -> CreateIntent:
    return CreateIntent(Money(1000, "EUR"), account, {"order_id": "o"}, on_behalf_of=on_behalf_of)


def pay(fp: FakeProvider, intent_id: str, key: str) -> str:
    view = fp.confirm_intent(
        intent_id, payment_method="pm_card_visa", return_url=None, idempotency_key=key
    )
    return view.status


@pytest.mark.parametrize(
    "bad",
    [
        {"card_payments": "disabled"},
        {"transfers": None},
        {"charges_enabled": "yes"},
        {"disabled_reason": "bored"},
    ],
)
def test_a_state_stripe_never_shows_is_refused_and_changes_nothing(
    fp: FakeProvider, bad: dict[str, object]
) -> None:
    before = fp.retrieve_account("acct_1")
    with pytest.raises(AccountStateInvalid):
        fp.set_account("acct_1", **bad)  # type: ignore[arg-type]
    assert fp.retrieve_account("acct_1") == before


def test_an_account_id_must_look_like_one(fp: FakeProvider) -> None:
    with pytest.raises(AccountStateInvalid, match="acct_"):
        fp.set_account("seller-1")
    with pytest.raises(ProviderNotFound):
        fp.retrieve_account("seller-1")


def test_disable_account_turns_everything_off_with_a_reason(fp: FakeProvider) -> None:
    view = fp.disable_account("acct_1", "rejected.fraud")
    assert view == AccountView("acct_1", False, "inactive", "inactive", "rejected.fraud")
    assert fp.retrieve_account("acct_1") == view


def test_block_next_goes_through_every_blocked_state_then_again(fp: FakeProvider) -> None:
    """From an active account the first blocked state, then each next one, then round."""
    names = [fp.block_next("acct_1") for _ in range(len(BLOCKED_STATES) + 1)]
    assert names == [name for name, _ in BLOCKED_STATES] + [BLOCKED_STATES[0][0]]
    for name, state in BLOCKED_STATES:
        fp.set_account("acct_1", **state)
        with pytest.raises(ProviderInvalidRequest):
            fp.create_intent(req(), idempotency_key=f"k-{name}")
    assert fp.intents() == []


def test_missing_transfers_carry_stripes_code(fp: FakeProvider) -> None:
    fp.set_account("acct_1", transfers="pending")
    with pytest.raises(ProviderInvalidRequest) as caught:
        fp.create_intent(req(on_behalf_of=False), idempotency_key="k")
    assert caught.value.fields["error_code"] == NO_TRANSFERS
    assert caught.value.fields["param"] == "transfer_data[destination]"


def test_the_intent_remembers_its_charge_type(fp: FakeProvider) -> None:
    """Made without on_behalf_of, an intent is paid although card payments stopped; the
    same request on behalf of the account is another request (not a key replay)."""
    plain = fp.create_intent(req(on_behalf_of=False), idempotency_key="plain")
    fp.set_account("acct_1", card_payments="inactive")
    assert pay(fp, plain.id, "pay-plain") == "succeeded"
    with pytest.raises(ProviderInvalidRequest):
        fp.create_intent(req(), idempotency_key="obo")
    assert len(fp.intents()) == 1


def test_the_browser_confirm_of_a_blocked_account_leaves_the_intent(fp: FakeProvider) -> None:
    pi = fp.create_intent(req(), idempotency_key="c")
    fp.disable_account("acct_1")
    view = fp.customer_confirm(pi.id, "pm_card_visa")
    assert (view.status, view.amount_received) == ("requires_payment_method", 0)
    assert fp.retrieve_intent(pi.id) == pi
    assert [e.type for e in fp.take_events()] == ["payment_intent.created"]


def test_refunds_record_their_transfer_reversal(fp: FakeProvider) -> None:
    pi = fp.create_intent(req(), idempotency_key="c")
    pay(fp, pi.id, "p")
    r = fp.create_refund(pi.id, amount=300, reason=None, metadata={}, idempotency_key="r")
    assert fp.transfer_reversed(r.id) == 300
    with pytest.raises(ProviderNotFound):
        fp.transfer_reversed("re_missing")


def test_a_clone_keeps_accounts_and_reversals_apart(fp: FakeProvider) -> None:
    pi = fp.create_intent(req(), idempotency_key="c")
    pay(fp, pi.id, "p")
    r = fp.create_refund(pi.id, amount=300, reason=None, metadata={}, idempotency_key="r")
    key = repr(fp.state_key())
    twin = fp.clone(ManualClock())
    assert repr(twin.state_key()) == key
    twin.disable_account("acct_1")
    twin.create_refund(pi.id, amount=100, reason=None, metadata={}, idempotency_key="r2")
    assert repr(fp.state_key()) == key
    assert fp.retrieve_account("acct_1").charges_enabled
    assert [fp.transfer_reversed(r.id), len(twin.refunds())] == [300, 2]
