"""The Stripe adapter (:class:`paycore_adapters.stripe_provider.StripeProvider`) against
localstripe, through the shipped provider contract. localstripe is a far smaller Stripe
than the contract asks for: every case it cannot pass is an expected failure (strict),
with its reason, from :mod:`paycore_adapters.testing.localstripe_gaps`."""

from __future__ import annotations

import pytest

from paycore.ports import PaymentProvider
from paycore_adapters.testing import ProviderContract, ProviderDriver
from paycore_adapters.testing.localstripe import Localstripe
from paycore_adapters.testing.localstripe_driver import API_KEY, LocalstripeDriver
from paycore_adapters.testing.localstripe_gaps import with_gaps


@with_gaps
class TestLocalstripeContract(ProviderContract):
    @pytest.fixture(autouse=True)
    def _server(self, ls: Localstripe) -> None:
        self.url = ls.url

    def make_provider(self) -> PaymentProvider:
        # Imported here: the adapter is the module under test, not the server's tooling.
        from paycore_adapters.stripe_provider import StripeProvider

        return StripeProvider.from_settings(
            API_KEY, api_base=self.url, max_network_retries=0, connect=False
        )

    def make_driver(self, provider: PaymentProvider) -> ProviderDriver:
        return LocalstripeDriver(self.url)
