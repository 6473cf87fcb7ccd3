"""paycore's service on the Stripe adapter without Connect (``connect=False``), over the
emulator: a shop whose only seller is its own Stripe account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paycore import CartItem, Money, PaymentService
from paycore.errors import ProviderConfigurationError, SellerCannotCharge
from paycore_adapters.emulator import Emulator
from paycore_adapters.memory import ManualClock, RecordingAlerts, RecordingNotifier
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.stripe_provider import StripeProvider

SHOP = "acct_1ShopOwn"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(own_account=SHOP) as emulator:
        emulator.model.set_account(SHOP)
        yield emulator


def shop(emu: Emulator, account: str = SHOP) -> PaymentService:
    provider = StripeProvider.from_settings(
        "sk_test_shop", api_base=emu.url, max_network_retries=0, connect=False
    )
    svc = PaymentService(
        MemoryStore(), provider, ManualClock(), RecordingAlerts(), RecordingNotifier()
    )
    svc.add_seller("s1", "Ceramics", provider_account=account)
    svc.add_product("mug", "s1", sku="MUG", name="Mug", price=Money(1800, "EUR"))
    svc.restock("s1", "MUG", 5)
    return svc


def test_a_checkout_is_paid_and_refunded_on_the_shops_own_account(emu: Emulator) -> None:
    """The seller check reads ``GET /v1/account``; the intent is the account's own, so
    its refund takes back no transfer."""
    svc = shop(emu)
    checkout = svc.create_payment_intent("cs_7f3a9c2e4b1d8a6f", [CartItem("mug", 2)])
    paid = svc.confirm_payment(checkout.payment_id, payment_method="pm_card_visa")
    assert (paid.status, svc.order(checkout.order_id).status) == ("succeeded", "paid")
    svc.create_refund(checkout.payment_id, 1800, idempotency_key="rma-1")
    assert emu.requests.get("retrieve_own_account") == 1
    assert "retrieve_account" not in emu.requests
    (intent,) = emu.model.list_intents(created_gte_s=0).data
    (refund,) = emu.model.list_refunds(intent.id).data
    assert (refund.amount, emu.model.transfer_reversed(refund.id)) == (1800, 0)


def test_a_seller_with_another_account_is_never_charged(emu: Emulator) -> None:
    """A seller whose account is not the key's own: the check is refused as a
    configuration error, the checkout ends at once and no intent is made."""
    svc = shop(emu, account="acct_other")
    with pytest.raises(ProviderConfigurationError, match="not this API key's own"):
        svc.create_payment_intent("cs_8f3a9c2e4b1d8a6f", [CartItem("mug", 1)])
    assert "create_intent" not in emu.requests


def test_a_disabled_own_account_refuses_the_checkout(emu: Emulator) -> None:
    """The account is asked, not assumed: disabled, the checkout ends as the seller's."""
    emu.model.disable_account(SHOP, "under_review")
    with pytest.raises(SellerCannotCharge, match="under_review"):
        shop(emu).create_payment_intent("cs_9f3a9c2e4b1d8a6f", [CartItem("mug", 1)])
    assert "create_intent" not in emu.requests


def test_an_own_account_without_transfers_takes_checkouts(emu: Emulator) -> None:
    """A shop's own account needs no ``transfers`` capability when nothing is transferred
    (docs/stripe.md, "Connect accounts, or none")."""
    emu.model.set_account(SHOP, transfers="inactive")
    checkout = shop(emu).create_payment_intent("cs_af3a9c2e4b1d8a6f", [CartItem("mug", 1)])
    assert checkout.payment_id
