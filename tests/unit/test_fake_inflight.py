"""The fake provider's requests in flight and saved 500s (paycore_adapters.fake_inflight)."""

from __future__ import annotations

import pytest

from paycore import errors as E
from paycore.flows import retry
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore_adapters import fake_state
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock


def fake() -> tuple[FakeProvider, ManualClock]:
    clock = ManualClock()
    p = FakeProvider(clock)
    p.set_account("acct_1")
    return p, clock


def req(amount: int = 1000) -> CreateIntent:
    return CreateIntent(Money(amount, "EUR"), "acct_1", {"order_id": "o1"})


def test_errors_are_classified_for_the_engine() -> None:
    """In use: ambiguous and transient (the first may land). Lock timeout: definite and
    transient (nothing done, retry)."""
    in_use, locked = E.ProviderIdempotencyInUse("x"), E.ProviderLockTimeout("x")
    assert (in_use.outcome, in_use.retryable) == ("ambiguous", True)
    assert (locked.outcome, locked.retryable) == ("definite", True)
    assert retry.is_transient(in_use) and retry.is_transient(locked)
    assert E.ProviderLockTimeout in E.ADAPTER_ERRORS.provider


def test_a_hold_waits_for_its_endpoint_and_a_refused_request_is_not_held() -> None:
    """A hold armed for create_refund lets other calls through; an invalid request is
    refused as ever, neither held nor saved, and the hold waits on."""
    p, _ = fake()
    p.hold_next("create_intent")
    with pytest.raises(E.ProviderInvalidRequest):
        p.create_intent(req(0), idempotency_key="k0")
    assert p.held_requests() == []
    p.hold_next("create_refund")
    with pytest.raises(E.ProviderUnavailable):
        p.create_intent(req(), idempotency_key="k1")  # the create_intent hold, armed first
    pi = p.create_intent(req(), idempotency_key="k2")  # the refund's hold lets it through
    assert p.held_requests() == [("create_intent", "k1")]
    assert [v.id for v in p.intents()] == [pi.id]


def test_a_held_request_lands_by_itself_at_the_first_call_after_its_time() -> None:
    """``lands_after_ms``: at the first call once the clock got there, not before."""
    p, clock = fake()
    p.hold_next(lands_after_ms=1_000)
    with pytest.raises(E.ProviderUnavailable):
        p.create_intent(req(), idempotency_key="k1")
    clock.advance(999)
    assert list(p.list_intents().data) == []
    clock.advance(1)
    assert len(list(p.list_intents().data)) == 1
    assert p.held_requests() == []


def test_release_lands_oldest_first_and_saves_under_each_key() -> None:
    """Two held creates land in the order they began; each key then replays its intent."""
    p, _ = fake()
    for key in ("a", "b"):
        p.hold_next()
        with pytest.raises(E.ProviderUnavailable):
            p.create_intent(req(), idempotency_key=key)
    landed = p.release_requests()
    assert [getattr(v, "id", None) for v in landed] == ["pi_000001", "pi_000002"]
    assert p.create_intent(req(), idempotency_key="b").id == "pi_000002"


def test_a_saved_500_outlives_a_save_and_load_of_the_fakes_books() -> None:
    """The 500 saved under a key is in the fake's file: a restarted fake replays it."""
    p, clock = fake()
    p.fail_next_with_500(applied=False)
    with pytest.raises(E.ProviderUnavailable):
        p.create_intent(req(), idempotency_key="k5")
    again, clock2 = fake()
    fake_state.loads(fake_state.dumps(p, clock), again, clock2)
    with pytest.raises(E.ProviderUnavailable):
        again.create_intent(req(), idempotency_key="k5")
    assert again.intents() == []


def test_a_fake_holding_a_request_cannot_be_copied_and_its_state_says_so() -> None:
    """Copies (the explorer's) refuse while a request is held; the state key changes
    with a held request, and a copy made before holds nothing."""
    p, _ = fake()
    twin = p.clone(ManualClock())
    before = repr(p.state_key())
    p.hold_next()
    with pytest.raises(E.ProviderUnavailable):
        p.create_intent(req(), idempotency_key="k1")
    assert repr(p.state_key()) != before
    with pytest.raises(RuntimeError):
        p.clone(ManualClock())
    assert twin.held_requests() == []
    p.release_requests()
    assert p.clone(ManualClock()).held_requests() == []
