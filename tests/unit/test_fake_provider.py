"""Unit tests for the in-memory fake of Stripe (paycore_adapters.fake_provider).

What any provider must do is the shipped provider contract
(``paycore_adapters.testing.ProviderContract``, run against the fake in
``tests/contract/test_fake_provider_contract.py``); these cases check what only
the fake promises: its ids, events, ledger, far-side helpers and key expiry.
"""

from __future__ import annotations

import pickle
import threading

import pytest

from paycore.errors import (
    ProviderCardDeclined,
    ProviderIdempotencyMismatch,
    ProviderInvalidRequest,
    ProviderNotFound,
)
from paycore.listing import all_refunds
from paycore.money import CURRENCIES, MIN_CHARGE, Money
from paycore.ports import CreateIntent, IntentView, ListPage, PaymentProvider
from paycore_adapters.fake_limits import MINIMUM_CHARGE, check_amount
from paycore_adapters.fake_provider import IDEMPOTENCY_KEPT_MS, FakeProvider
from paycore_adapters.harness.explore import copyable

T0 = 1_700_000_000_000


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, now: int = T0) -> None:
        self.t = now

    def now(self) -> int:
        return self.t

    def advance(self, ms: int) -> None:
        self.t += ms


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fp(clock: ManualClock) -> FakeProvider:
    provider = FakeProvider(clock)
    provider.set_account("acct_1")
    return provider


def req(amount: int = 1000, order: str = "ord_1", account: str = "acct_1") -> CreateIntent:
    return CreateIntent(Money(amount, "EUR"), account, {"order_id": order})


def paid(fp: FakeProvider, amount: int = 1000, order: str = "ord_1") -> IntentView:
    pi = fp.create_intent(req(amount, order), idempotency_key=f"create-{order}")
    return fp.confirm_intent(
        pi.id, payment_method="pm_card_visa", return_url=None, idempotency_key=f"confirm-{order}"
    )


def confirm(fp: FakeProvider, intent_id: str, method: str | None, key: str) -> IntentView:
    return fp.confirm_intent(intent_id, payment_method=method, return_url=None, idempotency_key=key)


# --- intents -------------------------------------------------------------------


def test_fake_satisfies_the_port(clock: ManualClock) -> None:
    """FakeProvider type-checks as a PaymentProvider and starts with no accounts."""
    provider: PaymentProvider = FakeProvider(clock)
    with pytest.raises(ProviderNotFound):
        provider.retrieve_account("acct_unknown")


def test_create_intent_starts_requiring_payment_method(fp: FakeProvider) -> None:
    """A new intent carries deterministic ids, the request's money and metadata, and the clock."""
    pi = fp.create_intent(req(1250), idempotency_key="k1")
    assert pi.id == "pi_000001"
    assert pi.client_secret == "pi_000001_secret_1"
    assert (pi.status, pi.amount, pi.currency, pi.amount_received) == (
        "requires_payment_method",
        1250,
        "EUR",
        0,
    )
    assert pi.metadata == {"order_id": "ord_1"}
    assert pi.created == T0
    assert fp.create_intent(req(order="ord_2"), idempotency_key="k2").id == "pi_000002"


def test_create_intent_refused_for_account_that_cannot_charge(fp: FakeProvider) -> None:
    """An account that cannot charge gets ProviderInvalidRequest; an unknown one is not
    found."""
    fp.disable_account("acct_2")
    assert fp.retrieve_account("acct_1").charges_enabled
    assert not fp.retrieve_account("acct_2").charges_enabled
    with pytest.raises(ProviderInvalidRequest):
        fp.create_intent(req(account="acct_2"), idempotency_key="k-acct_2")
    with pytest.raises(ProviderNotFound):
        fp.create_intent(req(account="acct_nobody"), idempotency_key="k-acct_nobody")
    assert fp.intents() == []


def test_zero_amount_intent_is_refused(fp: FakeProvider) -> None:
    """Stripe charges at least one minor unit; Money allows zero, the provider does not."""
    with pytest.raises(ProviderInvalidRequest):
        fp.create_intent(req(0), idempotency_key="k")


