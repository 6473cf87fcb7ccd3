"""The contract every :class:`paycore.ports.PaymentProvider` adapter keeps, as pytest cases.

These are the provider behaviours paycore's flows rely on. Each case cites the
Stripe documentation page it follows, so that the same cases hold for the fake
(``paycore_adapters.fake_provider``) and for an adapter over Stripe's test mode.

Subclass :class:`ProviderContract` in a ``Test*`` class and implement
:meth:`~ProviderContract.make_provider` and :meth:`~ProviderContract.make_driver`.
The driver (:class:`ProviderDriver`) does what happens on the other side of the
wire and is no part of the port: the customer passing 3-D Secure, the card network
settling a payment or a refund. Against the fake it calls the fake's helpers;
against Stripe's test mode it would use test cards, test clocks and the dashboard
API. ``docs/adapters.md`` has a worked example.

Every key and every metadata value a case sends carries a prefix unique to the run,
so the cases may run against an account that already holds other objects.
"""

from __future__ import annotations

import abc

import attrs
import pytest

from paycore.errors import (
    ProviderCardDeclined,
    ProviderIdempotencyMismatch,
    ProviderInvalidRequest,
    ProviderNotFound,
)
from paycore.money import Money
from paycore.ports import REFUND_LIVE, CreateIntent, IntentView, PaymentProvider

from .provider_amounts import AmountCases
from .provider_case import (
    DECLINED,
    PROCESSING,
    PROCESSING_FAILS,
    THREE_DS,
    VISA,
    ContractCase,
    ProviderDriver,
)
from .provider_concurrency import ConcurrencyCases
from .provider_connect import ConnectCases
from .provider_disputes import DisputeCases
from .provider_flows import FlowCases
from .provider_listing import ProviderListing
from .provider_payments import PaymentCases
from .provider_replays import ReplayCases
from .provider_search import SearchCases

__all__ = ["ContractCase", "ProviderContract", "ProviderDriver"]


