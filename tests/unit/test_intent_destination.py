"""The account a provider intent pays, as each provider shows it, and the invariant
``charge-pays-the-seller`` over it.

Stripe names it ``transfer_data.destination`` on the PaymentIntent (stripe-python 16.1.0,
``stripe/_payment_intent.py``; docs.stripe.com/connect/destination-charges); a charge
with no transfer (a shop without Connect) names none."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from tests.stripe_wire import KEY, Wire, intent, page
from tests.support import SESSION, make_shop

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.invariants import (
    INVARIANTS,
    Ledger,
    Violation,
    charge_pays_the_seller,
    payment_records_seller_account,
)
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView, Snapshot
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock, Wiring
from paycore_adapters.stripe_provider import StripeProvider

ID = "charge-pays-the-seller"


def stripe(wire: Wire, *, connect: bool = True) -> StripeProvider:
    return StripeProvider.from_settings(
        KEY, max_network_retries=0, http_client=wire, connect=connect
    )


# --- what each provider shows ------------------------------------------------------


def test_stripe_views_carry_the_destination_of_a_destination_charge() -> None:
    wire = Wire()
    wire.answer(200, intent(transfer_data={"amount": None, "destination": "acct_1"}))
    req = CreateIntent(Money(1250, "EUR"), "acct_1", {"order_id": "o1"})
    assert stripe(wire).create_intent(req, idempotency_key="k").account == "acct_1"


def test_stripe_views_read_an_expanded_destination_and_none_without_a_transfer() -> None:
    """``destination`` is expandable (the account object in its place); an intent with
    ``transfer_data`` null, or without the field, pays no account the view can name."""
    wire = Wire()
    expanded = intent(id="pi_2", transfer_data={"destination": {"id": "acct_2", "object": "x"}})
    wire.answer(200, page(expanded, intent(id="pi_1", transfer_data=None), intent(id="pi_0")))
    views = stripe(wire).list_intents(created_gte_s=0).data
    assert [(v.id, v.account) for v in views] == [
        ("pi_2", "acct_2"),
        ("pi_1", None),
        ("pi_0", None),
    ]


def test_stripe_without_connect_names_no_account() -> None:
    """``connect=False``: no ``transfer_data`` is sent and Stripe shows none; the view says
    nothing of the account (the seller check tied the charge to the key's own account)."""
    wire = Wire()
    wire.answer(200, intent(transfer_data=None))
    req = CreateIntent(Money(1250, "EUR"), "acct_1ShopOwn", {})
    assert stripe(wire, connect=False).create_intent(req, idempotency_key="k").account is None


def test_the_fake_keeps_the_account_the_request_named_through_the_intents_life() -> None:
    p = FakeProvider(ManualClock())
    p.set_account("acct_1")
    made = p.create_intent(CreateIntent(Money(1250, "EUR"), "acct_1", {}), idempotency_key="k1")
    paid = p.confirm_intent(
        made.id, payment_method="pm_card_visa", return_url=None, idempotency_key="k2"
    )
    bare = p.create_intent(CreateIntent(Money(100, "EUR"), "", {}), idempotency_key="k3")
    assert (made.account, paid.status, paid.account) == ("acct_1", "succeeded", "acct_1")
    assert [v.account for v in p.intents()] == ["acct_1", None]
    assert bare.account is None  # no destination: Stripe's ``transfer_data`` is null


# --- the invariant -----------------------------------------------------------------


def paid_shop() -> tuple[Wiring, IntentView]:
    """The conftest shop (s1 on acct_1) with one paid mug: its intent pays acct_1."""
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    (v,) = w.provider.intents()
    return w, v


def with_rows(w: Wiring, table: str, row: Any) -> Snapshot:
    snap = w.store.snapshot()
    tables = {name: dict(rows) for name, rows in snap.tables.items()}
    tables[table][row.id] = row
    return Snapshot(tables)


def test_it_is_registered_as_a_safety_invariant() -> None:
    (found,) = [i for i in INVARIANTS if i.id == ID]
    assert found.kind == "safety" and found.check is charge_pays_the_seller


def test_a_clean_checkout_holds_it() -> None:
    w, v = paid_shop()
    assert v.account == "acct_1"
    assert charge_pays_the_seller(w.store.snapshot(), w.ledger()) == []


@pytest.mark.parametrize("wrong", ["", "acct_2"])
def test_an_intent_paying_another_account_breaks_it(wrong: str) -> None:
    w, v = paid_shop()
    ledger = Ledger([attrs.evolve(v, account=wrong)])
    assert charge_pays_the_seller(w.store.snapshot(), ledger) == [
        Violation(ID, v.id, f"pays account {wrong!r}, not the seller's 'acct_1'")
    ]


def test_a_view_that_names_no_account_is_not_judged() -> None:
    w, v = paid_shop()
    assert charge_pays_the_seller(w.store.snapshot(), Ledger([attrs.evolve(v, account=None)])) == []


def test_intents_not_made_for_a_payment_of_this_store_are_not_judged() -> None:
    """Another store's (another installation), or one naming the payment without its
    reference: the orphan checks' concern, not where a payment's money goes."""
    w, v = paid_shop()
    foreign = attrs.evolve(
        v, account="acct_9", metadata={**v.metadata, "paycore_installation": "x"}
    )
    stray = attrs.evolve(v, account="acct_9", metadata={**v.metadata, "paycore_reference": "r"})
    assert charge_pays_the_seller(w.store.snapshot(), Ledger([foreign, stray])) == []


def test_a_payment_recording_another_account_than_its_sellers_breaks_the_store_half() -> None:
    """The account a payment records is the store-only half's, checked without the
    provider's books (``payment-records-seller-account``)."""
    w, _ = paid_shop()
    (p,) = w.store.snapshot().rows(s.PAYMENTS)
    snap = with_rows(w, s.PAYMENTS.name, attrs.evolve(p, seller_account="acct_2"))
    assert payment_records_seller_account(snap, Ledger()) == [
        Violation(
            "payment-records-seller-account",
            p.id,
            "payment records account 'acct_2', its seller's is 'acct_1'",
        )
    ]
    assert charge_pays_the_seller(snap, w.ledger()) == []  # the intent pays acct_1
