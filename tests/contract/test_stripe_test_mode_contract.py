"""The Stripe adapter against Stripe's own test mode, through the provider contract.

It needs the network and a test-mode key of a Connect platform: with
``STRIPE_TEST_SECRET_KEY`` (and ``STRIPE_TEST_ACCOUNT``, a connected account that can
charge) set, every case runs against Stripe; without the key the backend is reported as
not run, with that reason. Cases whose far side only Stripe drives end as expected
failures (:mod:`paycore_adapters.testing.stripe_test_mode`)."""

from __future__ import annotations

import os

import pytest

from paycore.ports import PaymentProvider
from paycore_adapters.testing import ProviderContract, ProviderDriver
from paycore_adapters.testing.stripe_test_mode import KEY_ENV, StripeTestModeDriver

pytestmark = pytest.mark.skipif(
    not os.environ.get(KEY_ENV),
    reason=f"not run: {KEY_ENV} is not set (Stripe's test mode needs a key and the network)",
)


class TestStripeTestMode(ProviderContract):
    def make_provider(self) -> PaymentProvider:
        from paycore_adapters.stripe_provider import StripeProvider

        return StripeProvider.from_settings(os.environ[KEY_ENV], max_network_retries=2)

    def make_driver(self, provider: PaymentProvider) -> ProviderDriver:
        return StripeTestModeDriver()