class ProviderContract(
    AmountCases,
    ConcurrencyCases,
    ConnectCases,
    DisputeCases,
    FlowCases,
    PaymentCases,
    ProviderListing,
    ReplayCases,
    SearchCases,
    abc.ABC,
):
    """The provider contract's cases. Abstract: pytest does not collect it (no ``Test``
    prefix); an adapter's test module subclasses it once per provider."""

    @abc.abstractmethod
    def make_provider(self) -> PaymentProvider:
        """The provider under test, new for each case."""

    @abc.abstractmethod
    def make_driver(self, provider: PaymentProvider) -> ProviderDriver:
        """The driver of ``provider``'s far side."""

    @pytest.fixture
    def c(self) -> ContractCase:
        provider = self.make_provider()
        return ContractCase(provider, self.make_driver(provider))

    # --- intents: docs.stripe.com/payments/paymentintents/lifecycle ---------------------

    def test_create_starts_requiring_a_payment_method(self, c: ContractCase) -> None:
        """A new intent requires a payment method and echoes the amount, currency and
        metadata, with nothing received (docs.stripe.com/api/payment_intents/create)."""
        pi = c.create(1250)
        assert (pi.status, pi.amount, pi.currency, pi.amount_received) == (
            "requires_payment_method",
            1250,
            "EUR",
            0,
        )
        assert pi.metadata == {"order_id": c.order()}
        assert pi.client_secret
        assert c.provider.retrieve_intent(pi.id) == pi

    def test_a_zero_amount_is_an_invalid_request(self, c: ContractCase) -> None:
        """An intent must charge at least a minimum amount, never zero
        (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts)."""
        with pytest.raises(ProviderInvalidRequest):
            c.create(0)

    def test_unknown_ids_are_not_found(self, c: ContractCase) -> None:
        """Retrieving or acting on an id that does not exist is ``resource_missing``
        (docs.stripe.com/error-codes#resource-missing)."""
        with pytest.raises(ProviderNotFound):
            c.provider.retrieve_intent(f"pi_missing{c.run}")
        with pytest.raises(ProviderNotFound):
            c.provider.retrieve_refund(f"re_missing{c.run}")
        with pytest.raises(ProviderNotFound):
            c.provider.cancel_intent(f"pi_missing{c.run}", idempotency_key=c.key("cancel"))

    def test_a_card_that_succeeds_receives_the_amount(self, c: ContractCase) -> None:
        """Confirming with a card that succeeds takes the whole amount at once (automatic
        capture; docs.stripe.com/testing#cards)."""
        pi = c.paid(1500)
        assert (pi.status, pi.amount_received, pi.last_error_code) == ("succeeded", 1500, None)
        assert c.provider.retrieve_intent(pi.id) == pi

    def test_a_decline_raises_with_the_intent_after_it(self, c: ContractCase) -> None:
        """A declined card is an error carrying the intent as the decline left it, back to
        ``requires_payment_method`` with its last error, and without its client secret
        (docs.stripe.com/declines, docs.stripe.com/testing#declined-payments)."""
        pi = c.create()
        with pytest.raises(ProviderCardDeclined) as caught:
            c.confirm(pi.id, DECLINED, "k")
        after = caught.value.fields["intent"]
        assert isinstance(after, IntentView)
        assert (after.status, after.last_error_code) == ("requires_payment_method", "card_declined")
        current = c.provider.retrieve_intent(pi.id)
        assert after == attrs.evolve(current, client_secret=None)
        assert current.client_secret and current.client_secret not in repr(caught.value.fields)
        assert caught.value.outcome == "needs_action"

    def test_a_declined_method_is_detached(self, c: ContractCase) -> None:
        """After a decline the intent has no payment method: a confirm without one is
        refused, one with a new card succeeds and clears the error
        (docs.stripe.com/payments/paymentintents/lifecycle)."""
        pi = c.create()
        with pytest.raises(ProviderCardDeclined):
            c.confirm(pi.id, DECLINED, "k1")
        with pytest.raises(ProviderInvalidRequest, match="missing a payment method"):
            c.confirm(pi.id, None, "k2")
        ok = c.confirm(pi.id, VISA, "k3")
        assert (ok.status, ok.last_error_code) == ("succeeded", None)

    def test_three_d_secure_requires_action_then_succeeds(self, c: ContractCase) -> None:
        """A card that needs 3-D Secure leaves the intent in ``requires_action`` with a URL
        for the customer; passing the challenge succeeds it, failing it sends it back
        to ``requires_payment_method`` (docs.stripe.com/testing#regulatory-cards)."""
        passed, failed = c.create(order="a"), c.create(order="b")
        for pi in (passed, failed):
            acting = c.confirm(pi.id, THREE_DS, f"k-{pi.id}")
            assert acting.status == "requires_action" and acting.next_action_url
        c.driver.complete_action(passed.id, success=True)
        c.driver.complete_action(failed.id, success=False)
        done = c.provider.retrieve_intent(passed.id)
        assert (done.status, done.amount_received, done.next_action_url) == (
            "succeeded",
            1000,
            None,
        )
        back = c.provider.retrieve_intent(failed.id)
        assert (back.status, back.last_error_code) == (
            "requires_payment_method",
            "payment_intent_authentication_failure",  # docs.stripe.com/error-codes
        )

    def test_a_processing_payment_waits_for_the_network(self, c: ContractCase) -> None:
        """A payment method that settles later leaves the intent ``processing``: it cannot
        be confirmed again, and becomes ``succeeded`` or goes back to
        ``requires_payment_method`` when the network decides
        (docs.stripe.com/payments/paymentintents/lifecycle#intent-statuses)."""
        good, bad = c.create(order="a"), c.create(order="b")
        for pi, method in ((good, PROCESSING), (bad, PROCESSING_FAILS)):
            assert c.confirm(pi.id, method, f"k-{pi.id}").status == "processing"
        with pytest.raises(ProviderInvalidRequest, match="status of processing"):
            c.confirm(good.id, VISA, "again")
        c.driver.settle(good.id, success=True)
        c.driver.settle(bad.id, success=False)
        assert c.provider.retrieve_intent(good.id).status == "succeeded"
        failed = c.provider.retrieve_intent(bad.id)
        assert failed.status == "requires_payment_method"
        assert failed.last_error_code  # Stripe's pages do not name the code

    def test_a_succeeded_intent_cannot_be_confirmed(self, c: ContractCase) -> None:
        """Confirming an intent that succeeded is refused, naming its status
        (docs.stripe.com/api/payment_intents/confirm)."""
        pi = c.paid()
        with pytest.raises(ProviderInvalidRequest) as caught:
            c.confirm(pi.id, VISA, "again")
        assert caught.value.message == (
            "You cannot confirm this PaymentIntent because it has a status of succeeded."
        )
        assert caught.value.fields["status"] == "succeeded"

    # --- cancel and capture ---------------------------------------------------------------

    def test_cancel_from_an_open_status(self, c: ContractCase) -> None:
        """An intent that requires a payment method or an action can be canceled
        (docs.stripe.com/api/payment_intents/cancel)."""
        a, b = c.create(order="a"), c.create(order="b")
        c.confirm(b.id, THREE_DS, "kb")
        for pi in (a, b):
            view = c.provider.cancel_intent(pi.id, idempotency_key=c.key(f"cancel-{pi.id}"))
            assert (view.status, view.next_action_url) == ("canceled", None)

    @pytest.mark.parametrize("method", [PROCESSING, VISA, None])
    def test_no_cancel_once_processing_succeeded_or_canceled(
        self, c: ContractCase, method: str | None
    ) -> None:
        """A processing, succeeded or canceled intent cannot be canceled, and the error
        names its status (docs.stripe.com/api/payment_intents/cancel)."""
        pi = c.create()
        if method is None:
            c.provider.cancel_intent(pi.id, idempotency_key=c.key("first-cancel"))
        else:
            c.confirm(pi.id, method, "k")
        status = c.provider.retrieve_intent(pi.id).status
        with pytest.raises(ProviderInvalidRequest) as caught:
            c.provider.cancel_intent(pi.id, idempotency_key=c.key("cancel"))
        assert caught.value.message == (
            f"You cannot cancel this PaymentIntent because it has a status of {status}."
        )

    def test_capture_needs_requires_capture(self, c: ContractCase) -> None:
        """With automatic capture there is nothing left to capture
        (docs.stripe.com/api/payment_intents/capture)."""
        pi = c.paid()
        with pytest.raises(ProviderInvalidRequest, match="status of succeeded"):
            c.provider.capture_intent(pi.id, idempotency_key=c.key("capture"))

    # --- idempotency: docs.stripe.com/api/idempotent_requests ---------------------------

    def test_a_replay_returns_the_first_result(self, c: ContractCase) -> None:
        """The same key and parameters return the first result again, not the current
        state, and do nothing twice."""
        first = c.create()
        paid = c.confirm(first.id, VISA, "confirm")
        assert c.create() == first
        assert c.confirm(first.id, VISA, "confirm") == paid
        assert [i.id for i in c.mine(first.created)] == [first.id]
        assert c.provider.retrieve_intent(first.id).status == "succeeded"

    def test_a_saved_decline_replays_as_the_same_error(self, c: ContractCase) -> None:
        """An error raised once the request began executing is saved with the key: a
        retry gets the same error without declining again."""
        pi = c.create()
        with pytest.raises(ProviderCardDeclined) as first:
            c.confirm(pi.id, DECLINED, "k")
        with pytest.raises(ProviderCardDeclined) as again:
            c.confirm(pi.id, DECLINED, "k")
        assert (again.value.message, again.value.fields) == (
            first.value.message,
            first.value.fields,
        )

    def test_other_parameters_with_a_key_are_a_mismatch(self, c: ContractCase) -> None:
        """A key reused with other parameters, or on another endpoint, is refused and
        changes nothing."""
        pi = c.create(1000)
        with pytest.raises(ProviderIdempotencyMismatch):
            c.create(2000)
        with pytest.raises(ProviderIdempotencyMismatch):
            c.provider.cancel_intent(pi.id, idempotency_key=c.key("create-o1"))
        assert c.provider.retrieve_intent(pi.id).status == "requires_payment_method"

    def test_validation_errors_leave_the_key_free(self, c: ContractCase) -> None:
        """A request refused by parameter validation saves nothing: the key serves a
        corrected request ("results are only saved if an API endpoint began executing")."""
        pi = c.paid()
        with pytest.raises(ProviderInvalidRequest):
            c.refund(pi.id, 0, "ref")
        with pytest.raises(ProviderInvalidRequest, match="reason"):
            c.refund(pi.id, 1, "ref", reason="bored")
        with pytest.raises(ProviderNotFound):
            c.refund(f"pi_nope{c.run}", 1, "ref")
        assert c.refund(pi.id, 100, "ref").status in REFUND_LIVE

    # --- refunds: docs.stripe.com/api/refunds/create ------------------------------------

    def test_refunds_add_up_to_what_was_received(self, c: ContractCase) -> None:
        """Refunds may add up to the amount received and no more; the error says what is
        left; they list newest first (docs.stripe.com/api/pagination)."""
        pi = c.paid(1000)
        r1 = c.provider.create_refund(
            pi.id, amount=600, reason="duplicate", metadata={"r": "1"}, idempotency_key=c.key("r1")
        )
        assert (r1.status, r1.amount, r1.intent_id, r1.metadata) == (
            "succeeded",
            600,
            pi.id,
            {"r": "1"},
        )
        with pytest.raises(ProviderInvalidRequest) as caught:
            c.refund(pi.id, 401, "r2")
        assert "greater than unrefunded amount (400)" in caught.value.message
        assert caught.value.fields.get("param") == "amount"
        r3 = c.refund(pi.id, 400, "r3")
        assert c.provider.list_refunds(pi.id).data == (r3, r1)
        assert c.provider.retrieve_refund(r3.id) == r3

    def test_pending_refunds_hold_their_amount(self, c: ContractCase) -> None:
        """A pending refund counts against what is refundable; once it fails its amount
        is refundable again (docs.stripe.com/refunds#failed-refunds)."""
        c.driver.hold_refunds()
        pi = c.paid(1000)
        pending = c.refund(pi.id, 700, "r1")
        assert pending.status == "pending"
        with pytest.raises(ProviderInvalidRequest, match=r"unrefunded amount \(300\)"):
            c.refund(pi.id, 301, "r2")
        c.driver.settle_refund(pending.id, success=False)
        failed = c.provider.retrieve_refund(pending.id)
        assert failed.status == "failed" and failed.failure_reason
        again = c.refund(pi.id, 1000, "r3")
        c.driver.settle_refund(again.id, success=True)
        assert [r.status for r in c.provider.list_refunds(pi.id).data] == ["succeeded", "failed"]

    def test_only_a_successful_charge_is_refunded(self, c: ContractCase) -> None:
        """An intent that took no money cannot be refunded."""
        pi = c.create()
        with pytest.raises(ProviderInvalidRequest, match="does not have a successful charge"):
            c.refund(pi.id, 1, "r")

    # --- search (listing: provider_listing.py) ------------------------------------------

    def test_search_matches_metadata_exactly_newest_first(self, c: ContractCase) -> None:
        """Search finds intents whose metadata value equals the query, newest first, and
        nothing for another key (docs.stripe.com/search#query-fields-for-payment-intents)."""
        a = c.create(order="o1")
        c.create(order="o10")
        b = c.provider.create_intent(
            CreateIntent(Money(50, "EUR"), c.driver.charging_account(), {"order_id": c.order()}),
            idempotency_key=c.key("create-again"),
        )
        c.driver.searchable()
        found = c.provider.search_intents(metadata_key="order_id", value=c.order())
        # ``created`` is whole seconds: a and b may share one, in either order.
        assert sorted(i.id for i in found) == sorted([a.id, b.id])
        assert [i.created for i in found] == sorted((i.created for i in found), reverse=True)
        assert c.provider.search_intents(metadata_key="cart", value=c.order()) == []
