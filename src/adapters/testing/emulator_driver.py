"""The provider contract's driver for an emulator: the far side's actions (the customer,
the bank, the dashboard) done on the emulator's in-process model, as
:class:`~paycore_adapters.testing.fake_driver.FakeDriver` does them on a bare model.
The calls under test go over the wire; what only the far side does goes to the model."""

from __future__ import annotations

from typing import Any

from paycore.ports import RefundView

from ..emulator import Emulator
from .fake_driver import FakeDriver

#: The key of the driver's own requests: the emulator takes any test key unless it was
#: given one (``Emulator(api_key=...)``: pass that one to the driver then).
DRIVER_KEY = "sk_test_emulator_driver"


class EmulatorDriver(FakeDriver):
    """A :class:`~paycore_adapters.testing.provider_case.ProviderDriver` (and
    ``HoldingDriver``) for :class:`~paycore_adapters.emulator.Emulator`: its accounts are
    set up on ``emulator.model``."""

    def __init__(self, emulator: Emulator, *, api_key: str = DRIVER_KEY) -> None:
        super().__init__(emulator.model)
        self.emulator = emulator
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"EmulatorDriver(url={self.emulator.url!r})"

    def refund_as_sent(
        self, intent_id: str, amount: int, key: str, *, reverse_transfer: bool | None
    ) -> RefundView:
        """The refund request over the wire, encoded by the SDK as it sends any request
        (``reverse_transfer`` only when not None), so the emulator's route reads it."""
        import stripe  # the ``stripe`` extra: the emulator itself does without the SDK

        from ..stripe_convert import refund_view

        client = stripe.StripeClient(
            self._api_key, base_addresses={"api": self.emulator.url}, max_network_retries=0
        )
        params: dict[str, Any] = {"payment_intent": intent_id, "amount": amount}
        if reverse_transfer is not None:
            params["reverse_transfer"] = reverse_transfer
        made = client.v1.refunds.create(params, {"idempotency_key": key})  # type: ignore[arg-type]
        return refund_view(made.to_dict())
