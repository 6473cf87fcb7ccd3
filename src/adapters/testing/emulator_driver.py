"""The provider contract's driver for an emulator: the far side's actions (the customer,
the bank, the dashboard) done on the emulator's in-process model, as
:class:`~paycore_adapters.testing.fake_driver.FakeDriver` does them on a bare model.
The calls under test go over the wire; what only the far side does goes to the model."""

from __future__ import annotations

from ..emulator import Emulator
from .fake_driver import FakeDriver


class EmulatorDriver(FakeDriver):
    """A :class:`~paycore_adapters.testing.provider_case.ProviderDriver` (and
    ``HoldingDriver``) for :class:`~paycore_adapters.emulator.Emulator`: its accounts are
    set up on ``emulator.model``."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator.model)
        self.emulator = emulator
