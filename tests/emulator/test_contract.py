"""The shipped provider contract, run on the Stripe adapter over the wire to the
emulator: the SDK's requests and the adapter's conversions meet the model's answers,
and :class:`EmulatorDriver` does the far side's part on the emulator's model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paycore.ports import PaymentProvider
from paycore_adapters.emulator import Emulator
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock
from paycore_adapters.stripe_provider import StripeProvider
from paycore_adapters.testing import EmulatorDriver, ProviderContract, ProviderDriver

from .conftest import KEY


class TestStripeAdapterOnEmulator(ProviderContract):
    emulator: Emulator

    @pytest.fixture(autouse=True)
    def _serve(self) -> Iterator[None]:
        self.emulator = Emulator(FakeProvider(ManualClock())).start()
        yield
        self.emulator.stop()

    def make_provider(self) -> PaymentProvider:
        return StripeProvider.from_settings(KEY, api_base=self.emulator.url, max_network_retries=0)

    def make_driver(self, provider: PaymentProvider) -> ProviderDriver:
        return EmulatorDriver(self.emulator)
