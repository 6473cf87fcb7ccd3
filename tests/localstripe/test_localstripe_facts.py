"""What localstripe 1.15.10 does, probed with the bare SDK, for each behaviour the
provider contract encodes. Each test is a fact about localstripe today (not about Stripe:
where they differ the docstring says so, with Stripe's page); the expected-failure table
(``paycore_adapters.testing.localstripe_gaps``) rests on them."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import stripe

from paycore_adapters.testing.localstripe import Localstripe
from paycore_adapters.testing.localstripe_driver import LocalstripeDriver

EUR = {"amount": 1000, "currency": "eur"}
#: A card localstripe asks 3-D Secure for (``PaymentMethod._requires_authentication``).
THREE_DS_CARD = "4000002760003184"


def _card(client: stripe.StripeClient, number: str) -> str:
    card = {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    return client.v1.payment_methods.create({"type": "card", "card": card}).id


def _paid(client: stripe.StripeClient, amount: int = 1000, **extra: Any) -> stripe.PaymentIntent:
    pis = client.v1.payment_intents
    pi = pis.create(
        {"amount": amount, "currency": "eur", "payment_method": "pm_card_visa", **extra}
    )
    return pis.confirm(pi.id)


def _error(call: Any) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as caught:
        call()
    return caught.value


# --- the server ---------------------------------------------------------------------------


def test_it_listens_on_the_loopback_address_and_a_reset_empties_it(ls: Localstripe) -> None:
    """The tests' server is on 127.0.0.1; ``reset`` (``DELETE /_config/data``) forgets
    every object."""
    assert ls.url.startswith("http://127.0.0.1:")
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": ls.url}, max_network_retries=0)
    pi = client.v1.payment_intents.create(EUR)
    ls.reset()
    assert _error(lambda: client.v1.payment_intents.retrieve(pi.id)).http_status == 404


def test_a_secret_key_is_needed_and_any_sk_key_is_taken(ls: Localstripe) -> None:
    """Any key starting ``sk_`` authenticates; another is a 401."""
    other = stripe.StripeClient("pk_test_x", base_addresses={"api": ls.url}, max_network_retries=0)
    assert isinstance(_error(other.v1.payment_intents.list), stripe.AuthenticationError)


def test_stop_ends_the_server_and_url_is_gone() -> None:
    """``stop`` ends the child process; the object no longer has an address."""
    with Localstripe() as server:
        url = server.url
    with pytest.raises(RuntimeError, match="not running"):
        server.url  # noqa: B018
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": url}, max_network_retries=0)
    assert isinstance(_error(client.v1.payment_intents.list), stripe.APIConnectionError)


# --- creating intents ---------------------------------------------------------------------


def test_no_destination_charge_and_no_automatic_payment_methods(
    client: stripe.StripeClient,
) -> None:
    """``transfer_data`` (which the adapter sends with Connect,
    docs.stripe.com/connect/destination-charges) is refused as unexpected, and so is
    ``automatic_payment_methods`` in any form but the one the tests' server drops (next
    test)."""
    err = _error(
        lambda: client.v1.payment_intents.create(
            {**EUR, "transfer_data": {"destination": "acct_1"}}
        )
    )
    assert (err.http_status, err.user_message) == (400, "Unexpected transfer_data")
    for apm in ({"enabled": True}, {"enabled": True, "allow_redirects": "always"}):
        err = _error(
            lambda apm=apm: client.v1.payment_intents.create(
                {**EUR, "automatic_payment_methods": apm}
            )
        )
        assert err.user_message == "Unexpected automatic_payment_methods"


NEVER_REDIRECT = {"enabled": True, "allow_redirects": "never"}


def test_the_tests_server_drops_never_redirect_and_localstripe_refuses_it(
    client: stripe.StripeClient,
) -> None:
    """The tests' server takes ``automatic_payment_methods`` as the adapter sends it
    (enabled, ``allow_redirects=never``) and makes the intent without it; localstripe
    itself (``accept_no_redirects=False``) refuses it as unexpected."""
    pi = client.v1.payment_intents.create({**EUR, "automatic_payment_methods": NEVER_REDIRECT})
    assert (pi.status, "automatic_payment_methods" in pi) == ("requires_payment_method", False)
    with Localstripe(accept_no_redirects=False) as raw:
        bare = stripe.StripeClient(
            "sk_test_x", base_addresses={"api": raw.url}, max_network_retries=0
        )
        err = _error(
            lambda: bare.v1.payment_intents.create(
                {**EUR, "automatic_payment_methods": NEVER_REDIRECT}
            )
        )
    assert (err.http_status, err.user_message) == (400, "Unexpected automatic_payment_methods")


def test_no_minimum_or_maximum_amount(client: stripe.StripeClient) -> None:
    """Any positive amount is taken: 1 cent of EUR (Stripe's minimum is 50,
    docs.stripe.com/currencies#minimum-and-maximum-charge-amounts), 1 yen, nine digits;
    zero is a bare 400 'Bad request' (Stripe: ``amount_too_small``)."""
    for amount, currency in ((1, "eur"), (1, "jpy"), (999_999_999, "eur")):
        pi = client.v1.payment_intents.create({"amount": amount, "currency": currency})
        assert (pi.amount, pi.status) == (amount, "requires_payment_method")
    err = _error(lambda: client.v1.payment_intents.create({**EUR, "amount": 0}))
    assert (err.http_status, err.code, err.user_message) == (400, None, "Bad request")


def test_no_metadata_limits(client: stripe.StripeClient) -> None:
    """51 keys, a 41-character key and a 501-character value are all kept (Stripe refuses
    each: docs.stripe.com/api/metadata)."""
    many = {f"k{n}": "v" for n in range(51)}
    pi = client.v1.payment_intents.create({**EUR, "metadata": many})
    assert pi.metadata.to_dict() == many
    long = {"k" * 41: "v" * 501}
    pi = client.v1.payment_intents.create({**EUR, "metadata": long})
    assert pi.metadata.to_dict() == long


def test_an_intent_has_no_amount_received(client: stripe.StripeClient) -> None:
    """A succeeded intent carries no ``amount_received`` (Stripe's does,
    docs.stripe.com/api/payment_intents/object); its charge has the amount."""
    pi = _paid(client, 1500)
    assert pi.status == "succeeded"
    assert "amount_received" not in pi
    assert (pi.latest_charge["amount"], pi.latest_charge["captured"]) == (1500, True)


# --- idempotency ----------------------------------------------------------------------------


def test_idempotency_keys_are_ignored(client: stripe.StripeClient) -> None:
    """The same key twice makes two intents, and the same key with other parameters is
    taken too (Stripe replays the first result or refuses the mismatch:
    docs.stripe.com/api/idempotent_requests)."""
    key = {"idempotency_key": "same-key"}
    first = client.v1.payment_intents.create(EUR, key)
    again = client.v1.payment_intents.create(EUR, key)
    other = client.v1.payment_intents.create({**EUR, "amount": 2000}, key)
    assert len({first.id, again.id, other.id}) == 3
    assert len(client.v1.payment_intents.list({"limit": 100}).data) == 3


# --- confirming -----------------------------------------------------------------------------


def test_confirm_with_a_payment_method_is_not_implemented(client: stripe.StripeClient) -> None:
    """``confirm`` naming a ``payment_method`` is a 500 'Not implemented' (the adapter
    confirms that way); the method must be set at create or by an update."""
    pi = client.v1.payment_intents.create(EUR)
    err = _error(
        lambda: client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa"})
    )
    assert (err.http_status, err.user_message) == (500, "Not implemented")
    client.v1.payment_intents.update(pi.id, {"payment_method": "pm_card_visa"})
    assert client.v1.payment_intents.confirm(pi.id).status == "succeeded"


def test_confirm_takes_no_return_url(client: stripe.StripeClient) -> None:
    """``return_url`` is refused as unexpected."""
    pi = client.v1.payment_intents.create({**EUR, "payment_method": "pm_card_visa"})
    err = _error(lambda: client.v1.payment_intents.confirm(pi.id, {"return_url": "https://x"}))
    assert err.user_message == "Unexpected return_url"


def test_only_three_test_payment_method_ids_exist(client: stripe.StripeClient) -> None:
    """It knows ``pm_card_visa``, ``pm_card_visa_chargeDeclined`` and
    ``pm_card_chargeCustomerFail``; the contract's ``pm_card_chargeDeclined``,
    ``pm_card_threeDSecure2Required`` and ``pm_successDelayed_de``
    (docs.stripe.com/testing) are not found."""
    for pm in ("pm_card_chargeDeclined", "pm_card_threeDSecure2Required", "pm_successDelayed_de"):
        err = _error(lambda pm=pm: client.v1.payment_intents.create({**EUR, "payment_method": pm}))
        assert err.http_status == 404


def test_declines_only_on_charge_customer_fail(client: stripe.StripeClient) -> None:
    """``pm_card_visa_chargeDeclined`` (4000000000000002) is declined only when attached
    to a customer: charged, it succeeds. ``pm_card_chargeCustomerFail`` is declined: a
    402 ``card_declined`` naming the charge but not the intent (Stripe's carries the
    intent, docs.stripe.com/api/errors), and the method stays on the intent."""
    pis = client.v1.payment_intents
    pi = pis.create({**EUR, "payment_method": "pm_card_visa_chargeDeclined"})
    assert pis.confirm(pi.id).status == "succeeded"
    pi = pis.create({**EUR, "payment_method": "pm_card_chargeCustomerFail"})
    err = _error(lambda: pis.confirm(pi.id))
    assert isinstance(err, stripe.CardError)
    assert (err.http_status, err.code) == (402, "card_declined")
    assert "payment_intent" not in err.json_body["error"]
    after = pis.retrieve(pi.id)
    assert (after.status, after.last_payment_error["code"]) == (
        "requires_payment_method",
        "card_declined",
    )
    assert after.payment_method == "pm_card_chargeCustomerFail"


def test_a_declined_intent_cannot_be_confirmed_again(client: stripe.StripeClient) -> None:
    """After a decline the intent stays ``requires_payment_method`` even with a new
    method set, and a confirm is a 400 'Bad request': it is never retried, never
    canceled for too many declines (Stripe takes a new method and confirms,
    docs.stripe.com/payments/paymentintents/lifecycle)."""
    pis = client.v1.payment_intents
    pi = pis.create({**EUR, "payment_method": "pm_card_chargeCustomerFail"})
    assert _error(lambda: pis.confirm(pi.id)).http_status == 402
    pis.update(pi.id, {"payment_method": "pm_card_visa"})
    assert pis.retrieve(pi.id).status == "requires_payment_method"
    err = _error(lambda: pis.confirm(pi.id))
    assert (err.http_status, err.user_message) == (400, "Bad request")
    assert pis.retrieve(pi.id).status == "requires_payment_method"


def test_three_d_secure_through_authenticate(ls: Localstripe, client: stripe.StripeClient) -> None:
    """Card 4000002760003184 leaves the intent ``requires_action`` with a
    ``use_stripe_sdk`` next action (no redirect URL); ``_authenticate`` with the client
    secret passes the challenge (succeeded) or fails it (``requires_payment_method``,
    ``payment_intent_authentication_failure``), as the driver does."""
    pis = client.v1.payment_intents
    pm = _card(client, THREE_DS_CARD)
    passed, failed = (pis.create({**EUR, "payment_method": pm}) for _ in range(2))
    for pi in (passed, failed):
        acting = pis.confirm(pi.id)
        assert acting.status == "requires_action"
        assert acting.next_action["type"] == "use_stripe_sdk"
    driver = LocalstripeDriver(ls.url)
    driver.complete_action(passed.id, success=True)
    driver.complete_action(failed.id, success=False)
    assert pis.retrieve(passed.id).status == "succeeded"
    back = pis.retrieve(failed.id)
    assert (back.status, back.last_payment_error["code"]) == (
        "requires_payment_method",
        "payment_intent_authentication_failure",
    )


def test_a_sepa_debit_with_a_failing_iban_answers_processing(client: stripe.StripeClient) -> None:
    """A debit from the failing IBAN is ``processing`` in the confirm's answer (localstripe
    fails it half a second later by itself); one from another IBAN succeeds at once."""
    pis = client.v1.payment_intents
    for iban, status in (
        ("DE62370400440532013001", "processing"),
        ("DE89370400440532013000", "succeeded"),
    ):
        pm = client.v1.payment_methods.create({"type": "sepa_debit", "sepa_debit": {"iban": iban}})
        pi = pis.create({**EUR, "payment_method": pm.id})
        assert pis.confirm(pi.id).status == status


def test_errors_do_not_name_the_status(client: stripe.StripeClient) -> None:
    """Confirming, canceling or capturing a succeeded intent is a bare 400 'Bad request'
    (Stripe names the status: "...because it has a status of succeeded")."""
    pi = _paid(client)
    pis = client.v1.payment_intents
    for call in (lambda: pis.confirm(pi.id), lambda: pis.cancel(pi.id), lambda: pis.capture(pi.id)):
        err = _error(call)
        assert (err.http_status, err.user_message) == (400, "Bad request")


def test_cancel_of_an_open_intent(client: stripe.StripeClient) -> None:
    """An intent requiring a payment method is canceled; canceling it again is refused."""
    pi = client.v1.payment_intents.create(EUR)
    assert client.v1.payment_intents.cancel(pi.id).status == "canceled"
    assert _error(lambda: client.v1.payment_intents.cancel(pi.id)).http_status == 400


def test_manual_capture_and_a_partial_capture_refunds_the_rest(client: stripe.StripeClient) -> None:
    """``capture_method=manual`` stops at ``requires_capture``; capturing 700 of 1000
    succeeds and makes a refund of the 300 left (how Stripe shows the released rest is
    not compared here: unsourced)."""
    pi = _paid(client, 1000, capture_method="manual")
    assert pi.status == "requires_capture"
    assert (
        client.v1.payment_intents.capture(pi.id, {"amount_to_capture": 700}).status == "succeeded"
    )
    refunds = client.v1.refunds.list({"payment_intent": pi.id}).data
    assert [r.amount for r in refunds] == [300]


# --- refunds --------------------------------------------------------------------------------


def test_refunds_are_not_capped_and_succeed_at_once(client: stripe.StripeClient) -> None:
    """Two refunds of 600 on a 1000 charge both succeed at once (Stripe refuses the
    second: docs.stripe.com/api/refunds/create); metadata is kept."""
    pi = _paid(client, 1000)
    one = client.v1.refunds.create({"payment_intent": pi.id, "amount": 600, "metadata": {"r": "1"}})
    two = client.v1.refunds.create({"payment_intent": pi.id, "amount": 600})
    assert (one.status, two.status, one.metadata.to_dict()) == (
        "succeeded",
        "succeeded",
        {"r": "1"},
    )
    charge = client.v1.payment_intents.retrieve(pi.id).latest_charge
    assert charge["amount_refunded"] == 1200


def test_refunds_take_no_reason_and_no_reverse_transfer(client: stripe.StripeClient) -> None:
    """``reason`` and ``reverse_transfer`` (which the adapter sends) are refused."""
    pi = _paid(client)
    for extra in ({"reason": "duplicate"}, {"reverse_transfer": True}):
        err = _error(
            lambda extra=extra: client.v1.refunds.create(
                {"payment_intent": pi.id, "amount": 1, **extra}
            )
        )
        assert err.http_status == 400 and str(err.user_message).startswith("Unexpected")


def test_an_unpaid_intent_cannot_be_refunded(client: stripe.StripeClient) -> None:
    """Its message differs from Stripe's ("does not have a successful charge")."""
    pi = client.v1.payment_intents.create(EUR)
    err = _error(lambda: client.v1.refunds.create({"payment_intent": pi.id, "amount": 1}))
    assert (err.http_status, err.user_message) == (400, "Cannot refund a failed payment.")


