"""Provider contract cases for declines, the rules of a confirmation and bank debits that
stay ``processing``: what a decline's error carries, the 3-D Secure failure code, the
intent canceled after too many declines (an unsourced rule), ``return_url`` when
redirects are allowed, a SEPA debit that settles or fails, a refund made before it
settled, and a processing debit Stripe cancels.
:class:`~paycore_adapters.testing.ProviderContract` includes them.

Two cases need more of the far side than every driver can give: the confirmation limit
needs the driver's ``decline_limit`` (how many declines its provider takes before it
cancels the intent; Stripe documents no number), and a canceled debit its
``cancel_while_processing(intent_id)``. A driver without them makes those cases expected
failures with the reason, never skips.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from paycore.errors import ProviderCardDeclined, ProviderInvalidRequest
from paycore.money import Money
from paycore.ports import REFUND_LIVE, CreateIntent, IntentView

from .provider_case import DECLINED, PROCESSING, PROCESSING_FAILS, THREE_DS, VISA, ContractCase

RETURN_URL = "https://shop.example/return"


def _decline_limit(c: ContractCase) -> int:
    limit: int | None = getattr(c.driver, "decline_limit", None)
    if limit is None:
        pytest.xfail("the driver cannot say after how many declines its provider cancels")
    return limit


def _cancel_while_processing(c: ContractCase) -> Callable[[str], None]:
    cancel: Callable[[str], None] | None = getattr(c.driver, "cancel_while_processing", None)
    if cancel is None:
        pytest.xfail("the driver cannot make the provider cancel a processing payment")
    return cancel


def _create(c: ContractCase, *, allow_redirects: bool, order: str = "o1") -> IntentView:
    account = c.driver.charging_account()
    req = CreateIntent(
        Money(1000, "EUR"), account, {"order_id": c.order(order)}, allow_redirects=allow_redirects
    )
    return c.provider.create_intent(req, idempotency_key=c.key(f"create-{order}"))


def _processing(c: ContractCase, method: str, order: str = "o1") -> IntentView:
    pi = c.confirm(c.create(order=order).id, method, f"confirm-{order}")
    assert pi.status == "processing"
    return pi


class PaymentCases:
    """The cases; they use the ``c`` fixture of :class:`ProviderContract`."""

    # --- declines: docs.stripe.com/declines, docs.stripe.com/error-codes ---------------

    def test_a_declines_error_holds_no_client_secret(self, c: ContractCase) -> None:
        """Stripe's decline error carries the PaymentIntent (``error.payment_intent``,
        client secret included; stripe-python 16.1.0 ``stripe/_error_object.py``); what
        crosses the port holds the intent without it, first time and on a replay of the
        same key."""
        pi = c.create()
        secret = pi.client_secret
        assert secret
        for _ in range(2):  # the request, then its replay under the same key
            with pytest.raises(ProviderCardDeclined) as caught:
                c.confirm(pi.id, DECLINED, "declined")
            err = caught.value
            intent = err.fields["intent"]
            assert isinstance(intent, IntentView) and intent.id == pi.id
            assert intent.client_secret is None
            assert all(getattr(v, "client_secret", None) is None for v in err.fields.values())
            assert secret not in f"{err} {err.message} {err.fields!r}"
        assert c.provider.retrieve_intent(pi.id).client_secret == secret

    def test_a_failed_challenge_is_payment_intent_authentication_failure(
        self, c: ContractCase
    ) -> None:
        """A failed 3-D Secure challenge sends the intent back to
        ``requires_payment_method`` with the code ``payment_intent_authentication_failure``
        (docs.stripe.com/error-codes#payment-intent-authentication-failure)."""
        pi = c.confirm(c.create().id, THREE_DS, "k")
        assert pi.status == "requires_action"
        c.driver.complete_action(pi.id, success=False)
        after = c.provider.retrieve_intent(pi.id)
        assert (after.status, after.last_error_code) == (
            "requires_payment_method",
            "payment_intent_authentication_failure",
        )

    def test_too_many_declines_cancel_the_intent_automatically(self, c: ContractCase) -> None:
        """After the driver's number of declined confirmations the provider cancels the
        intent itself, with ``cancellation_reason`` ``automatic`` (a reason "generated
        by Stripe internally": stripe-python 16.1.0, ``PaymentIntent
        .cancellation_reason``; when and after how many Stripe does so is unsourced).
        Until then a new card may be tried; after it, every confirmation is refused."""
        limit = _decline_limit(c)
        pi = c.create()
        for n in range(1, limit + 1):
            with pytest.raises(ProviderCardDeclined) as caught:
                c.confirm(pi.id, DECLINED, f"decline-{n}")
            after = caught.value.fields["intent"]
            assert isinstance(after, IntentView)
            if n < limit:
                assert (after.status, after.cancellation_reason) == (
                    "requires_payment_method",
                    None,
                )
        assert (after.status, after.cancellation_reason) == ("canceled", "automatic")
        now = c.provider.retrieve_intent(pi.id)
        assert (now.status, now.cancellation_reason, now.amount_received) == (
            "canceled",
            "automatic",
            0,
        )
        with pytest.raises(ProviderInvalidRequest, match="status of canceled"):
            c.confirm(pi.id, VISA, "after-the-limit")

    # --- return_url: docs.stripe.com/api/payment_intents/confirm -----------------------

    def test_confirm_without_return_url_is_refused_when_redirects_are_allowed(
        self, c: ContractCase
    ) -> None:
        """An intent that takes redirecting payment methods needs a ``return_url`` to be
        confirmed: without one it is refused, naming the parameter, and nothing changed;
        with one it goes on (docs.stripe.com/api/payment_intents/confirm,
        ``return_url``)."""
        pi = _create(c, allow_redirects=True)
        with pytest.raises(ProviderInvalidRequest) as caught:
            c.confirm(pi.id, VISA, "no-url")
        assert caught.value.fields.get("param") == "return_url"
        assert c.provider.retrieve_intent(pi.id).status == "requires_payment_method"
        ok = c.provider.confirm_intent(
            pi.id, payment_method=VISA, return_url=RETURN_URL, idempotency_key=c.key("url")
        )
        assert ok.status == "succeeded"

    def test_confirm_with_an_unknown_payment_method_is_refused_naming_it(
        self, c: ContractCase
    ) -> None:
        """A confirm naming a payment method that does not exist is refused as it was
        sent, nothing changed: the intent exists, the method it names does not, so it is
        an invalid request (400 ``resource_missing`` with ``param`` ``payment_method``,
        "No such PaymentMethod"; docs.stripe.com/error-codes#resource-missing), never
        "not found", which would say the intent is gone."""
        pi = c.create(order="unknown-pm")
        with pytest.raises(ProviderInvalidRequest) as caught:
            c.confirm(pi.id, "pm_no_such_method", "unknown-pm")
        fields = caught.value.fields
        assert (fields.get("error_code"), fields.get("param")) == (
            "resource_missing",
            "payment_method",
        )
        assert c.provider.retrieve_intent(pi.id).status == "requires_payment_method"

    def test_confirm_without_return_url_is_taken_when_redirects_are_never(
        self, c: ContractCase
    ) -> None:
        """With ``automatic_payment_methods[allow_redirects]=never`` (the port's
        ``allow_redirects=False``) a confirmation needs no ``return_url``
        (docs.stripe.com/api/payment_intents/confirm)."""
        pi = _create(c, allow_redirects=False)
        assert c.confirm(pi.id, VISA, "no-url").status == "succeeded"

    # --- bank debits: docs.stripe.com/payments/sepa-debit/accept-a-payment -------------

    def test_a_sepa_debit_processes_then_succeeds(self, c: ContractCase) -> None:
        """A SEPA Direct Debit test method leaves the intent ``processing``, with nothing
        received, until the bank settles it: then it is ``succeeded`` with the amount."""
        pi = _processing(c, PROCESSING)
        assert pi.amount_received == 0
        c.driver.settle(pi.id, success=True)
        done = c.provider.retrieve_intent(pi.id)
        assert (done.status, done.amount_received) == ("succeeded", pi.amount)

    def test_a_failed_sepa_debit_asks_for_a_new_payment_method(self, c: ContractCase) -> None:
        """A debit that fails sends the intent back to ``requires_payment_method`` with a
        last error and nothing received; the customer may pay again with another method."""
        pi = _processing(c, PROCESSING_FAILS)
        c.driver.settle(pi.id, success=False)
        failed = c.provider.retrieve_intent(pi.id)
        assert (failed.status, failed.amount_received) == ("requires_payment_method", 0)
        assert failed.last_error_code
        assert c.confirm(pi.id, VISA, "again").status == "succeeded"

    def test_a_refund_before_the_debit_settled_waits_on_the_charge(self, c: ContractCase) -> None:
        """A refund of a payment still processing is taken: ``pending`` with
        ``pending_reason`` ``charge_pending`` (docs.stripe.com/api/refunds/object); it
        holds its amount, so no more than the rest can be refunded, and once the debit
        succeeds it no longer waits on the charge."""
        pi = _processing(c, PROCESSING)
        rf = c.refund(pi.id, 400, "r1")
        assert (rf.status, rf.pending_reason) == ("pending", "charge_pending")
        with pytest.raises(ProviderInvalidRequest):
            c.refund(pi.id, pi.amount - 399, "too-much")
        c.driver.settle(pi.id, success=True)
        after = c.provider.retrieve_refund(rf.id)
        assert after.pending_reason != "charge_pending"
        assert after.status in REFUND_LIVE and after.amount == 400

    def test_a_refund_of_a_debit_that_failed_holds_nothing(self, c: ContractCase) -> None:
        """When the debit fails there is nothing to refund: the refund that waited on it
        ends (canceled in the fake; unsourced which status Stripe gives) and holds no
        amount."""
        pi = _processing(c, PROCESSING_FAILS)
        rf = c.refund(pi.id, pi.amount, "r1")
        assert rf.pending_reason == "charge_pending"
        c.driver.settle(pi.id, success=False)
        after = c.provider.retrieve_refund(rf.id)
        assert after.status not in REFUND_LIVE

    def test_the_provider_may_cancel_a_processing_debit(self, c: ContractCase) -> None:
        """Stripe may cancel a ``processing`` intent "in rare cases"
        (docs.stripe.com/api/payment_intents/cancel): it is ``canceled`` with nothing
        received, and a refund that waited on its charge ends too."""
        cancel = _cancel_while_processing(c)
        pi = _processing(c, PROCESSING)
        rf = c.refund(pi.id, 300, "r1")
        cancel(pi.id)
        after = c.provider.retrieve_intent(pi.id)
        assert (after.status, after.amount_received) == ("canceled", 0)
        assert c.provider.retrieve_refund(rf.id).status not in REFUND_LIVE
