"""Provider contract cases for what a request may carry: charge amounts per currency,
currency codes, metadata, idempotency keys, and the events each flow makes the provider
send. :class:`~paycore_adapters.testing.ProviderContract` includes them.

Each case names the Stripe page (docs.stripe.com) or stripe-python parameter it follows.
Two kinds of case need more of the far side than the port gives, and are marked as
expected failures (``xfail``, with the reason; never a silent skip) for a driver that
lacks it: key retention needs ``pass_time(ms)`` (time passing for the
provider), event cases need ``take_events()`` (the events sent since the last call).
The fake's :class:`~paycore_adapters.testing.FakeDriver` has both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from paycore.errors import (
    InvalidAmount,
    ProviderCardDeclined,
    ProviderIdempotencyMismatch,
    ProviderInvalidRequest,
)
from paycore.money import MAX_AMOUNT, Money
from paycore.ports import CreateIntent, IntentView, ProviderEvent

from .provider_case import DECLINED, ContractCase

DAY_MS = 86_400_000


def create(
    c: ContractCase,
    amount: int,
    currency: str = "EUR",
    name: str = "o1",
    metadata: Mapping[str, str] | None = None,
    key: str | None = None,
) -> IntentView:
    """Create an intent of ``amount`` minor units of ``currency`` for order ``name``."""
    meta = {"order_id": c.order(name), **(metadata or {})}
    req = CreateIntent(Money(amount, currency), c.driver.charging_account(), meta)
    return c.provider.create_intent(req, idempotency_key=key or c.key(f"create-{name}"))


def refused(call: Callable[[], object], error_code: str | None = None) -> ProviderInvalidRequest:
    """``call`` must be refused as an invalid request (with Stripe's ``error_code``)."""
    with pytest.raises(ProviderInvalidRequest) as caught:
        call()
    if error_code is not None:
        assert caught.value.fields.get("error_code") == error_code
    return caught.value


def events_of(c: ContractCase) -> Callable[[], list[ProviderEvent]]:
    take: Callable[[], list[ProviderEvent]] | None = getattr(c.driver, "take_events", None)
    if take is None:
        pytest.xfail("the driver cannot show the events the provider sent (take_events)")
    return take


def types_of(events: list[ProviderEvent], *object_ids: str) -> list[str]:
    return [e.type for e in events if e.object_id in object_ids or e.object_kind == "charge"]


class AmountCases:
    """The cases; they use the ``c`` fixture of :class:`ProviderContract`."""

    # --- amounts: docs.stripe.com/currencies#minimum-and-maximum-charge-amounts -----------

    @pytest.mark.parametrize(("currency", "minimum"), [("EUR", 50), ("USD", 50), ("GBP", 30)])
    def test_a_charge_below_the_currency_minimum_is_too_small(
        self, c: ContractCase, currency: str, minimum: int
    ) -> None:
        """Stripe charges at least $0.50 or the equivalent (EUR 0.50, GBP 0.30): less is
        ``amount_too_small`` and creates nothing; the minimum itself is charged
        (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts,
        docs.stripe.com/error-codes#amount-too-small)."""
        err = refused(lambda: create(c, minimum - 1, currency), "amount_too_small")
        assert err.fields.get("param") == "amount"
        pi = create(c, minimum, currency)  # the refusal left the key free
        assert (pi.amount, pi.status) == (minimum, "requires_payment_method")

    def test_eight_digits_at_most(self, c: ContractCase) -> None:
        """ "The amount value supports up to eight digits" (stripe-python 16.x,
        PaymentIntentService.CreateParams.amount; ``amount_too_large`` past them): the
        largest is charged, and the port's Money cannot even carry a ninth digit."""
        assert create(c, MAX_AMOUNT).amount == 99_999_999
        with pytest.raises(InvalidAmount):
            Money(MAX_AMOUNT + 1, "EUR")

    def test_zero_decimal_currencies_count_whole_units(self, c: ContractCase) -> None:
        """JPY has no minor unit: an amount of 50 is ¥50, Stripe's minimum, and 49 is too
        small (docs.stripe.com/currencies#zero-decimal)."""
        refused(lambda: create(c, 49, "JPY"), "amount_too_small")
        pi = create(c, 50, "JPY")
        assert (pi.amount, pi.currency) == (50, "JPY")
        assert c.provider.retrieve_intent(pi.id) == pi

    @pytest.mark.parametrize("currency", ["EUR", "JPY"])
    def test_the_currency_comes_back_as_the_port_spells_it(
        self, c: ContractCase, currency: str
    ) -> None:
        """Stripe takes and returns lower-case codes ("You must use all lowercase letters",
        docs.stripe.com/currencies); the port speaks upper-case ISO 4217 both ways, so an
        adapter lowers the code on the way out and raises it on the way back."""
        pi = create(c, 5000, currency)
        assert pi.currency == currency
        assert c.provider.retrieve_intent(pi.id).currency == currency

    # --- metadata: docs.stripe.com/api/metadata -----------------------------------------

    def test_metadata_limits(self, c: ContractCase) -> None:
        """Up to 50 keys, keys of up to 40 characters, values of up to 500; a key may not
        hold ``[`` or ``]`` (docs.stripe.com/api/metadata). A refused request leaves its
        key free."""
        most = {f"k{n:02d}": "v" for n in range(49)}  # with order_id: 50 keys
        assert len(create(c, 1000, name="full", metadata=most).metadata) == 50
        longest = {"k" * 40: "v" * 500}
        assert create(c, 1000, name="long", metadata=longest).metadata["k" * 40] == "v" * 500
        too_many = {**most, "one_more": "v"}
        for bad in (too_many, {"k" * 41: "v"}, {"k": "v" * 501}, {"a[b]": "v"}, {"x]": "v"}):
            refused(functools.partial(create, c, 1000, name="bad", metadata=bad))
        assert create(c, 1000, name="bad").metadata == {"order_id": c.order("bad")}

    def test_refund_metadata_keeps_the_same_limits(self, c: ContractCase) -> None:
        """Refunds take metadata under the same rules (docs.stripe.com/api/refunds/create)."""
        pi = c.paid(1000)
        for bad in ({"k[0]": "v"}, {"k": "v" * 501}):
            refund = functools.partial(c.provider.create_refund, pi.id, amount=100, reason=None)
            refused(functools.partial(refund, metadata=bad, idempotency_key=c.key("r")))
        assert c.refund(pi.id, 100, "r").amount == 100

    # --- idempotency keys: docs.stripe.com/api/idempotent_requests ----------------------

    def test_a_key_of_255_characters_is_taken_and_256_refused(self, c: ContractCase) -> None:
        """ "Idempotency keys are up to 255 characters long" (docs.stripe.com/idempotency):
        a longer one is refused and creates nothing."""
        stem = c.key("long-")
        exact = stem + "x" * (255 - len(stem))
        first = create(c, 1000, name="a", key=exact)
        assert create(c, 1000, name="a", key=exact) == first  # and it replays
        refused(lambda: create(c, 1000, name="b", key=exact + "x"))
        assert c.mine(first.created) == [first]

    def test_a_key_is_kept_for_at_least_24_hours(self, c: ContractCase) -> None:
        """Stripe may prune a key once it is "at least 24 hours old", never sooner
        (docs.stripe.com/api/idempotent_requests): a replay a day later still returns the
        first result and changes nothing."""
        pass_time: Callable[[int], None] | None = getattr(c.driver, "pass_time", None)
        if pass_time is None:
            pytest.xfail("the driver cannot make time pass for the provider (pass_time)")
        first = create(c, 1000)
        pass_time(DAY_MS)
        assert create(c, 1000) == first
        with pytest.raises(ProviderIdempotencyMismatch):
            create(c, 2000)  # other parameters: still the first request's key

    # --- events: docs.stripe.com/api/events/types ---------------------------------------

    def test_a_payment_sends_its_intent_and_charge_events(self, c: ContractCase) -> None:
        """A card payment sends ``payment_intent.created``, ``payment_intent.succeeded``
        and ``charge.succeeded``; a decline ``payment_intent.payment_failed`` and
        ``charge.failed``. ``created`` is in seconds (docs.stripe.com/api/events/object)."""
        take = events_of(c)
        take()
        pi = c.paid(1000)
        events = take()
        assert types_of(events, pi.id) == [
            "payment_intent.created",
            "payment_intent.succeeded",
            "charge.succeeded",
        ]
        assert all(e.created < 10**11 for e in events)  # seconds, not milliseconds
        declined = c.create(order="d")
        with pytest.raises(ProviderCardDeclined):
            c.confirm(declined.id, DECLINED, "declined")
        assert types_of(take(), declined.id) == [
            "payment_intent.created",
            "payment_intent.payment_failed",
            "charge.failed",
        ]

    def test_a_refund_sends_its_refund_and_charge_events(self, c: ContractCase) -> None:
        """Creating a refund sends ``refund.created`` and ``charge.refunded`` (sent for
        partial refunds too); its settling sends ``refund.updated`` and
        ``charge.refund.updated``, whose object is the refund
        (docs.stripe.com/api/events/types)."""
        take = events_of(c)
        c.driver.hold_refunds()
        pi = c.paid(1000)
        take()
        rf = c.refund(pi.id, 400, "r1")
        assert types_of(take(), rf.id) == ["refund.created", "charge.refunded"]
        c.driver.settle_refund(rf.id, success=True)
        after: list[Any] = [(e.type, e.object_kind) for e in take() if e.object_id == rf.id]
        assert after == [("refund.updated", "refund"), ("charge.refund.updated", "refund")]