def test_refunds_of_one_second_list_oldest_first(client: stripe.StripeClient) -> None:
    """Refunds sort by their second, newest first, but within a second they stay in the
    order they were made (oldest first; Stripe lists newest first,
    docs.stripe.com/api/pagination). Three refunds made back to back share a second
    unless the clock turns between them: the test asserts only on those that do."""
    pi = _paid(client, 1000)
    made = [client.v1.refunds.create({"payment_intent": pi.id, "amount": 100}) for _ in range(3)]
    listed = client.v1.refunds.list({"payment_intent": pi.id}).data
    second = {r.id: r.created for r in made}
    for a, b in itertools.pairwise(listed):
        if second[a.id] == second[b.id]:
            assert [r.id for r in made].index(a.id) < [r.id for r in made].index(b.id)
        else:
            assert second[a.id] > second[b.id]


# --- listing and search ------------------------------------------------------------------


def test_intents_list_oldest_first_with_a_cursor(client: stripe.StripeClient) -> None:
    """The list is in creation order, oldest first (Stripe: newest first);
    ``starting_after`` continues after the named intent."""
    made = [client.v1.payment_intents.create(EUR).id for _ in range(4)]
    assert [p.id for p in client.v1.payment_intents.list().data] == made
    page = client.v1.payment_intents.list({"limit": 2, "starting_after": made[0]})
    assert ([p.id for p in page.data], page.has_more) == (made[1:3], True)