def test_failed_authentication_returns_to_requires_payment_method(fp: FakeProvider) -> None:
    """Failing 3DS sends the intent back to requires_payment_method with Stripe's code,
    payment_intent_authentication_failure (docs.stripe.com/error-codes)."""
    pi = fp.create_intent(req(), idempotency_key="c")
    confirm(fp, pi.id, "pm_card_threeDSecure2Required", "k")
    failed = fp.complete_action(pi.id, success=False)
    assert (failed.status, failed.last_error_code) == (
        "requires_payment_method",
        "payment_intent_authentication_failure",
    )
    with pytest.raises(ProviderInvalidRequest):
        fp.complete_action(pi.id)


def test_reconfirm_from_requires_action_uses_attached_method(fp: FakeProvider) -> None:
    """Confirming again from requires_action without a method reuses the attached one."""
    pi = fp.create_intent(req(), idempotency_key="c")
    first = confirm(fp, pi.id, "pm_card_threeDSecure2Required", "k1")
    again = confirm(fp, pi.id, None, "k2")
    assert again.status == "requires_action"
    assert again.next_action_url != first.next_action_url


def test_confirm_without_any_payment_method_refused(fp: FakeProvider) -> None:
    """A fresh intent cannot be confirmed without a payment method."""
    pi = fp.create_intent(req(), idempotency_key="c")
    with pytest.raises(ProviderInvalidRequest, match="missing a payment method"):
        confirm(fp, pi.id, None, "k")


def test_customer_confirm_never_raises_for_decline(fp: FakeProvider) -> None:
    """The browser-side confirm returns the declined view instead of raising."""
    pi = fp.create_intent(req(), idempotency_key="c")
    view = fp.customer_confirm(pi.id, "pm_card_chargeDeclined")
    assert (view.status, view.last_error_code) == ("requires_payment_method", "card_declined")
    assert fp.customer_confirm(pi.id, "pm_card_visa").status == "succeeded"
    with pytest.raises(ProviderInvalidRequest):
        fp.customer_confirm(pi.id, "pm_card_visa")
    assert "confirm_intent" not in fp.calls


# --- cancel and capture ----------------------------------------------------------


# --- idempotency -------------------------------------------------------------------


def test_replay_returns_first_view_not_current_state(fp: FakeProvider) -> None:
    """Same key and parameters replays the very first view object, even after changes."""
    first = fp.create_intent(req(), idempotency_key="k")
    paid_view = confirm(fp, first.id, "pm_card_visa", "conf")
    assert fp.create_intent(req(), idempotency_key="k") is first
    assert confirm(fp, first.id, "pm_card_visa", "conf") is paid_view
    assert len(fp.intents()) == 1
    assert fp.retrieve_intent(first.id).status == "succeeded"


def test_replayed_decline_has_same_class_message_fields(fp: FakeProvider) -> None:
    """A saved decline replays as the same error without declining again."""
    pi = fp.create_intent(req(), idempotency_key="c")
    with pytest.raises(ProviderCardDeclined) as first:
        confirm(fp, pi.id, "pm_card_chargeDeclined", "k")
    events = len(fp.all_events)
    with pytest.raises(ProviderCardDeclined) as again:
        confirm(fp, pi.id, "pm_card_chargeDeclined", "k")
    assert again.value is not first.value
    assert (again.value.message, again.value.fields) == (first.value.message, first.value.fields)
    assert len(fp.all_events) == events


def test_state_errors_are_saved(fp: FakeProvider) -> None:
    """An error raised during execution replays even after the state that caused it is gone."""
    fp.disable_account("acct_2")
    with pytest.raises(ProviderInvalidRequest):
        fp.create_intent(req(account="acct_2"), idempotency_key="k")
    fp.set_account("acct_2")
    with pytest.raises(ProviderInvalidRequest, match="cannot receive transfers"):
        fp.create_intent(req(account="acct_2"), idempotency_key="k")
    assert fp.intents() == []


