"""A seller's account blocked at the provider in each of the ways Stripe shows: the
checkout refuses it cleanly, the S11 flaw (no re-check before the charge) is caught in
every one of them, and the harness's world goes through them all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from tests.support import make_shop

from paycore import schema as s
from paycore.connect import charge_blocker
from paycore.errors import ProviderConfigurationError, ProviderInvalidRequest, SellerCannotCharge
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.status import OrderStatus, PaymentStatus, ReservationStatus
from paycore_adapters.fake_accounts import BLOCKED_STATES
from paycore_adapters.harness.bugs import BUGS, switched_on
from paycore_adapters.harness.world import World
from paycore_adapters.memory import Wiring

SESSION = "cs_test_0000000001"
MUG = [CartItem("p_mug", 1)]
NAMES = [name for name, _ in BLOCKED_STATES]


def closed_without_charge(w: Wiring) -> None:
    """The order canceled, its payment ended, its stock released, no intent made."""
    snap = w.store.snapshot()
    (order,) = snap.rows(s.ORDERS)
    assert order.status is OrderStatus.CANCELED
    payment = snap.get(s.PAYMENTS, order.payment_id)
    assert payment is not None and payment.status is PaymentStatus.FAILED
    reservations = [r for r in snap.rows(s.RESERVATIONS) if r.order_id == order.id]
    assert {r.status for r in reservations} == {ReservationStatus.RELEASED}
    stock = snap.get(s.STOCK, "s1/SKU-MUG")
    assert stock is not None and stock.held == 0
    assert w.provider.intents() == []


@pytest.mark.parametrize(("name", "state"), BLOCKED_STATES, ids=NAMES)
def test_checkout_refuses_each_blocked_state_cleanly(
    shop: Wiring, name: str, state: Mapping[str, Any]
) -> None:
    """The seller check reads the account, paycore's rule names what blocks it, and the
    checkout ends with SellerCannotCharge before any charge is asked for."""
    shop.provider.set_account("acct_1", **state)
    with pytest.raises(SellerCannotCharge) as caught:
        shop.service.create_payment_intent(SESSION, MUG)
    blocker = charge_blocker(shop.provider.retrieve_account("acct_1"))
    assert blocker is not None and caught.value.fields["blocker"] == blocker
    assert blocker in caught.value.message
    assert shop.provider.calls["create_intent"] == 0
    closed_without_charge(shop)
    assert shop.violations("safety", "convergence") == []


@pytest.mark.parametrize(("name", "state"), BLOCKED_STATES, ids=NAMES)
def test_s11_is_caught_in_each_blocked_state(name: str, state: Mapping[str, Any]) -> None:
    """Without the re-check, the provider refuses the charge in every blocked state and
    the flaw leaves the stock held: an invariant S11 names sees it (a shop of its own:
    the ``shop`` fixture insists on safety at the end)."""
    shop = make_shop()
    shop.provider.set_account("acct_1", **state)
    with switched_on("S11"), pytest.raises(ProviderInvalidRequest):
        shop.service.create_payment_intent(SESSION, MUG)
    violated = {v.invariant for v in shop.violations("safety", "convergence")}
    assert violated & set(BUGS["S11"].expected), violated


def test_the_world_takes_the_seller_through_every_blocked_state() -> None:
    """Each "seller loses charges at the provider" is the next blocked state; every one
    refuses the next customer's checkout; "regains" makes the account whole again."""
    world = World()
    for n, (name, _) in enumerate(BLOCKED_STATES):
        world.merchant(0)
        view = world.w.provider.retrieve_account("acct_1")
        assert charge_blocker(view) is not None
        assert world.said[-1][1] == f"merchant: seller loses charges at the provider -> {name}"
        world.shop(n, 1, 1, 0)
        session = world.session(n)
        (payment,) = [p for p in world.view().rows(s.PAYMENTS) if p.checkout_session_id == session]
        assert payment.status is PaymentStatus.FAILED
    world.merchant(1)
    assert charge_blocker(world.w.provider.retrieve_account("acct_1")) is None
    world.shop(len(BLOCKED_STATES), 1, 1, 0)
    assert {p.status for p in world.view().rows(s.PAYMENTS)} == {
        PaymentStatus.FAILED,
        PaymentStatus.SUCCEEDED,
    }
    assert world.quiesce()
    assert world.violations(("safety", "convergence")) == []


def test_checkout_refuses_a_seller_whose_account_the_provider_does_not_know() -> None:
    """The seller's account id is unknown at the provider: the seller check's refusal
    (not found) ends the checkout with SellerCannotCharge at once, naming the answer."""
    shop = make_shop()
    shop.service.add_seller("s9", "Nowhere", "acct_unknown")
    shop.service.add_product("p_ghost", "s9", "SKU-G", "Ghost", Money(700, "EUR"))
    shop.service.restock("s9", "SKU-G", 1)
    with pytest.raises(SellerCannotCharge) as caught:
        shop.service.create_payment_intent(SESSION, [CartItem("p_ghost", 1)])
    assert caught.value.fields["blocker"] == (
        "the provider refused to show account acct_unknown (provider_not_found)"
    )
    assert shop.provider.calls["retrieve_account"] == 1
    assert shop.provider.intents() == []
    assert shop.store.snapshot().get(s.STOCK, "s9/SKU-G").held == 0
    assert shop.violations("safety", "convergence") == []


def test_a_refused_configuration_at_the_seller_check_ends_the_checkout_and_alerts() -> None:
    """The provider refuses the key (401/403, or no Connect for that account): nothing
    was sent, and no retry changes it. The checkout ends at once with the typed error
    and its stock back, and an operator is alerted, once per account."""
    shop = make_shop()

    def refuse(name: str, at: str, key: str | None) -> None:
        if name == "retrieve_account" and at == "before":
            raise ProviderConfigurationError("the API key was refused", account="acct_1")

    shop.provider.fault = refuse
    for session in (SESSION, "cs_test_0000000002"):
        with pytest.raises(ProviderConfigurationError):
            shop.service.create_payment_intent(session, [CartItem("p_mug", 1)])
    assert shop.provider.calls["retrieve_account"] == 2, "no retry"
    assert shop.provider.calls["create_intent"] == 0
    assert shop.store.snapshot().get(s.STOCK, "s1/SKU-MUG").held == 0
    raised = [a for a in shop.alerts.raised if a.kind == "provider_configuration"]
    assert len(raised) == 2 and "the API key was refused" in raised[0].message
    (listed,) = [a for a in shop.service.attention() if a.kind == "provider_configuration"]
    assert listed.subject == "acct_1"
    assert shop.violations("safety", "convergence") == []
