"""``charge-pays-the-seller`` knows how the shop charges (``Ledger.connect``).

Stripe shows a charge made with no destination with ``transfer_data`` null
(docs.stripe.com/api/payment_intents/object), the same on a Connect shop whose charge
dropped its destination as on a shop without Connect, whose every charge is its own
account's. The ledger says which shop it is, as the provider is set up: the Stripe
adapter's ``connect`` switch, the fake's wiring (``Wiring.connect``)."""

from __future__ import annotations

import attrs
import pytest
from tests.support import SESSION, make_shop

from paycore.flows.checkout import CartItem
from paycore.invariants import Ledger, charge_pays_the_seller
from paycore.ports import IntentView
from paycore_adapters.memory import Wiring

ID = "charge-pays-the-seller"


@pytest.fixture(scope="module")
def paid() -> tuple[Wiring, IntentView]:
    """The conftest shop (s1 on acct_1) with one paid mug: its intent pays acct_1."""
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    (v,) = w.provider.intents()
    return w, v


def judged(paid: tuple[Wiring, IntentView], account: str | None, connect: bool | None) -> list[str]:
    w, v = paid
    ledger = Ledger([attrs.evolve(v, account=account)], connect=connect)
    return [f"{x.subject}: {x.detail}" for x in charge_pays_the_seller(w.store.snapshot(), ledger)]


def test_the_fake_shop_says_it_charges_through_connect(paid: tuple[Wiring, IntentView]) -> None:
    """The wiring's ledger says Connect: the fake makes the request's account the
    destination, and its intent names the seller's account."""
    w, v = paid
    assert (w.ledger().connect, v.account) == (True, "acct_1")
    assert charge_pays_the_seller(w.store.snapshot(), w.ledger()) == []


def test_a_connect_shops_charge_naming_no_account_pays_no_seller(
    paid: tuple[Wiring, IntentView],
) -> None:
    """Through Connect, an intent naming no destination left the money on the platform."""
    v = paid[1]
    assert judged(paid, None, True) == [
        f"{v.id}: pays no account (no destination), not the seller's 'acct_1'"
    ]


def test_a_shop_without_connect_names_no_account_and_is_clean(
    paid: tuple[Wiring, IntentView],
) -> None:
    """Without Connect the charge is the shop's own account's: naming none is right."""
    assert judged(paid, None, False) == []


def test_a_shop_without_connect_naming_a_destination_breaks_it(
    paid: tuple[Wiring, IntentView],
) -> None:
    """Without Connect no charge names a destination, not even the seller's (the shop's
    own) account: one that does transfers the shop's money."""
    v = paid[1]
    assert judged(paid, "acct_1", False) == [
        f"{v.id}: pays account 'acct_1', though a shop without Connect names no destination"
    ]


def test_a_ledger_not_saying_how_the_shop_charges_judges_only_named_accounts(
    paid: tuple[Wiring, IntentView],
) -> None:
    """``connect`` None: an intent naming no account is not judged; one naming another
    account than the seller's is."""
    v = paid[1]
    assert judged(paid, None, None) == []
    assert judged(paid, "acct_2", None) == [
        f"{v.id}: pays account 'acct_2', not the seller's 'acct_1'"
    ]
    assert Ledger().connect is None
