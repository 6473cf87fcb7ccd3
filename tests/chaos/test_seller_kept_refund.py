"""A refund made outside paycore of a destination charge that did not reverse the
seller's transfer (Stripe's default for a dashboard refund or a script's refund sent
without ``reverse_transfer=true``): the platform's balance paid the customer and the
seller kept the amount. paycore says so, in an alert of its own, with the seller's
account and the amount; a refund that reversed the transfer, and a shop without Connect
(no transfer to reverse), get no such alert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support import deliver_webhooks, make_shop

from paycore import CartItem, Money, PaymentService, jobs
from paycore import schema as s
from paycore.ports import RefundView
from paycore_adapters.emulator import Emulator
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock, RecordingAlerts, RecordingNotifier, Wiring
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.stripe_provider import StripeProvider

KEPT = "seller_kept_refund"


def paid_shop() -> tuple[Wiring, str]:
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_kept00000001", [CartItem("p_mug", 2)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    deliver_webhooks(w)
    return w, r.payment_id


def dashboard_refund(w: Wiring, pid: str, amount: int, *, reverse: bool) -> RefundView:
    intent = w.service.payment(pid).provider_intent_id
    assert intent is not None
    fake = w.provider.inner  # the fake behind the fault wrapper: a dashboard's request
    assert isinstance(fake, FakeProvider)
    return fake.create_refund(
        intent,
        amount=amount,
        reason=None,
        metadata={},
        idempotency_key=f"dash-{amount}-{reverse}",
        reverse_transfer=reverse,
    )


def test_a_dashboard_refund_that_left_the_seller_the_money_says_so() -> None:
    """The money review's scenario: a dashboard refund of 2500 with
    ``reverse_transfer=false``. The order is refunded as before, and an alert names the
    seller's account and the 2500 it kept, and what to do."""
    w, pid = paid_shop()
    view = dashboard_refund(w, pid, 2500, reverse=False)
    assert w.provider.transfer_reversed(view.id) == 0
    deliver_webhooks(w)
    (refund,) = w.service.refunds_of(pid)
    payment = w.service.payment(pid)
    (kept,) = [a for a in w.alerts.raised if a.kind == KEPT]
    alert = w.store.snapshot().get(s.ALERTS, f"{KEPT}:{view.id}")
    assert alert is not None and alert.open
    assert kept.fields == {
        "refund_id": refund.id,
        "provider_refund_id": view.id,
        "payment_id": pid,
        "order_id": payment.order_id,
        "seller_account": "acct_1",
        "amount": 2500,
        "currency": "EUR",
    }
    assert "seller account acct_1 kept 2500 EUR" in kept.message
    assert "reverse the transfer" in kept.message.lower()
    assert "recover" in kept.message
    assert [a.kind for a in w.alerts.raised].count("external_refund") == 1
    assert KEPT in {i.kind for i in w.service.attention()}


def test_a_dashboard_refund_that_reversed_the_transfer_raises_no_such_alert() -> None:
    """With ``reverse_transfer=true`` the seller gave its share back: only the
    ``external_refund`` alert, as before."""
    w, pid = paid_shop()
    view = dashboard_refund(w, pid, 2500, reverse=True)
    assert w.provider.transfer_reversed(view.id) == 2500
    deliver_webhooks(w)
    kinds = [a.kind for a in w.alerts.raised]
    assert KEPT not in kinds and kinds.count("external_refund") == 1


def test_the_scan_of_a_lost_webhook_says_so_too() -> None:
    """The webhook was lost; the reconciler's external-refund scan records the refund and
    raises the same alert."""
    w, pid = paid_shop()
    view = dashboard_refund(w, pid, 1000, reverse=False)
    w.provider.take_events()
    assert jobs.find_external_refunds(w.service.engine) == 1
    (kept,) = [a for a in w.alerts.raised if a.kind == KEPT]
    assert (kept.fields["provider_refund_id"], kept.fields["amount"]) == (view.id, 1000)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(own_account="acct_1ShopOwn") as emulator:
        emulator.model.set_account("acct_1ShopOwn")
        yield emulator


def emulated_shop(emu: Emulator, alerts: RecordingAlerts, *, connect: bool) -> PaymentService:
    provider = StripeProvider.from_settings(
        "sk_test_kept", api_base=emu.url, max_network_retries=0, connect=connect
    )
    svc = PaymentService(MemoryStore(), provider, ManualClock(), alerts, RecordingNotifier())
    svc.add_seller("s1", "Ceramics", provider_account="acct_1ShopOwn")
    svc.add_product("mug", "s1", sku="MUG", name="Mug", price=Money(1800, "EUR"))
    svc.restock("s1", "MUG", 5)
    return svc


@pytest.mark.parametrize("connect", [True, False])
def test_over_the_stripe_adapter_only_a_destination_charge_warns(
    emu: Emulator, connect: bool
) -> None:
    """Over the emulator and the Stripe adapter: the refund's ``transfer_reversal`` is
    read from Stripe's refund object. With Connect, a dashboard refund with no reversal
    raises the alert; a shop without Connect (``connect=False``) charges its own account,
    there is no transfer, and no alert says the seller kept anything."""
    alerts = RecordingAlerts()
    svc = emulated_shop(emu, alerts, connect=connect)
    checkout = svc.create_payment_intent("cs_9f3a9c2e4b1d8a6f", [CartItem("mug", 1)])
    svc.confirm_payment(checkout.payment_id, payment_method="pm_card_visa")
    intent = svc.payment(checkout.payment_id).provider_intent_id
    assert intent is not None
    emu.model.create_refund(
        intent,
        amount=1800,
        reason=None,
        metadata={},
        idempotency_key="dashboard",
        reverse_transfer=False,
    )
    assert jobs.find_external_refunds(svc.engine) == 1
    kept = [a for a in alerts.raised if a.kind == KEPT]
    assert [a.fields["amount"] for a in kept] == ([1800] if connect else [])
