"""The adapter's side of the port: no client secret crosses it in a provider's error."""

from __future__ import annotations

import pytest

from paycore.errors import ADAPTER_ERRORS, ProviderCardDeclined, ProviderError
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock
from paycore_adapters.provider_port import secret_in, to_port, without_secret

SECRET = "pi_9_secret_s3cr3t"
INTENT = IntentView("pi_9", "requires_payment_method", 500, "EUR", 0, 1, {}, SECRET)


@pytest.mark.parametrize("cls", ADAPTER_ERRORS.provider)
def test_to_port_drops_the_client_secret_of_an_intent_an_error_carries(
    cls: type[ProviderError],
) -> None:
    """Stripe's decline error carries the intent, client secret included: the error that
    crosses the port keeps the intent, its class and message, never the secret."""
    err = cls("Your card was declined.", intent=INTENT, intent_id="pi_9")
    assert secret_in(err) == "intent"  # paycore's error class does not drop it itself
    public = to_port(err)
    assert type(public) is cls and public is not err
    kept = public.fields["intent"]
    assert isinstance(kept, IntentView) and kept.client_secret is None
    assert (kept.id, kept.status, kept.amount) == ("pi_9", "requires_payment_method", 500)
    assert public.fields["intent_id"] == "pi_9" and public.message == err.message
    assert secret_in(public) is None
    assert SECRET not in repr(public.fields) + repr(public) + str(public)
    assert INTENT.client_secret == SECRET  # the provider's own view is left as it was


def test_without_secret_leaves_other_values_alone() -> None:
    """Only a view holding a secret is copied; plain values and secret-less views are
    returned as they are."""
    bare = without_secret(INTENT)
    assert bare.client_secret is None and without_secret(bare) is bare
    assert without_secret("pi_9") == "pi_9" and without_secret(None) is None


def test_the_fakes_decline_reaches_the_port_without_the_secret() -> None:
    """The fake builds its decline error as Stripe does (with the secret) and sends it
    through ``to_port``: the error paycore sees holds the intent without it."""
    fake = FakeProvider(ManualClock())
    fake.set_account("acct", can_charge=True)
    pi = fake.create_intent(CreateIntent(Money(1000, "EUR"), "acct", {}), idempotency_key="create")
    with pytest.raises(ProviderCardDeclined) as caught:
        fake.confirm_intent(
            pi.id, payment_method="pm_card_chargeDeclined", return_url=None, idempotency_key="c"
        )
    assert secret_in(caught.value) is None
    assert pi.client_secret and pi.client_secret not in repr(caught.value.fields)
