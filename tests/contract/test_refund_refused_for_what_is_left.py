"""A refund refused because less is left than it asks reads the same from every adapter.

The refund flow tells this refusal from any other (``refund_recovery.short_of``): it
lists the payment's refunds, records those made outside paycore, and ends the refund as
refunded elsewhere instead of failed. So the fake and the Stripe adapter must give it
the same shape. Stripe answers a refund of a fully refunded charge with 400
``invalid_request_error`` code ``charge_already_refunded`` ("The charge you're
attempting to refund has already been refunded", docs.stripe.com/error-codes; the code
is in stripe-python 16.1.0's list of error codes, ``stripe/_payment_intent.py``,
``LastPaymentError.code``), and a refund past what is left with ``param`` ``amount``
("Refund amount (...) is greater than unrefunded amount on charge (...)"; some answers
add the code ``amount_too_large``, docs.stripe.com/error-codes#amount-too-large).

Cases, each against the fake and against the Stripe adapter over the emulator (the
real SDK and the adapter's error mapping, the fake's model behind the wire), and the
Stripe adapter against Stripe's error bodies through a stub network.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.stripe_wire import KEY, Wire, error

from paycore import errors as E
from paycore.flows.refund_recovery import short_of
from paycore.ports import PaymentProvider
from paycore_adapters.emulator import Emulator
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock
from paycore_adapters.stripe_provider import StripeProvider
from paycore_adapters.testing import EmulatorDriver, FakeDriver
from paycore_adapters.testing.provider_case import ContractCase


class RefusedForWhatIsLeft:
    """The cases; a subclass names the provider."""

    def make(self) -> ContractCase:
        raise NotImplementedError

    def refused(self, c: ContractCase, intent_id: str, amount: int) -> E.ProviderError:
        with pytest.raises(E.ProviderError) as caught:
            c.refund(intent_id, amount, f"refused-{amount}")
        return caught.value

    def test_a_fully_refunded_charge(self) -> None:
        c = self.make()
        pi = c.paid(1000)
        c.refund(pi.id, 1000, "all")
        err = self.refused(c, pi.id, 1)
        assert type(err) is E.ProviderInvalidRequest
        assert err.fields.get("error_code") == "charge_already_refunded"
        assert short_of(err)

    def test_more_than_is_left(self) -> None:
        c = self.make()
        pi = c.paid(1000)
        c.refund(pi.id, 600, "part")
        err = self.refused(c, pi.id, 401)
        assert type(err) is E.ProviderInvalidRequest
        assert err.fields.get("param") == "amount"
        assert short_of(err)

    def test_another_refusal_is_not_for_what_is_left(self) -> None:
        c = self.make()
        pi = c.create(1000)  # took no money: "does not have a successful charge"
        err = self.refused(c, pi.id, 100)
        assert type(err) is E.ProviderInvalidRequest
        assert not short_of(err)


class TestTheFake(RefusedForWhatIsLeft):
    def make(self) -> ContractCase:
        provider = FakeProvider(ManualClock())
        return ContractCase(provider, FakeDriver(provider))


class TestTheStripeAdapterOverTheEmulator(RefusedForWhatIsLeft):
    @pytest.fixture(autouse=True)
    def _emulator(self) -> Iterator[None]:
        self.emulator = Emulator().start()
        yield
        self.emulator.stop()

    def make(self) -> ContractCase:
        provider: PaymentProvider = StripeProvider.from_settings(
            "sk_test_contract", api_base=self.emulator.url, max_network_retries=0
        )
        return ContractCase(provider, EmulatorDriver(self.emulator))


def _stripe_refusal(body: Any) -> E.ProviderError:
    wire = Wire()
    wire.answer(400, body)
    provider = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)
    with pytest.raises(E.ProviderError) as caught:
        provider.create_refund("pi_3Abc", amount=500, reason=None, metadata={}, idempotency_key="k")
    return caught.value


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(
            {"code": "charge_already_refunded", "message": "Charge ch_1 has already been refunded"},
            id="charge_already_refunded",
        ),
        pytest.param(
            {
                "param": "amount",
                "message": "Refund amount (€5.00) is greater than unrefunded amount on charge "
                "(€2.00)",
            },
            id="param amount",
        ),
        pytest.param(
            {"code": "amount_too_large", "param": "amount", "message": "Refund amount (...)"},
            id="amount_too_large",
        ),
    ],
)
def test_stripes_refusals_for_what_is_left(fields: dict[str, Any]) -> None:
    err = _stripe_refusal(error(400, type="invalid_request_error", **fields)[1])
    assert type(err) is E.ProviderInvalidRequest
    assert err.fields.get("error_code") == fields.get("code")
    assert short_of(err)


def test_a_refusal_of_another_kind_through_stripe_is_not_for_what_is_left() -> None:
    err = _stripe_refusal(
        error(400, type="invalid_request_error", code="charge_disputed", message="disputed")[1]
    )
    assert type(err) is E.ProviderInvalidRequest and not short_of(err)