def test_same_key_different_parameters_mismatch(fp: FakeProvider) -> None:
    """Reusing a key with other parameters raises a mismatch and changes nothing."""
    fp.create_intent(req(1000), idempotency_key="k")
    with pytest.raises(ProviderIdempotencyMismatch, match="same parameters"):
        fp.create_intent(req(2000), idempotency_key="k")
    with pytest.raises(ProviderIdempotencyMismatch):
        fp.create_intent(
            CreateIntent(Money(1000, "EUR"), "acct_1", {"order_id": "other"}), idempotency_key="k"
        )
    assert len(fp.intents()) == 1


def test_same_key_different_endpoint_mismatch(fp: FakeProvider) -> None:
    """Reusing a key on another endpoint raises ProviderIdempotencyMismatch."""
    pi = fp.create_intent(req(), idempotency_key="k")
    with pytest.raises(ProviderIdempotencyMismatch, match="same endpoint") as caught:
        fp.cancel_intent(pi.id, idempotency_key="k")
    assert caught.value.fields["first_endpoint"] == "create_intent"
    assert fp.retrieve_intent(pi.id).status == "requires_payment_method"


def test_keys_are_kept_24_hours_then_forgotten_at_once(
    fp: FakeProvider, clock: ManualClock
) -> None:
    """Stripe keeps a key at least 24 h and may prune it any time after
    (docs.stripe.com/api/idempotent_requests): the fake replays it for exactly that day
    and runs a reuse a millisecond later as a new request, the harshest Stripe allows."""
    assert IDEMPOTENCY_KEPT_MS == 86_400_000
    first = fp.create_intent(req(), idempotency_key="k")
    clock.advance(IDEMPOTENCY_KEPT_MS)
    assert fp.create_intent(req(), idempotency_key="k") is first  # exactly a day old
    with pytest.raises(ProviderIdempotencyMismatch):
        fp.create_intent(req(2000), idempotency_key="k")
    clock.advance(1)
    fresh = fp.create_intent(req(), idempotency_key="k")
    assert fresh.id != first.id
    assert [v.id for v in fp.intents()] == [first.id, fresh.id]
    assert fp.create_intent(req(), idempotency_key="k") is fresh  # saved anew, from now
    clock.advance(IDEMPOTENCY_KEPT_MS + 1)
    assert fp.create_intent(req(3000), idempotency_key="k").amount == 3000


def test_validation_errors_are_not_saved(fp: FakeProvider) -> None:
    """Errors from parameter validation leave the key free for a corrected request."""
    pi = paid(fp)
    with pytest.raises(ProviderInvalidRequest, match="No such PaymentMethod"):
        confirm(fp, pi.id, "pm_card_bogus", "conf")
    with pytest.raises(ProviderInvalidRequest, match="positive"):
        fp.create_refund(pi.id, amount=0, reason=None, metadata={}, idempotency_key="ref")
    with pytest.raises(ProviderInvalidRequest, match="reason"):
        fp.create_refund(pi.id, amount=1, reason="bored", metadata={}, idempotency_key="ref")
    with pytest.raises(ProviderNotFound):
        fp.create_refund("pi_nope", amount=1, reason=None, metadata={}, idempotency_key="ref")
    rf = fp.create_refund(pi.id, amount=100, reason=None, metadata={}, idempotency_key="ref")
    assert rf.status == "succeeded"
    fresh = fp.create_intent(req(order="o2"), idempotency_key="c2")
    assert confirm(fp, fresh.id, "pm_card_visa", "conf").status == "succeeded"


# --- refunds ---------------------------------------------------------------------------


def test_refunds_limited_to_remaining(fp: FakeProvider) -> None:
    """Refunds may add up to the amount received and no more."""
    pi = paid(fp, 1000)
    meta = {"r": "1"}
    r1 = fp.create_refund(
        pi.id, amount=600, reason="duplicate", metadata=meta, idempotency_key="r1"
    )
    assert (r1.id, r1.status, r1.amount, r1.intent_id) == ("re_000001", "succeeded", 600, pi.id)
    assert r1.metadata == {"r": "1"}
    with pytest.raises(ProviderInvalidRequest) as caught:
        fp.create_refund(pi.id, amount=401, reason=None, metadata={}, idempotency_key="r2")
    assert "greater than unrefunded amount (400)" in caught.value.message
    assert caught.value.fields == {"param": "amount", "amount": 401, "remaining": 400}
    r3 = fp.create_refund(pi.id, amount=400, reason=None, metadata={}, idempotency_key="r3")
    assert fp.list_refunds(pi.id).data == (r3, r1)
    assert fp.retrieve_refund(r3.id) == r3


