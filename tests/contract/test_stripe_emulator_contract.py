"""The Stripe adapter over paycore's emulator, against the shipped provider contract:
the SDK, the adapter's conversions and error mapping, and the emulator's wire format,
with the faithful model behind them. The driver (:class:`EmulatorDriver`) acts on the
emulator's model directly (the customer and the bank are not on the wire). It runs in
both of the adapter's charge modes: destination charges (the default) and a shop's own
account without Connect."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paycore.ports import PaymentProvider
from paycore_adapters.emulator import Emulator
from paycore_adapters.stripe_provider import StripeProvider
from paycore_adapters.testing import EmulatorDriver, FakeDriver, ProviderContract, ProviderDriver
from paycore_adapters.testing.expected_failures import without_connect


class TestStripeAdapterOverEmulator(ProviderContract):
    @pytest.fixture(autouse=True)
    def _emulator(self) -> Iterator[None]:
        self.emulator = Emulator().start()
        yield
        self.emulator.stop()

    def make_provider(self) -> PaymentProvider:
        return StripeProvider.from_settings(
            "sk_test_contract", api_base=self.emulator.url, max_network_retries=0
        )

    def make_driver(self, provider: PaymentProvider) -> ProviderDriver:
        return EmulatorDriver(self.emulator)


@without_connect
class TestStripeAdapterWithoutConnectOverEmulator(ProviderContract):
    """The adapter of a shop without Connect (``connect=False``): intents on the key's own
    account (the emulator's ``own_account``, the driver's charging account), no transfer.
    The connected-account cases do not apply: strict expected failures."""

    @pytest.fixture(autouse=True)
    def _emulator(self) -> Iterator[None]:
        self.emulator = Emulator(own_account=FakeDriver.CHARGING).start()
        yield
        self.emulator.stop()

    def make_provider(self) -> PaymentProvider:
        return StripeProvider.from_settings(
            "sk_test_contract", api_base=self.emulator.url, max_network_retries=0, connect=False
        )

    def make_driver(self, provider: PaymentProvider) -> ProviderDriver:
        return EmulatorDriver(self.emulator)