def test_list_takes_no_created_filter_any_limit_and_any_cursor(client: stripe.StripeClient) -> None:
    """``created`` is refused as unexpected; a limit over 100 is taken (Stripe: at most
    100); a cursor naming no intent reads from the top (Stripe: ``resource_missing``)."""
    made = [client.v1.payment_intents.create(EUR).id for _ in range(2)]
    err = _error(lambda: client.v1.payment_intents.list({"created": {"gte": 1}}))
    assert (err.http_status, err.user_message) == (400, "Unexpected created")
    assert len(client.v1.payment_intents.list({"limit": 101}).data) == 2
    assert [
        p.id for p in client.v1.payment_intents.list({"starting_after": "pi_none"}).data
    ] == made


def test_there_is_no_search(client: stripe.StripeClient) -> None:
    """``/v1/payment_intents/search`` is not found (docs.stripe.com/search)."""
    err = _error(lambda: client.v1.payment_intents.search({"query": "metadata['o']:'1'"}))
    assert err.http_status == 404


def test_unknown_ids_are_404(client: stripe.StripeClient) -> None:
    """Retrieving or canceling a missing intent, or retrieving a missing refund, is a 404
    (without Stripe's ``resource_missing`` code)."""
    for call in (
        lambda: client.v1.payment_intents.retrieve("pi_missing"),
        lambda: client.v1.payment_intents.cancel("pi_missing"),
        lambda: client.v1.refunds.retrieve("re_missing"),
    ):
        err = _error(call)
        assert (err.http_status, err.code) == (404, None)


# --- Connect --------------------------------------------------------------------------------


def test_there_are_no_accounts(client: stripe.StripeClient) -> None:
    """Neither ``/v1/accounts/{id}`` nor the key's own ``/v1/account`` (what the adapter
    reads without Connect) is a route: a plain-text 404 (docs.stripe.com/api/accounts)."""
    for call in (
        lambda: client.v1.accounts.retrieve("acct_1"),
        client.v1.accounts.retrieve_current,
    ):
        err = _error(call)
        assert err.http_status == 404 and isinstance(err, stripe.APIError)


def test_events_are_few(client: stripe.StripeClient) -> None:
    """A payment and a cancel send only ``payment_intent.succeeded`` (no
    ``payment_intent.created``, ``.canceled`` or ``charge.succeeded``:
    docs.stripe.com/api/events/types)."""
    _paid(client)
    client.v1.payment_intents.cancel(client.v1.payment_intents.create(EUR).id)
    types = {e.type for e in client.v1.events.list().data}
    assert types <= {"payment_intent.succeeded", "balance.available"}
    assert "payment_intent.succeeded" in types
