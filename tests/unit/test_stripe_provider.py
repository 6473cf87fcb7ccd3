"""The Stripe adapter over the real SDK, with a stub in place of the network
(:mod:`tests.stripe_wire`): what goes on the wire for each port call, the SDK's retries,
and the key kept secret. What each of Stripe's errors becomes: test_stripe_errors.py."""

from __future__ import annotations

import logging

import pytest
import stripe
from tests.stripe_wire import KEY, SECRET, Wire, error, intent, page, refund

from paycore import errors as E
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore_adapters.stripe_errors import redact
from paycore_adapters.stripe_provider import StripeProvider


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def provider(wire: Wire) -> StripeProvider:
    return StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)


def only(wire: Wire) -> tuple[str, str, dict[str, str], dict[str, str]]:
    (sent,) = wire.sent
    return sent


# --- what goes on the wire ---------------------------------------------------------


def test_create_sends_a_destination_charge_under_its_key(
    wire: Wire, provider: StripeProvider
) -> None:
    wire.answer(200, intent())
    req = CreateIntent(Money(1250, "EUR"), "acct_1", {"order_id": "o1"}, description="2 mugs")
    view = provider.create_intent(req, idempotency_key="k-create-1")
    method, path, headers, form = only(wire)
    assert (method, path, headers["Idempotency-Key"]) == (
        "POST",
        "/v1/payment_intents",
        "k-create-1",
    )
    assert form == {
        "amount": "1250",
        "currency": "eur",
        "transfer_data[destination]": "acct_1",
        "on_behalf_of": "acct_1",
        "automatic_payment_methods[enabled]": "true",
        "automatic_payment_methods[allow_redirects]": "never",
        "metadata[order_id]": "o1",
        "description": "2 mugs",
    }
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert (view.id, view.currency, view.created, view.client_secret) == (
        "pi_3Abc",
        "EUR",
        1_767_225_600_000,
        SECRET,
    )


def test_redirects_allowed_and_no_on_behalf_of_are_left_to_stripe(
    wire: Wire, provider: StripeProvider
) -> None:
    wire.answer(200, intent())
    req = CreateIntent(Money(1250, "EUR"), "acct_1", {}, allow_redirects=True, on_behalf_of=False)
    provider.create_intent(req, idempotency_key="k")
    form = only(wire)[3]
    assert "on_behalf_of" not in form and "automatic_payment_methods[allow_redirects]" not in form


def test_confirm_sends_the_method_and_return_url(wire: Wire, provider: StripeProvider) -> None:
    url = "https://shop.example/done"
    wire.answer(
        200,
        intent(
            status="requires_action",
            next_action={
                "type": "redirect_to_url",
                "redirect_to_url": {"url": "https://hooks.stripe.com/3ds"},
            },
        ),
    )
    view = provider.confirm_intent(
        "pi_3Abc", payment_method="pm_card_visa", return_url=url, idempotency_key="k-c"
    )
    method, path, headers, form = only(wire)
    assert (method, path, headers["Idempotency-Key"]) == (
        "POST",
        "/v1/payment_intents/pi_3Abc/confirm",
        "k-c",
    )
    assert form == {"payment_method": "pm_card_visa", "return_url": url}
    assert (view.status, view.next_action_url) == (
        "requires_action",
        "https://hooks.stripe.com/3ds",
    )


def test_cancel_and_capture_are_keyed(wire: Wire, provider: StripeProvider) -> None:
    wire.answer(200, intent(status="canceled", cancellation_reason="requested_by_customer"))
    wire.answer(200, intent(status="succeeded", amount_received=1250))
    assert provider.cancel_intent("pi_3Abc", idempotency_key="k1").cancellation_reason == (
        "requested_by_customer"
    )
    assert provider.capture_intent("pi_3Abc", idempotency_key="k2").amount_received == 1250
    assert [(s[1], s[2]["Idempotency-Key"]) for s in wire.sent] == [
        ("/v1/payment_intents/pi_3Abc/cancel", "k1"),
        ("/v1/payment_intents/pi_3Abc/capture", "k2"),
    ]


def test_list_intents_sends_the_window_in_seconds_and_the_cursor(
    wire: Wire, provider: StripeProvider
) -> None:
    wire.answer(200, page(intent(id="pi_2"), intent(id="pi_1"), has_more=True))
    got = provider.list_intents(
        created_gte_s=1_767_225_600, created_lt_s=1_767_229_200, limit=2, starting_after="pi_3"
    )
    method, path, _, query = only(wire)
    assert (method, path) == ("GET", "/v1/payment_intents")
    assert query == {
        "created[gte]": "1767225600",
        "created[lt]": "1767229200",
        "limit": "2",
        "starting_after": "pi_3",
    }
    assert ([v.id for v in got.data], got.has_more) == (["pi_2", "pi_1"], True)


def test_refunds_are_listed_for_their_intent_a_page_at_a_time(
    wire: Wire, provider: StripeProvider
) -> None:
    wire.answer(200, page(refund(id="re_2"), has_more=True))
    got = provider.list_refunds("pi_3Abc", limit=1, starting_after="re_3")
    assert only(wire)[1:4:2] == (
        "/v1/refunds",
        {"payment_intent": "pi_3Abc", "limit": "1", "starting_after": "re_3"},
    )
    assert ([r.id for r in got.data], got.has_more) == (["re_2"], True)