def test_pending_refunds_count_against_remaining(fp: FakeProvider) -> None:
    """Pending refunds hold their amount; a failed one frees it again."""
    fp.refunds_settle_immediately = False
    pi = paid(fp, 1000)
    pending = fp.create_refund(pi.id, amount=700, reason=None, metadata={}, idempotency_key="r1")
    assert pending.status == "pending"
    with pytest.raises(ProviderInvalidRequest, match=r"unrefunded amount \(300\)"):
        fp.create_refund(pi.id, amount=301, reason=None, metadata={}, idempotency_key="r2")
    failed = fp.settle_refund(pending.id, success=False)
    assert (failed.status, failed.failure_reason) == ("failed", "declined")
    again = fp.create_refund(pi.id, amount=1000, reason=None, metadata={}, idempotency_key="r3")
    assert fp.settle_refund(again.id).status == "succeeded"
    with pytest.raises(ProviderInvalidRequest):
        fp.settle_refund(again.id)
    assert [r.status for r in fp.refunds()] == ["failed", "succeeded"]


def test_succeeded_refund_can_fail_later_and_frees_its_amount(fp: FakeProvider) -> None:
    """A succeeded refund reversed by the network: failed, announced, its amount refundable."""
    pi = paid(fp, 1000)
    rf = fp.create_refund(pi.id, amount=600, reason=None, metadata={}, idempotency_key="r1")
    fp.take_events()
    failed = fp.fail_refund(rf.id)
    assert (failed.id, failed.status, failed.amount) == (rf.id, "failed", 600)
    assert failed.failure_reason == "expired_or_canceled_card"
    assert fp.retrieve_refund(rf.id) == failed and fp.list_refunds(pi.id).data == (failed,)
    assert [(e.type, e.object_kind, e.object_id, e.status) for e in fp.take_events()] == [
        ("refund.failed", "refund", rf.id, "failed"),
        ("charge.refund.updated", "refund", rf.id, "failed"),
    ]
    again = fp.create_refund(pi.id, amount=1000, reason=None, metadata={}, idempotency_key="r2")
    assert again.status == "succeeded"
    assert fp.fail_refund(again.id, reason="lost_or_stolen_card").failure_reason == (
        "lost_or_stolen_card"
    )


def test_only_a_succeeded_refund_can_fail_later(fp: FakeProvider) -> None:
    """Pending and already failed refunds cannot be reversed; unknown ids are not found."""
    fp.refunds_settle_immediately = False
    pi = paid(fp, 1000)
    pending = fp.create_refund(pi.id, amount=100, reason=None, metadata={}, idempotency_key="r")
    with pytest.raises(ProviderInvalidRequest, match="status of pending, not succeeded"):
        fp.fail_refund(pending.id)
    fp.settle_refund(pending.id, success=False)
    with pytest.raises(ProviderInvalidRequest, match="status of failed, not succeeded"):
        fp.fail_refund(pending.id)
    with pytest.raises(ProviderNotFound):
        fp.fail_refund("re_nope")
    assert [r.status for r in fp.refunds()] == ["failed"]


