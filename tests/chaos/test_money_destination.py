"""Where the money goes: every charge this installation makes pays the payment's seller.

The mutation a review showed: checkout's create request naming the wrong account (none:
the platform keeps the money; another seller's) took money no seller was paid, and no
invariant saw it, since the provider's intent views named no account. The views now
carry it, and ``charge-pays-the-seller`` checks it: these tests patch the create request
and see the invariant name it, then see it quiet without the patch. Through the harness,
the charge to another seller is seeded bug H4 (``tests/chaos/test_seeded_bugs.py``).

A charge made without a destination is shown as Stripe shows it: ``transfer_data`` null
(docs.stripe.com/api/payment_intents/object), a view naming no account, on the fake and
through the emulator alike. Whether that is wrong depends on how the shop charges, which
the ledger says (``Ledger.connect``, from the wiring: the fake is a Connect platform): on
a Connect shop such a charge pays no seller. Through the harness it is seeded bug H5.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import pytest
import stripe
from tests.support import SESSION, make_shop

from paycore.errors import ProviderError
from paycore.flows import checkout
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore_adapters.emulator import Emulator
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock, Wiring
from paycore_adapters.stripe_provider import StripeProvider

INVARIANT = "charge-pays-the-seller"
#: The second seller's account to the first's (the harness's marketplace and the shop
#: below: s1 on acct_1, s2 on acct_2). Only that way: acct_1 is in every example, while
#: acct_2 is only where a second seller is, and a create to an account the provider does
#: not have is refused.
OTHER_SELLER = {"acct_2": "acct_1"}


def _nobody(account: str) -> str:
    return ""


def _other_seller(account: str) -> str:
    return OTHER_SELLER.get(account, account)


MUTATIONS: Mapping[str, Callable[[str], str]] = {
    "no account": _nobody,
    "another seller's": _other_seller,
}


@pytest.fixture
def mutate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[str], str]], None]]:
    """Patch checkout's create request so it names ``wrong(seller's account)``."""

    def apply(wrong: Callable[[str], str]) -> None:
        def create(*args: Any, **kwargs: Any) -> CreateIntent:
            req = CreateIntent(*args, **kwargs)
            return attrs.evolve(req, account=wrong(req.account))

        monkeypatch.setattr(checkout, "CreateIntent", create)

    yield apply


def two_sellers() -> Wiring:
    """The conftest shop (s1 on acct_1) and a second seller s2 on acct_2, with a mug."""
    w = make_shop()
    w.provider.set_account("acct_2")
    w.service.add_seller("s2", "Other Mugs", "acct_2")
    w.service.add_product("p_mug_b", "s2", "SKU-MUG", "Mug (s2)", Money(1100, "EUR"))
    w.service.restock("s2", "SKU-MUG", 1)
    return w


def charge_violations(w: Wiring) -> list[str]:
    return [str(v) for v in w.violations("safety") if v.invariant == INVARIANT]


#: What the invariant says of each mutation's intent (s2's charge, to be paid to acct_2).
#: A charge made with no destination shows none (``transfer_data`` null).
SAID = {
    "no account": "pays no account (no destination), not the seller's 'acct_2'",
    "another seller's": "pays account 'acct_1', not the seller's 'acct_2'",
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_charge_to_the_wrong_account_is_caught(
    name: str, mutate: Callable[[Callable[[str], str]], None]
) -> None:
    """s2's mug paid through an intent that pays s1 (or nobody): on this Connect shop the
    invariant names it. An intent whose view names another seller's account is not the
    payment's (``identity.intent_mismatch``): the checkout refuses it (never handing it
    out) and the reconciler cancels it as an orphan, so nobody pays it; the invariant
    still names the create that went wrong."""
    w = two_sellers()
    mutate(MUTATIONS[name])
    refused = name == "another seller's"
    if refused:
        with pytest.raises(ProviderError, match="intent_mismatch"):
            w.service.create_payment_intent(SESSION, [CartItem("p_mug_b", 1)])
        w.service.run_reconciler()
    else:
        res = w.service.create_payment_intent(SESSION, [CartItem("p_mug_b", 1)])
        assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    (intent,) = w.provider.intents()
    assert intent.account == (MUTATIONS[name]("acct_2") or None)
    assert intent.status == ("canceled" if refused else "succeeded")
    assert charge_violations(w) == [f"[{INVARIANT}] {intent.id}: {SAID[name]}"]


def test_the_same_charge_unpatched_is_quiet() -> None:
    """Both sellers' charges pay their own accounts: nothing to report."""
    w = two_sellers()
    for session, product in ((SESSION, "p_mug"), ("cs_test_0000000002", "p_mug_b")):
        res = w.service.create_payment_intent(session, [CartItem(product, 1)])
        assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    assert sorted(v.account or "" for v in w.provider.intents()) == ["acct_1", "acct_2"]
    assert w.violations() == []


@pytest.mark.parametrize("connect", [True, False])
def test_the_fake_and_the_emulator_show_the_destination_as_stripe_does(connect: bool) -> None:
    """A destination charge carries ``transfer_data.destination`` on the wire and names its
    account in the view; an intent made without one has ``transfer_data`` null and a view
    naming no account (None): the bare fake, the emulator's wire and the Stripe adapter
    over the emulator agree."""
    req = CreateIntent(Money(1250, "EUR"), "acct_1" if connect else "", {"order_id": "o1"})
    bare = FakeProvider(ManualClock())
    bare.set_account("acct_1")
    on_fake = bare.create_intent(req, idempotency_key="k1")
    with Emulator(FakeProvider(ManualClock())) as emu:
        emu.model.set_account("acct_1")
        client = stripe.StripeClient(
            "sk_test_destination", base_addresses={"api": emu.url}, max_network_retries=0
        )
        params: dict[str, Any] = {"amount": 1250, "currency": "eur", "metadata": {"o": "1"}}
        if connect:
            params["transfer_data"] = {"destination": "acct_1"}
        sent = client.v1.payment_intents.create(params, {"idempotency_key": "k2"}).to_dict()
        adapter = StripeProvider.from_settings(
            "sk_test_destination", api_base=emu.url, max_network_retries=0, connect=connect
        )
        shop = CreateIntent(Money(1250, "EUR"), "acct_1", {"order_id": "o1"})
        over_http = adapter.create_intent(shop, idempotency_key="k3")
        listed = [v.account for v in emu.model.intents()]
    want = "acct_1" if connect else None
    assert sent["transfer_data"] == ({"amount": None, "destination": "acct_1"} if connect else None)
    assert (on_fake.account, over_http.account, listed) == (want, want, [want, want])
