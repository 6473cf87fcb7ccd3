"""LocalstripeDriver: what it does on localstripe and the typed refusal of what it cannot."""

from __future__ import annotations

import pytest
import stripe

from paycore_adapters.testing.localstripe import Localstripe
from paycore_adapters.testing.localstripe_driver import LocalstripeDriver
from paycore_adapters.testing.provider_case import NotSupportedByBackend


def test_what_localstripe_lacks_is_refused_with_its_reason(ls: Localstripe) -> None:
    """Accounts, pending refunds and search raise ``NotSupportedByBackend`` naming what
    is missing, never a bare error."""
    driver = LocalstripeDriver(ls.url)
    calls = {
        "connected accounts": [
            driver.blocked_account,
            lambda: driver.set_account_state("acct_x", charges_enabled=False),
            lambda: driver.transfer_reversed("re_x"),
        ],
        "refunds succeed": [
            driver.hold_refunds,
            lambda: driver.settle_refund("re_x", success=True),
        ],
        "no search": [driver.searchable],
    }
    for words, group in calls.items():
        for call in group:
            with pytest.raises(NotSupportedByBackend) as caught:
                call()
            assert words in caught.value.reason
    assert driver.charging_account() == LocalstripeDriver.ACCOUNT


def test_no_hooks_for_holding_requests(ls: Localstripe) -> None:
    """localstripe cannot hold a request in flight or save a 500: the driver has none of
    HoldingDriver's methods, so the concurrency cases mark themselves expected failures."""
    driver = LocalstripeDriver(ls.url)
    for name in ("hold_request", "release_requests", "save_500_next"):
        assert not hasattr(driver, name)


def test_settle_refuses_an_outcome_localstripe_did_not_make(
    ls: Localstripe, client: stripe.StripeClient
) -> None:
    """An intent that succeeded cannot be settled as failed: localstripe decides."""
    pis = client.v1.payment_intents
    pi = pis.confirm(
        pis.create({"amount": 1000, "currency": "eur", "payment_method": "pm_card_visa"}).id
    )
    driver = LocalstripeDriver(ls.url)
    driver.settle(pi.id, success=True)  # already so: nothing to wait for
    with pytest.raises(NotSupportedByBackend, match="is succeeded, not requires_payment_method"):
        driver.settle(pi.id, success=False)


def test_complete_action_needs_an_intent_requiring_action(
    ls: Localstripe, client: stripe.StripeClient
) -> None:
    """A challenge can only be passed for an intent that has one."""
    pi = client.v1.payment_intents.create({"amount": 1000, "currency": "eur"})
    with pytest.raises(NotSupportedByBackend, match="not requires_action"):
        LocalstripeDriver(ls.url).complete_action(pi.id, success=True)