def test_only_a_refund_waiting_for_the_customer_can_be_canceled(fp: FakeProvider) -> None:
    """Stripe cancels a refund only in ``requires_action`` (it still holds its amount
    until then); canceled, it frees the amount, with ``merchant_request`` as the reason."""
    fp.refunds_settle_immediately = False
    pi = paid(fp, 1000)
    rf = fp.create_refund(pi.id, amount=600, reason=None, metadata={}, idempotency_key="r1")
    with pytest.raises(ProviderInvalidRequest, match="status of pending; only"):
        fp.cancel_refund(rf.id)
    fp.take_events()
    waiting = fp.require_refund_action(rf.id)
    assert waiting.status == "requires_action"
    with pytest.raises(ProviderInvalidRequest, match=r"unrefunded amount \(400\)"):
        fp.create_refund(pi.id, amount=401, reason=None, metadata={}, idempotency_key="r2")
    canceled = fp.cancel_refund(rf.id)
    assert (canceled.status, canceled.failure_reason) == ("canceled", "merchant_request")
    assert [(e.type, e.object_id, e.status) for e in fp.take_events()] == [
        ("refund.updated", rf.id, "requires_action"),
        ("charge.refund.updated", rf.id, "requires_action"),
        ("refund.updated", rf.id, "canceled"),
        ("charge.refund.updated", rf.id, "canceled"),
    ]
    with pytest.raises(ProviderInvalidRequest, match="status of canceled"):
        fp.cancel_refund(rf.id)
    with pytest.raises(ProviderInvalidRequest, match="status of canceled, not pending"):
        fp.require_refund_action(rf.id)
    again = fp.create_refund(pi.id, amount=1000, reason=None, metadata={}, idempotency_key="r3")
    assert fp.require_refund_action(again.id).status == "requires_action"
    assert fp.settle_refund(again.id).status == "succeeded"  # the customer acted


# --- search and list -------------------------------------------------------------------


def test_search_intents_exact_match_newest_first(fp: FakeProvider, clock: ManualClock) -> None:
    """Search matches metadata exactly and returns the newest intent first."""
    a = fp.create_intent(req(order="ord_1"), idempotency_key="a")
    clock.advance(10)
    fp.create_intent(req(order="ord_10"), idempotency_key="b")
    clock.advance(10)
    c = fp.create_intent(req(50, order="ord_1"), idempotency_key="c")
    clock.advance(fp.search_lag_ms)
    assert [i.id for i in fp.search_intents(metadata_key="order_id", value="ord_1")] == [c.id, a.id]
    assert fp.search_intents(metadata_key="cart", value="ord_1") == []


def test_search_lags_behind_creation_by_search_lag_ms(fp: FakeProvider, clock: ManualClock) -> None:
    """An intent shows in search only ``search_lag_ms`` after it was made, counted to the
    millisecond of its creation (its ``created`` is whole seconds); the list has it at once."""
    clock.advance(999)  # made late in its second: the lag counts from here, not the second
    pi = fp.create_intent(req(order="ord_1"), idempotency_key="a")
    assert pi.created % 1000 == 0 and pi.created == clock.now() - 999
    assert [v.id for v in fp.list_intents(created_gte_s=0).data] == [pi.id]
    clock.advance(fp.search_lag_ms - 1)
    assert fp.search_intents(metadata_key="order_id", value="ord_1") == []
    clock.advance(1)
    assert fp.search_intents(metadata_key="order_id", value="ord_1") == [pi]


def test_search_lag_is_configurable_and_zero_shows_at_once(
    fp: FakeProvider, clock: ManualClock
) -> None:
    """``search_lag_ms = 0``: search shows a new intent at once; a longer lag is kept."""
    fp.search_lag_ms = 0
    pi = fp.create_intent(req(order="ord_1"), idempotency_key="a")
    assert fp.search_intents(metadata_key="order_id", value="ord_1") == [pi]
    fp.search_lag_ms = 3_600_000
    assert fp.search_intents(metadata_key="order_id", value="ord_1") == []
    assert fp.clone(clock).search_lag_ms == 3_600_000


def test_created_is_whole_seconds_and_same_second_intents_tie(
    fp: FakeProvider, clock: ManualClock
) -> None:
    """``created`` is the whole second of creation (Stripe's is in seconds): intents made
    within one second share it and list newest first by creation order."""
    a = fp.create_intent(req(order="ord_1"), idempotency_key="a")
    clock.advance(400)
    b = fp.create_intent(req(order="ord_2"), idempotency_key="b")
    clock.advance(600)
    c = fp.create_intent(req(order="ord_3"), idempotency_key="c")
    assert a.created == b.created == c.created - 1000
    assert [v.id for v in fp.list_intents(created_gte_s=0).data] == [c.id, b.id, a.id]