def test_search_reads_every_page_and_quotes_its_value(wire: Wire, provider: StripeProvider) -> None:
    first = {**page(intent(id="pi_2"), has_more=True), "object": "search_result", "next_page": "p2"}
    last = {**page(intent(id="pi_1")), "object": "search_result", "next_page": None}
    wire.answer(200, first)
    wire.answer(200, last)
    got = provider.search_intents(metadata_key="order_id", value="o'1")
    assert [v.id for v in got] == ["pi_2", "pi_1"]
    queries = [s[3] for s in wire.sent]
    assert queries[0] == {"query": "metadata['order_id']:'o\\'1'", "limit": "100"}
    assert queries[1]["page"] == "p2" and wire.sent[1][1] == "/v1/payment_intents/search"


def test_a_refund_reverses_the_transfer_under_its_key(wire: Wire, provider: StripeProvider) -> None:
    wire.answer(200, refund(status="pending", pending_reason="charge_pending"))
    view = provider.create_refund(
        "pi_3Abc",
        amount=500,
        reason="requested_by_customer",
        metadata={"refund_id": "rf1"},
        idempotency_key="k-r",
    )
    _, path, headers, form = only(wire)
    assert (path, headers["Idempotency-Key"]) == ("/v1/refunds", "k-r")
    assert form == {
        "payment_intent": "pi_3Abc",
        "amount": "500",
        "reason": "requested_by_customer",
        "metadata[refund_id]": "rf1",
        "reverse_transfer": "true",
    }
    assert (view.status, view.pending_reason, view.intent_id) == (
        "pending",
        "charge_pending",
        "pi_3Abc",
    )


def test_an_account_reads_as_charges_capabilities_and_why_disabled(
    wire: Wire, provider: StripeProvider
) -> None:
    wire.answer(
        200,
        {
            "id": "acct_1",
            "object": "account",
            "charges_enabled": False,
            "capabilities": {"card_payments": "inactive"},
            "requirements": {"disabled_reason": "requirements.past_due"},
        },
    )
    view = provider.retrieve_account("acct_1")
    assert only(wire)[:2] == ("GET", "/v1/accounts/acct_1")
    assert (view.charges_enabled, view.card_payments, view.transfers, view.disabled_reason) == (
        False,
        "inactive",
        "inactive",  # a capability the account never had cannot be used
        "requirements.past_due",
    )


# --- retries -------------------------------------------------------------------------


def test_the_sdk_retries_a_409_under_the_same_key_and_stops_where_stripe_says(
    wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda *a, **k: 0)
    retrying = StripeProvider.from_settings(KEY, max_network_retries=2, http_client=wire)
    wire.answers.append(error(409, type="invalid_request_error", code="idempotency_key_in_use"))
    wire.answer(200, intent(status="canceled"))
    assert retrying.cancel_intent("pi_3Abc", idempotency_key="k-9").status == "canceled"
    assert [s[2]["Idempotency-Key"] for s in wire.sent] == ["k-9", "k-9"]
    wire.sent.clear()
    wire.answer(500, {"error": {"type": "api_error"}}, {"Stripe-Should-Retry": "false"})
    with pytest.raises(E.ProviderUnavailable):
        retrying.cancel_intent("pi_3Abc", idempotency_key="k-10")
    assert len(wire.sent) == 1


# --- the key stays secret ------------------------------------------------------------


def test_the_key_is_in_no_repr_error_or_log_line(
    wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    """Stripe's 401 quotes (part of) the key, and the SDK logs every answer's body to the
    ``stripe`` logger at debug level: the adapter's filter redacts those lines."""
    caplog.set_level(logging.DEBUG)
    p = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)
    wire.answers.append(
        error(401, type="invalid_request_error", message=f"Invalid API Key provided: {KEY}")
    )
    with pytest.raises(E.ProviderConfigurationError) as caught:
        p.retrieve_intent("pi_3Abc")
    assert caught.value.fields["http_status"] == 401
    shown = [repr(p), str(caught.value), repr(caught.value.fields)]
    shown += [r.getMessage() for r in caplog.records]
    assert any("Invalid API Key" in r.getMessage() for r in caplog.records)
    assert not [line for line in shown if KEY[:12] in line]
    wire.answer(200, intent())
    p.retrieve_intent("pi_3Abc")
    assert not [r for r in caplog.records if SECRET in r.getMessage()]


def test_without_a_key_the_settings_error_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    with pytest.raises(E.ProviderConfigurationError, match="STRIPE_SECRET_KEY"):
        StripeProvider.from_settings()
    monkeypatch.setenv("STRIPE_SECRET_KEY", KEY)
    assert "sk_" not in repr(StripeProvider.from_settings())


def test_redact_hides_keys_and_client_secrets() -> None:
    text = f"key {KEY}, masked sk_live_****1234, rk_test_abc, secret {SECRET}."
    assert redact(text) == "key [redacted], masked [redacted], [redacted], secret [redacted]."
