"""A local Stripe for tests and development: the faithful model over Stripe's wire format.

:class:`Emulator` serves :class:`~paycore_adapters.fake_provider.FakeProvider` on
127.0.0.1 to the official ``stripe`` SDK (``StripeClient(key, base_addresses={"api":
emulator.url})``); ``emulator.faults`` arms wire faults; :class:`EmulatorDriver` is the
provider contract's driver for it. ``paycore emulator`` runs one from the command line.
"""

from .driver import EmulatorDriver
from .emulator import HOST, Emulator, EmulatorSettingsInvalid
from .faults import FAULT_KINDS, MAX_DELAY_S, Fault, FaultArmingInvalid, Faults
from .routes import OPS
from .webhooks import MAX_ATTEMPTS, Delivery

__all__ = [
    "FAULT_KINDS",
    "HOST",
    "MAX_ATTEMPTS",
    "MAX_DELAY_S",
    "OPS",
    "Delivery",
    "Emulator",
    "EmulatorDriver",
    "EmulatorSettingsInvalid",
    "Fault",
    "FaultArmingInvalid",
    "Faults",
]