def test_list_intents_pages_newest_first(fp: FakeProvider, clock: ManualClock) -> None:
    """Listing is newest first, also within one millisecond; ``starting_after`` walks
    back in time page by page and ``has_more`` says what is left (Stripe's pagination)."""
    ids = []
    for n in range(5):
        ids.append(fp.create_intent(req(order=f"o{n}"), idempotency_key=f"k{n}").id)
        if n % 2:
            clock.advance(100)  # two intents share each millisecond
    s0 = T0 // 1000
    page1 = fp.list_intents(created_gte_s=s0, limit=2)
    page2 = fp.list_intents(created_gte_s=s0, limit=2, starting_after=page1.data[-1].id)
    page3 = fp.list_intents(created_gte_s=s0, limit=2, starting_after=page2.data[-1].id)
    assert [i.id for i in page1.data + page2.data + page3.data] == ids[::-1]
    assert (page1.has_more, page2.has_more, page3.has_more) == (True, True, False)
    assert fp.list_intents(created_gte_s=s0, starting_after=ids[0]) == ListPage((), False)
    assert [i.id for i in fp.list_intents(created_gte_s=s0).data] == ids[::-1]


def test_list_intents_before_a_cursor_gives_the_newer_ones(fp: FakeProvider) -> None:
    """``ending_before`` gives the page just newer than the cursor, still newest first;
    it and ``starting_after`` exclude each other."""
    ids = [fp.create_intent(req(order=f"o{n}"), idempotency_key=f"k{n}").id for n in range(5)]
    page = fp.list_intents(limit=2, ending_before=ids[1])
    assert ([i.id for i in page.data], page.has_more) == ([ids[3], ids[2]], True)
    page = fp.list_intents(limit=2, ending_before=ids[3])
    assert ([i.id for i in page.data], page.has_more) == ([ids[4]], False)
    with pytest.raises(ProviderInvalidRequest):
        fp.list_intents(starting_after=ids[1], ending_before=ids[3])


def test_list_intents_created_filters_are_whole_seconds(
    fp: FakeProvider, clock: ManualClock
) -> None:
    """``created`` filters compare seconds: gt, gte, lt and lte each keep their own."""
    ids = []
    for n in range(3):
        ids.append(fp.create_intent(req(order=f"o{n}"), idempotency_key=f"k{n}").id)
        clock.advance(999 if n == 0 else 2)  # seconds T0, T0+0.999 -> s0, s0; then s0+1
    s0 = T0 // 1000

    def listed(**kw: int) -> list[str]:
        return [i.id for i in fp.list_intents(**kw).data]  # type: ignore[arg-type]

    assert listed(created_gte_s=s0, created_lt_s=s0 + 1) == [ids[1], ids[0]]
    assert listed(created_gt_s=s0) == [ids[2]]
    assert listed(created_lte_s=s0) == [ids[1], ids[0]]
    assert listed(created_gte_s=s0 + 1) == [ids[2]]
    assert listed(created_lt_s=s0) == []


def test_list_limits_and_cursors_are_checked(fp: FakeProvider) -> None:
    """``limit`` is 1 to 100, 10 by default; a cursor naming nothing is not found."""
    for n in range(11):
        fp.create_intent(req(order=f"o{n}"), idempotency_key=f"k{n}")
    page = fp.list_intents()
    assert (len(page.data), page.has_more) == (10, True)
    assert len(fp.list_intents(limit=100).data) == 11
    for bad in (0, 101, True):
        with pytest.raises(ProviderInvalidRequest):
            fp.list_intents(limit=bad)
    with pytest.raises(ProviderNotFound):
        fp.list_intents(limit=2, starting_after="pi_missing")
    with pytest.raises(ProviderNotFound):
        fp.list_refunds("pi_000001", starting_after="re_missing")


