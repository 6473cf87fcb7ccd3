"""paycore's Stripe emulator: the faithful provider model behind Stripe's wire format.

``Emulator(model).start()`` serves the model on ``http://127.0.0.1:<port>``; the Stripe
adapter, the official SDK or any HTTP client talks to it as to Stripe. ``emulator.faults``
arms faults on the wire; ``emulator.webhooks`` delivers the model's events, signed.
``paycore emulator --port N`` runs one from the command line (docs/stripe.md).
"""

from .faults import KINDS, WireFaultInvalid, WireFaults
from .server import Emulator, EmulatorAddressRefused
from .webhooks import WebhookSender

__all__ = [
    "KINDS",
    "Emulator",
    "EmulatorAddressRefused",
    "WebhookSender",
    "WireFaultInvalid",
    "WireFaults",
]
