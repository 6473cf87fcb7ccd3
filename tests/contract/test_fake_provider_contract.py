"""FakeProvider against the shipped provider contract."""

from __future__ import annotations

from typing import cast

from paycore.ports import PaymentProvider
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock
from paycore_adapters.testing import FakeDriver, ProviderContract, ProviderDriver


class TestFakeProvider(ProviderContract):
    def make_provider(self) -> PaymentProvider:
        return FakeProvider(ManualClock())

    def make_driver(self, provider: PaymentProvider) -> ProviderDriver:
        return FakeDriver(cast(FakeProvider, provider))