def test_list_refunds_pages_by_ten_newest_first(fp: FakeProvider) -> None:
    """An intent's refunds, newest first, ten a page; another intent's are not listed."""
    pi, other = paid(fp, 2000), paid(fp, 500, order="ord_2")
    made = [
        fp.create_refund(pi.id, amount=100, reason=None, metadata={}, idempotency_key=f"r{n}").id
        for n in range(12)
    ]
    fp.create_refund(other.id, amount=100, reason=None, metadata={}, idempotency_key="o")
    first = fp.list_refunds(pi.id)
    assert ([r.id for r in first.data], first.has_more) == (made[::-1][:10], True)
    rest = fp.list_refunds(pi.id, starting_after=first.data[-1].id)
    assert ([r.id for r in rest.data], rest.has_more) == (made[1::-1], False)
    assert [r.id for r in all_refunds(fp, pi.id)] == made[::-1]


# --- events and ledger --------------------------------------------------------------------


def test_events_emitted_for_lifecycle(fp: FakeProvider, clock: ManualClock) -> None:
    """Every intent status change and refund change emits its event, with the charge.*
    events Stripe sends alongside, taken once; ``created`` is in seconds."""
    fp.refunds_settle_immediately = False
    pi = fp.create_intent(req(), idempotency_key="c")
    with pytest.raises(ProviderCardDeclined):
        confirm(fp, pi.id, "pm_card_chargeDeclined", "k1")
    confirm(fp, pi.id, "pm_card_threeDSecure2Required", "k2")
    clock.advance(5_000)
    fp.complete_action(pi.id)
    rf = fp.create_refund(pi.id, amount=10, reason=None, metadata={}, idempotency_key="r1")
    fp.settle_refund(rf.id)
    rf2 = fp.create_refund(pi.id, amount=10, reason=None, metadata={}, idempotency_key="r2")
    fp.settle_refund(rf2.id, success=False)
    events = fp.take_events()
    assert [(e.type, e.status) for e in events] == [
        ("payment_intent.created", "requires_payment_method"),
        ("payment_intent.payment_failed", "requires_payment_method"),
        ("charge.failed", "failed"),
        ("payment_intent.requires_action", "requires_action"),
        ("payment_intent.succeeded", "succeeded"),
        ("charge.succeeded", "succeeded"),
        ("refund.created", "pending"),
        ("charge.refunded", "succeeded"),
        ("refund.updated", "succeeded"),
        ("charge.refund.updated", "succeeded"),
        ("refund.created", "pending"),
        ("charge.refunded", "succeeded"),
        ("refund.failed", "failed"),
        ("charge.refund.updated", "failed"),
    ]
    assert [e.id for e in events[:2]] == ["evt_000001", "evt_000002"]
    assert {e.object_kind for e in events[:2] + events[3:5]} == {"payment_intent"}
    assert {e.object_kind for e in events} == {"payment_intent", "charge", "refund"}
    charges = {e.object_id for e in events if e.object_kind == "charge"}
    assert charges == {"ch_000001_1", "ch_000001_2"}  # one charge per confirmation attempt
    assert {e.object_id for e in events[6:10] if e.object_kind == "refund"} == {rf.id}
    assert events[0].created == T0 // 1000 and events[4].created == T0 // 1000 + 5
    assert fp.take_events() == []
    assert fp.all_events == events


def test_processing_and_cancel_events(fp: FakeProvider) -> None:
    """Processing and cancellation also emit their events."""
    a = fp.create_intent(req(order="a"), idempotency_key="a")
    confirm(fp, a.id, "pm_successDelayed_de", "ka")
    fp.settle(a.id, success=False)
    fp.cancel_intent(a.id, idempotency_key="cancel")
    assert [e.type for e in fp.take_events()] == [
        "payment_intent.created",
        "payment_intent.processing",
        "payment_intent.payment_failed",
        "charge.failed",
        "payment_intent.canceled",
    ]


def test_ledger_shows_current_state(fp: FakeProvider) -> None:
    """intents() and refunds() show every object as it is now."""
    pi = paid(fp)
    rf = fp.create_refund(pi.id, amount=5, reason="duplicate", metadata={}, idempotency_key="r")
    assert fp.intents() == [fp.retrieve_intent(pi.id)]
    assert fp.intents()[0].status == "succeeded"
    assert fp.refunds() == [rf]


# --- threads ---------------------------------------------------------------------------


