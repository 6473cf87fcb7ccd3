"""The Stripe adapter without Connect (``connect=False``): a shop charging its own account.
What goes on the wire in this mode, next to the destination charges of the default
mode, and how a seller account that is not the key's own is refused (over the real
SDK, with :mod:`tests.stripe_wire` in place of the network)."""

from __future__ import annotations

import logging

import pytest
from tests.stripe_wire import KEY, Wire, error, intent, refund

from paycore import errors as E
from paycore.money import Money
from paycore.ports import AccountView, CreateIntent
from paycore_adapters.stripe_provider import StripeProvider

OWN = "acct_1ShopOwn"


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def shop(wire: Wire) -> StripeProvider:
    return StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire, connect=False)


def own_account(**over: object) -> dict[str, object]:
    """``GET /v1/account``'s answer: the account object (docs.stripe.com/api/accounts/object)."""
    base: dict[str, object] = {
        "id": OWN,
        "object": "account",
        "charges_enabled": True,
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "requirements": {"disabled_reason": None},
    }
    return {**base, **over}


def test_create_names_no_other_account(wire: Wire, shop: StripeProvider) -> None:
    """No ``transfer_data``, no ``on_behalf_of`` (even when the request asks for it):
    the intent is the key's own account's; the rest is as in the default mode."""
    wire.answer(200, intent())
    req = CreateIntent(Money(1250, "EUR"), OWN, {"order_id": "o1"}, description="2 mugs")
    view = shop.create_intent(req, idempotency_key="k-create-1")
    ((method, path, headers, form),) = wire.sent
    assert (method, path, headers["Idempotency-Key"]) == (
        "POST",
        "/v1/payment_intents",
        "k-create-1",
    )
    assert form == {
        "amount": "1250",
        "currency": "eur",
        "automatic_payment_methods[enabled]": "true",
        "automatic_payment_methods[allow_redirects]": "never",
        "metadata[order_id]": "o1",
        "description": "2 mugs",
    }
    assert view.id == "pi_3Abc"


def test_the_default_mode_still_makes_destination_charges(wire: Wire) -> None:
    """Without the keyword the adapter is the marketplace's, as before."""
    p = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)
    wire.answer(200, intent())
    wire.answer(200, refund())
    p.create_intent(CreateIntent(Money(1250, "EUR"), "acct_9", {}), idempotency_key="k")
    p.create_refund("pi_3Abc", amount=500, reason=None, metadata={}, idempotency_key="k-r")
    created, refunded = (s[3] for s in wire.sent)
    assert (created["transfer_data[destination]"], created["on_behalf_of"]) == ("acct_9", "acct_9")
    assert refunded["reverse_transfer"] == "true"


def test_a_refund_reverses_no_transfer(wire: Wire, shop: StripeProvider) -> None:
    """There is no transfer to take back: ``reverse_transfer`` is not sent."""
    wire.answer(200, refund())
    shop.create_refund(
        "pi_3Abc",
        amount=500,
        reason="requested_by_customer",
        metadata={"refund_id": "rf1"},
        idempotency_key="k-r",
    )
    ((_, path, headers, form),) = wire.sent
    assert (path, headers["Idempotency-Key"]) == ("/v1/refunds", "k-r")
    assert form == {
        "payment_intent": "pi_3Abc",
        "amount": "500",
        "reason": "requested_by_customer",
        "metadata[refund_id]": "rf1",
    }


def test_the_shops_account_is_read_from_get_v1_account(wire: Wire, shop: StripeProvider) -> None:
    """The account is asked for, not assumed: ``GET /v1/account``, read as Stripe shows
    it (here charges disabled, and why)."""
    wire.answer(
        200,
        own_account(
            charges_enabled=False,
            capabilities={"card_payments": "inactive"},
            requirements={"disabled_reason": "requirements.past_due"},
        ),
    )
    view = shop.retrieve_account(OWN)
    assert [s[:2] for s in wire.sent] == [("GET", "/v1/account")]
    assert view == AccountView(
        OWN, False, "inactive", "inactive", "requirements.past_due", own=True
    )


def test_another_account_is_a_configuration_error(wire: Wire, shop: StripeProvider) -> None:
    """A seller configured with an account that is not the key's own cannot be charged
    in this mode: a typed configuration error naming both accounts and the setting."""
    wire.answer(200, own_account())
    with pytest.raises(E.ProviderConfigurationError) as caught:
        shop.retrieve_account("acct_seller")
    err = caught.value
    assert (err.fields["account"], err.fields["own_account"], err.fields["setting"]) == (
        "acct_seller",
        OWN,
        "connect",
    )
    assert "acct_seller" in str(err) and OWN in str(err) and "connect=True" in str(err)
    assert not err.retryable
    assert len(wire.sent) == 1


def test_no_secret_in_the_modes_errors_or_logs(
    wire: Wire, shop: StripeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused key (Stripe's 401 quotes it) and a refused account: neither the error,
    its fields, the adapter's repr nor the ``stripe`` logger's lines show the key."""
    caplog.set_level(logging.DEBUG)
    wire.answers.append(
        error(401, type="invalid_request_error", message=f"Invalid API Key provided: {KEY}")
    )
    with pytest.raises(E.ProviderConfigurationError) as unauthorized:
        shop.retrieve_account(OWN)
    wire.answer(200, own_account())
    with pytest.raises(E.ProviderConfigurationError) as other:
        shop.retrieve_account("acct_seller")
    shown = [repr(shop), str(unauthorized.value), repr(unauthorized.value.fields)]
    shown += [str(other.value), repr(other.value.fields)]
    shown += [r.getMessage() for r in caplog.records]
    assert any("Invalid API Key" in r.getMessage() for r in caplog.records)
    assert not [line for line in shown if KEY[:12] in line]
    assert repr(shop).endswith("connect=False)")
