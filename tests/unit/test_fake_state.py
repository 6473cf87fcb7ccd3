"""The fake provider's books survive a file: a restored fake answers as the saved one."""

from __future__ import annotations

import pytest

from paycore.errors import ProviderCardDeclined
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore_adapters import fake_state
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock


def busy_fake() -> tuple[FakeProvider, ManualClock]:
    clock = ManualClock()
    fake = FakeProvider(clock)
    fake.set_account("acct_1")
    req = CreateIntent(Money(1800, "EUR"), "acct_1", {"checkout_session_id": "cs_1"})
    paid = fake.create_intent(req, idempotency_key="k-create-1")
    fake.confirm_intent(
        paid.id, payment_method="pm_card_visa", return_url=None, idempotency_key="k-confirm-1"
    )
    fake.create_refund(paid.id, amount=500, reason=None, metadata={}, idempotency_key="k-r1")
    declined = fake.create_intent(req, idempotency_key="k-create-2")
    with pytest.raises(ProviderCardDeclined):
        fake.confirm_intent(
            declined.id,
            payment_method="pm_card_chargeDeclined",
            return_url=None,
            idempotency_key="k-confirm-2",
        )
    clock.advance(12_345)
    return fake, clock


def test_a_restored_fake_writes_the_same_file() -> None:
    fake, clock = busy_fake()
    text = fake_state.dumps(fake, clock)
    twin, twin_clock = FakeProvider(ManualClock()), ManualClock()
    fake_state.loads(text, twin, twin_clock)
    assert fake_state.dumps(twin, twin_clock) == text
    assert twin_clock.now() == clock.now()
    assert twin.intents() == fake.intents() and twin.refunds() == fake.refunds()
    assert twin.take_events() == fake.take_events()


def test_a_restored_fake_replays_saved_answers_and_errors() -> None:
    fake, clock = busy_fake()
    twin, twin_clock = FakeProvider(ManualClock()), ManualClock()
    fake_state.loads(fake_state.dumps(fake, clock), twin, twin_clock)
    declined = next(i for i in twin.intents() if i.status == "requires_payment_method")
    with pytest.raises(ProviderCardDeclined) as err:
        twin.confirm_intent(
            declined.id,
            payment_method="pm_card_chargeDeclined",
            return_url=None,
            idempotency_key="k-confirm-2",
        )
    assert err.value.fields["intent"].id == declined.id
    req = CreateIntent(Money(1800, "EUR"), "acct_1", {"checkout_session_id": "cs_1"})
    first = fake.create_intent(req, idempotency_key="k-create-1")  # the saved first answer
    assert twin.create_intent(req, idempotency_key="k-create-1") == first


def test_a_file_that_is_not_the_fakes_is_refused() -> None:
    with pytest.raises(fake_state.FakeStateUnreadable):
        fake_state.loads('{"format": "something-else"}', FakeProvider(ManualClock()), ManualClock())
    with pytest.raises(fake_state.FakeStateUnreadable):
        fake_state.loads("not json", FakeProvider(ManualClock()), ManualClock())


def test_account_states_and_transfer_reversals_survive() -> None:
    """Each account comes back in its state (not a yes or no), an intent keeps its charge
    type, and a refund keeps the transfer it reversed."""
    fake, clock = busy_fake()
    fake.set_account("acct_2", card_payments="pending")
    fake.disable_account("acct_3", "under_review")
    plain = CreateIntent(Money(900, "EUR"), "acct_2", {"n": "1"}, on_behalf_of=False)
    made = fake.create_intent(plain, idempotency_key="k-plain")
    twin, twin_clock = FakeProvider(ManualClock()), ManualClock()
    fake_state.loads(fake_state.dumps(fake, clock), twin, twin_clock)
    for account in ("acct_1", "acct_2", "acct_3"):
        assert twin.retrieve_account(account) == fake.retrieve_account(account)
    paid = twin.confirm_intent(
        made.id, payment_method="pm_card_visa", return_url=None, idempotency_key="k-pay"
    )
    assert paid.status == "succeeded"  # made without on_behalf_of: card payments not needed
    (refund,) = fake.refunds()
    assert twin.transfer_reversed(refund.id) == fake.transfer_reversed(refund.id) == 500


def test_a_file_of_the_first_format_is_refused() -> None:
    """Its accounts were a yes or no: it is refused, not read as something else."""
    fake, clock = busy_fake()
    old = fake_state.dumps(fake, clock).replace(fake_state.FORMAT, "paycore-fake-provider/1")
    with pytest.raises(fake_state.FakeStateUnreadable, match="not a paycore-fake-provider/2"):
        fake_state.loads(old, FakeProvider(ManualClock()), ManualClock())