def test_concurrent_calls_with_one_key_create_one_intent(fp: FakeProvider) -> None:
    """Threads racing on one key share one intent; distinct keys get distinct ids."""
    results: list[IntentView] = []

    def worker(n: int) -> None:
        results.append(fp.create_intent(req(), idempotency_key="shared"))
        results.append(fp.create_intent(req(order=f"o{n}"), idempotency_key=f"own-{n}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.id for r in results}) == 9
    assert len(fp.intents()) == 9


# --- copies and state keys (the explorer's) ---------------------------------------------


def key_of(state: object) -> bytes:
    """A state key's value now (it shares the fake's containers), as the explorer takes it."""
    with copyable():
        return pickle.dumps(state)


def test_clone_is_independent_and_runs_on_its_own_clock(fp: FakeProvider) -> None:
    """A clone is in the same state on the clock it is given; each then goes its own way."""
    pi = fp.create_intent(req(), idempotency_key="c")
    other = ManualClock(T0 + 5_000)
    twin = fp.clone(other)
    assert key_of(twin.state_key()) == key_of(fp.state_key())
    confirm(twin, pi.id, "pm_card_visa", "k")
    assert (twin.retrieve_intent(pi.id).status, fp.retrieve_intent(pi.id).status) == (
        "succeeded",
        "requires_payment_method",
    )
    assert twin.all_events[-1].created == (T0 + 5_000) // 1000  # Stripe's seconds
    assert key_of(twin.state_key()) != key_of(fp.state_key())
    assert confirm(fp, pi.id, "pm_card_visa", "k").status == "succeeded"


def test_state_key_leaves_out_logs_and_counts(fp: FakeProvider) -> None:
    """Reads and taking events change no state key; a write does."""
    pi = fp.create_intent(req(), idempotency_key="c")
    fp.take_events()
    key = key_of(fp.state_key())
    fp.retrieve_intent(pi.id)
    fp.list_refunds(pi.id)
    assert key_of(fp.state_key()) == key
    fp.cancel_intent(pi.id, idempotency_key="x")
    assert key_of(fp.state_key()) != key


def test_an_unknown_cursor_names_its_parameter(fp: FakeProvider) -> None:
    """The not-found error says which cursor named nothing."""
    with pytest.raises(ProviderNotFound) as after:
        fp.list_intents(starting_after="pi_missing")
    with pytest.raises(ProviderNotFound) as before:
        fp.list_intents(ending_before="pi_missing")
    assert (after.value.fields, before.value.fields) == (
        {"param": "starting_after"},
        {"param": "ending_before"},
    )


# --- Stripe's limits (fake_limits) ------------------------------------------------------


def test_more_than_eight_digits_is_too_large() -> None:
    """An amount past eight digits is ``amount_too_large`` (the port's Money cannot carry
    one, so the fake's own check is reached only by a caller that bypasses Money)."""
    check_amount(99_999_999, "EUR")
    with pytest.raises(ProviderInvalidRequest) as caught:
        check_amount(100_000_000, "EUR")
    assert caught.value.fields["error_code"] == "amount_too_large"


def test_the_core_refuses_below_the_same_minimum_the_fake_does() -> None:
    """paycore's checkout minimum and the fake's are the same figure for every currency
    paycore accepts: the core refuses exactly what the provider would."""
    assert set(MIN_CHARGE) == set(CURRENCIES) <= set(MINIMUM_CHARGE)
    for currency, minimum in MIN_CHARGE.items():
        assert MINIMUM_CHARGE[currency] == minimum, currency
        check_amount(minimum, currency)
        with pytest.raises(ProviderInvalidRequest):
            check_amount(minimum - 1, currency)


def test_the_event_count_is_the_number_of_events_sent(fp: FakeProvider) -> None:
    """What the harness compares after every rule: every event sent counts, taken or not."""
    assert fp.event_count == 0
    pi = fp.create_intent(req(), idempotency_key="count")
    confirm(fp, pi.id, "pm_card_visa", "count-confirm")
    sent = len(fp.all_events)
    assert sent >= 2 and fp.event_count == sent
    fp.take_events()
    assert fp.event_count == sent == len(fp.all_events)
