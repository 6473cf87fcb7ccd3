"""Provider objects are paycore's only if they carry this installation's identity.

Replays of issue 7, items 3 and 11: another store on the same provider account, or
this store restored from a backup, reuses local ids (``pay_000001``, ``rf_000001``);
objects on the account that paycore never made (invoices, payment links, a previous
system's payments) carry no paycore identity at all. None of them may be adopted,
canceled, refunded or collide with paycore's idempotency keys.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from tests.support import SESSION, SESSION_2, begin_checkout, make_shop, quiesce, safe

from paycore import schema as s
from paycore.errors import FlowPending, PaycoreError, ProviderInvalidRequest, ProviderUnavailable
from paycore.flows.reconcile import FOREIGN_SUBJECT
from paycore.machines import FLOW
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView, ProviderEvent
from paycore.service import PaymentService
from paycore.status import OrderStatus, PaymentStatus, RefundStatus
from paycore_adapters.harness import foreign as foreign_objects
from paycore_adapters.harness.faults import FaultKind
from paycore_adapters.harness.world import World
from paycore_adapters.memory import RecordingAlerts, RecordingNotifier, Wiring
from paycore_adapters.memory_store import MemoryStore

TV = 89_900  # 899.00 EUR
SESSION_A = "cs_other_store_0000001"
SESSION_TV = "cs_test_tv_000000001"
EARLIER = "cs_test_earlier_00001"
TV_CART = [{"product_id": "p_tv", "quantity": 1}]


class Faults:
    """The fake provider's hook: raise ``exc`` on the next ``times`` calls of (call, phase)."""

    def __init__(self, call: str, phase: str, exc: type[Exception], times: int = 1) -> None:
        self.call, self.phase, self.exc, self.left = call, phase, exc, times

    def __call__(self, call: str, phase: str, key: str | None) -> None:
        if (call, phase) == (self.call, self.phase) and self.left > 0:
            self.left -= 1
            raise self.exc(f"injected {phase} {call}")


def with_tv(w: Wiring) -> Wiring:
    w.service.add_product("p_tv", "s1", "SKU-TV", "Television", Money(TV, "EUR"))
    w.service.restock("s1", "SKU-TV", 3)
    return w


def other_store(w: Wiring) -> PaymentService:
    """Another shop on its own store, sharing the provider account of ``w``."""
    svc = PaymentService(MemoryStore(), w.provider, w.clock, RecordingAlerts(), RecordingNotifier())
    svc.add_seller("s1", "Cheap Shop", "acct_1")
    svc.add_product("p_pen", "s1", "SKU-PEN", "Pen", Money(150, "EUR"))
    svc.restock("s1", "SKU-PEN", 5)
    return svc


@contextmanager
def backup_restored(w: Wiring) -> Iterator[None]:
    """Everything done inside the block is lost locally: the store comes back from a
    backup taken before it (the provider keeps what happened)."""
    store = w.store
    with store._lock:
        saved = copy.deepcopy((store._tables, store._seqs))
    yield
    with store._lock:
        store._tables, store._seqs = saved


def intent_of(w: Wiring, intent_id: str | None) -> IntentView:
    (view,) = [v for v in w.provider.intents() if v.id == intent_id]
    return view


def payment_of(w: Wiring, session: str) -> Any:
    (order,) = [o for o in w.store.snapshot().rows(s.ORDERS) if o.checkout_session_id == session]
    return w.store.snapshot().get(s.PAYMENTS, order.payment_id)


def run_out(w: Wiring, fn: Callable[[], Any]) -> None:
    """Call ``fn``; a recorded but unfinished operation is left to the recovery worker."""
    with suppress(FlowPending):
        fn()


def pen_elsewhere(w: Wiring, source: str, *, pay: bool) -> str:
    """A 1.50 EUR intent for ``pay_000001`` made by another store or by this store before
    the backup it was restored from; returns its id."""
    if source == "other-store":
        other = other_store(w)
        res = other.create_payment_intent(SESSION_A, [{"product_id": "p_pen", "quantity": 1}])
        if pay:
            other.confirm_payment(res.payment_id, "pm_card_visa")
        return str(other.payment(res.payment_id).provider_intent_id)
    w.service.add_product("p_pen", "s1", "SKU-PEN", "Pen", Money(150, "EUR"))
    w.service.restock("s1", "SKU-PEN", 5)
    # The shop has been taking payments before the backup (its identity is in it).
    w.service.create_payment_intent(EARLIER, [{"product_id": "p_mug", "quantity": 1}])
    with backup_restored(w):
        res = w.service.create_payment_intent(SESSION_A, [{"product_id": "p_pen", "quantity": 1}])
        if pay:
            w.service.confirm_payment(res.payment_id, "pm_card_visa")
        intent_id = str(w.service.payment(res.payment_id).provider_intent_id)
        w.service.run_jobs()  # sends the notifications of the lost future
    w.provider.take_events()
    return intent_id


SOURCES = ["other-store", "restored-backup"]


class TestCheckoutAdoption:
    """After an ambiguous create, only an intent made for this very payment is adopted."""

    @pytest.mark.parametrize("source", SOURCES)
    def test_tv_order_never_paid_through_a_pen_intent(self, source: str) -> None:
        """An 899.00 EUR order is not paid by another payment's 1.50 EUR intent."""
        w = with_tv(make_shop())
        pen = pen_elsewhere(w, source, pay=True)
        w.provider.fault = Faults("create_intent", "before", ProviderUnavailable)
        run_out(w, lambda: w.service.create_payment_intent(SESSION_TV, TV_CART))
        for _ in range(3):  # within the reservation's lifetime
            w.clock.advance(w.service.config.lease_ms)
            w.service.run_recovery()
        payment = payment_of(w, SESSION_TV)
        assert payment.provider_intent_id != pen
        assert payment.status is PaymentStatus.OPEN
        mine = intent_of(w, payment.provider_intent_id)
        assert (mine.amount, mine.currency, mine.status) == (TV, "EUR", "requires_payment_method")
        quiesce(w)
        assert intent_of(w, pen).status == "succeeded"
        safe(w)

    @pytest.mark.parametrize("source", SOURCES)
    def test_abort_never_cancels_another_payments_intent(self, source: str) -> None:
        """A checkout that gives up cancels only its own intents, never one for another
        payment that happens to carry the same payment id."""
        w = with_tv(make_shop())
        pen = pen_elsewhere(w, source, pay=False)
        w.provider.fault = Faults("create_intent", "before", ProviderInvalidRequest)
        with pytest.raises(PaycoreError):
            w.service.create_payment_intent(SESSION_TV, TV_CART)
        assert payment_of(w, SESSION_TV).status is PaymentStatus.FAILED
        assert intent_of(w, pen).status == "requires_payment_method"


class TestWebhookAdoption:
    """A webhook adopts an intent for a payment only if it is that payment's intent."""

    @pytest.mark.parametrize("source", SOURCES)
    def test_webhook_for_another_stores_intent_is_not_adopted(self, source: str) -> None:
        """A payment left creating by a dead checkout does not take a colliding intent."""
        w = with_tv(make_shop())
        pen = pen_elsewhere(w, source, pay=False)
        fid = begin_checkout(w, SESSION_TV, product="p_tv")

        def kill(u: Any) -> None:
            flow = u.get(s.FLOWS, fid)
            u.move(s.FLOWS, flow, FLOW, "dead_letter", last_error="test: gave up")

        w.service.engine.transact(kill)
        event = ProviderEvent("evt_pen", "payment_intent.created", 0, "payment_intent", pen)
        w.service.handle_webhook(event)
        payment = payment_of(w, SESSION_TV)
        assert payment.provider_intent_id is None
        assert payment.client_secret is None
        assert payment.status is PaymentStatus.CREATING


class TestRefundResolution:
    """After an ambiguous refund call, only a refund made for this very refund is adopted."""

    def test_refund_from_before_a_restore_is_not_taken_for_a_new_one(self) -> None:
        """rf_000001 of 1.00 EUR, lost by a restore, is not the new rf_000001 of 5.00 EUR."""
        w = make_shop()
        res = w.service.create_payment_intent(SESSION, [{"product_id": "p_mug", "quantity": 1}])
        w.service.confirm_payment(res.payment_id, "pm_card_visa")
        intent = w.service.payment(res.payment_id).provider_intent_id
        with backup_restored(w):
            w.service.create_refund(res.payment_id, 100, idempotency_key="rma-1")
        w.provider.take_events()
        # the call and its replay get no answer: the new refund waits on the list
        w.provider.fault = Faults("create_refund", "before", ProviderUnavailable, times=2)
        run_out(w, lambda: w.service.create_refund(res.payment_id, 500, idempotency_key="rma-2"))
        w.provider.fault = None
        for _ in range(3):
            w.clock.advance(w.service.config.backoff_cap_ms + w.service.config.lease_ms)
            w.service.run_recovery()
        (refund,) = w.service.refunds_of(res.payment_id)
        assert refund.status is RefundStatus.SUCCEEDED
        at_provider = {r.id: r for r in w.provider.refunds() if r.intent_id == intent}
        assert at_provider[refund.provider_refund_id].amount == 500
        assert sorted(r.amount for r in at_provider.values()) == [100, 500]


class TestKeysAcrossStores:
    """Two stores on one provider account never share an idempotency key."""

    def test_confirm_and_refund_in_two_stores_with_the_same_local_ids(self) -> None:
        """Both stores' pay_000001 and rf_000001 are confirmed and refunded for real."""
        w = make_shop()
        other = other_store(w)
        a = other.create_payment_intent(SESSION_A, [{"product_id": "p_pen", "quantity": 1}])
        other.confirm_payment(a.payment_id, "pm_card_visa")
        other.create_refund(a.payment_id, idempotency_key="rma-1")
        b = w.service.create_payment_intent(SESSION_2, [{"product_id": "p_mug", "quantity": 1}])
        assert b.payment_id == a.payment_id  # the same local id in both stores
        paid = w.service.confirm_payment(b.payment_id, "pm_card_visa")
        assert paid.status == "succeeded"
        refund = w.service.create_refund(b.payment_id, idempotency_key="rma-1")
        assert (refund.status, refund.amount) == ("succeeded", 1250)
        order = w.service.order(paid.payment_id.replace("pay", "ord"))
        assert order is not None and order.status is OrderStatus.REFUNDED
        safe(w)


def foreign(w: Wiring, metadata: dict[str, str], *, pay: bool) -> str:
    """An intent on the shop's account that paycore did not make."""
    view = w.provider.create_intent(
        CreateIntent(Money(4_200, "EUR"), "acct_1", metadata, "not paycore"),
        idempotency_key=f"elsewhere-{len(w.provider.intents())}",
    )
    if pay:
        w.provider.confirm_intent(
            view.id, payment_method="pm_card_visa", return_url=None, idempotency_key=f"{view.id}-c"
        )
    return view.id


def reported_foreign(w: Wiring) -> list[str]:
    """The intents reported as not paycore's: each recorded once (a case with action
    ``foreign``) and counted once in the one open ``foreign_intent`` alert."""
    snap = w.store.snapshot()
    cases = [c.provider_intent_id for c in snap.rows(s.ORPHANS) if c.action == "foreign"]
    alert = snap.get(s.ALERTS, f"foreign_intent:{FOREIGN_SUBJECT}")
    assert alert is not None and alert.open
    assert (alert.count, alert.fields["intents"]) == (len(cases), len(cases))
    return cases


class TestReconcilerLeavesForeignIntents:
    """Item 11: the reconciler changes only intents with this installation's identity."""

    def test_invoices_links_and_a_previous_system_are_reported_not_refunded(self) -> None:
        """Intents paycore never made stay as they are, each reported once."""
        w = make_shop()
        w.service.create_payment_intent(SESSION, [{"product_id": "p_mug", "quantity": 1}])
        ids = [
            foreign(w, {"invoice": "in_0001"}, pay=True),
            foreign(w, {"payment_link": "plink_0001"}, pay=True),
            foreign(w, {"payment_id": "pay_000001", "order_id": "ord_000001"}, pay=True),
            foreign(w, {"payment_id": "pay_000777", "order_id": "ord_000777"}, pay=True),
            foreign(w, {}, pay=False),
        ]
        w.provider.take_events()
        for _ in range(3):
            w.clock.advance(w.service.config.backoff_cap_ms + w.service.config.lease_ms)
            w.service.run_jobs()
        for intent_id in ids:
            view = intent_of(w, intent_id)
            assert view.status in ("succeeded", "requires_payment_method")
            assert not [r for r in w.provider.refunds() if r.intent_id == intent_id]
        assert sorted(reported_foreign(w)) == sorted(ids)
        assert not [a for a in w.alerts.raised if a.kind == "orphan_intent"]
        bad = w.violations()
        assert not bad, "\n".join(map(str, bad))

    def test_recorded_intent_that_is_not_the_payments_is_reported_not_synced(self) -> None:
        """A payment that records a wrong intent (ours, but for 1.50 EUR): an alert, and
        neither the intent nor the payment is changed by the reconciler."""
        w = make_shop()
        res = w.service.create_payment_intent(SESSION, [{"product_id": "p_mug", "quantity": 1}])
        payment = w.service.payment(res.payment_id)
        meta = {
            "paycore_installation": w.service.installation_id(),
            "paycore_reference": str(payment.reference),
            "payment_id": payment.id,
            "order_id": payment.order_id,
            "checkout_session_id": SESSION,
        }
        wrong = w.provider.create_intent(
            CreateIntent(Money(150, "EUR"), "acct_1", meta), idempotency_key="older-version"
        )
        w.provider.customer_confirm(wrong.id, "pm_card_visa")
        w.service.engine.transact(
            lambda u: u.save(s.PAYMENTS, u.get(s.PAYMENTS, payment.id), provider_intent_id=wrong.id)
        )
        w.service.run_reconciler()
        w.service.run_reconciler()  # a second pass does not raise it again
        (alert,) = [a for a in w.alerts.raised if a.kind == "intent_mismatch"]
        assert alert.fields == {"intent_id": wrong.id, "payment_id": payment.id}
        assert "amount 150" in alert.message
        assert intent_of(w, wrong.id).status == "succeeded"
        assert not [r for r in w.provider.refunds() if r.intent_id == wrong.id]
        assert w.service.payment(payment.id).status is PaymentStatus.OPEN
        bad = {v.invariant for v in w.violations("safety")}
        assert "intent-is-the-payments" in bad


class TestRefundWebhookAdoption:
    """A refund webhook adopts a provider refund only if it was made for that refund."""

    def test_refund_from_before_a_restore_is_not_matched_by_its_refund_id(self) -> None:
        """The lost rf_000001 (1.00 EUR) arrives as a webhook while the new rf_000001
        (5.00 EUR) is still being made: the new refund is not matched to it; the old one
        is recorded for what it is, money returned that this store no longer knew of."""
        w = make_shop()
        res = w.service.create_payment_intent(SESSION, [{"product_id": "p_mug", "quantity": 1}])
        w.service.confirm_payment(res.payment_id, "pm_card_visa")
        w.provider.take_events()
        with backup_restored(w):
            w.service.create_refund(res.payment_id, 100, idempotency_key="rma-1")
        (old,) = [e for e in w.provider.take_events() if e.object_kind == "refund"]
        # the call and its replay get no answer: the new refund waits on the list
        w.provider.fault = Faults("create_refund", "before", ProviderUnavailable, times=2)
        run_out(w, lambda: w.service.create_refund(res.payment_id, 500, idempotency_key="rma-2"))
        w.provider.fault = None
        (refund,) = w.service.refunds_of(res.payment_id)
        assert refund.provider_refund_id is None  # the new refund is still being made
        w.service.handle_webhook(old)
        refund, old_one = w.service.refunds_of(res.payment_id)
        assert (refund.provider_refund_id, refund.status) == (None, RefundStatus.PENDING)
        # The money did go back on this payment's intent: it is recorded as a refund made
        # outside this store's memory (an external refund), not as the new one.
        assert (old_one.provider_refund_id, old_one.amount.amount) == (old.object_id, 100)
        assert old_one.idempotency_key == f"external:{old.object_id}"


class TestTheInvariantCatchesMetadataAdoption:
    """Adoption on metadata alone (the old checkout) breaks `intent-is-the-payments`."""

    def test_old_adoption_is_caught(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the identity check reduced to the payment id, the TV order takes the pen's
        intent and the safety invariant says so."""
        from paycore.flows import checkout

        def by_payment_id(u: Any, flow: Any, view: IntentView, payment: Any = None) -> bool:
            return view.metadata.get("payment_id") == flow.params["payment_id"]

        def by_id(flow: Any, then: Any) -> Any:
            pid = flow.params["payment_id"]
            return checkout.Remote(
                "search_intents",
                lambda p: p.search_intents(metadata_key="payment_id", value=pid),
                then,
            )

        monkeypatch.setattr(checkout, "_is_mine", by_payment_id)
        monkeypatch.setattr(checkout, "_lookup", by_id)
        w = with_tv(make_shop())
        w.provider.search_lag_ms = 0  # the old checkout's search, and one that does not lag
        pen_elsewhere(w, "other-store", pay=True)
        # The create and the replay of its key get no answer: the checkout looks it up.
        w.provider.fault = Faults("create_intent", "before", ProviderUnavailable, times=2)
        run_out(w, lambda: w.service.create_payment_intent(SESSION_TV, TV_CART))
        bad = {v.invariant for v in w.violations("safety")}
        assert "intent-is-the-payments" in bad


def crowded_world() -> tuple[World, list[IntentView]]:
    """The harness's world: every kind of foreign intent is on its account, their ids
    colliding with the first payments the shop will make, some of them paid."""
    world = World()
    assert {kind for kind, _, _ in foreign_objects.CROWD} == set(foreign_objects.KINDS)
    assert len(world.foreign) == len(foreign_objects.CROWD)
    return world, world.foreign


def run_crowded(world: World) -> None:
    """Two checkouts whose intent creation goes wrong (answer lost, provider down), and
    so does the replay of each one's key (so each looks its intent up), one paid, and the
    quiet phase with every job."""
    for n, first in enumerate((FaultKind.RESPONSE_LOST, FaultKind.PROVIDER_DOWN)):
        world.arm(first, "create_intent")
        world.arm(FaultKind.PROVIDER_DOWN, "create_intent")  # the replay
        world.shop(n, n, 1, 0)
    world.quiesce()


class TestHarnessWithForeignObjects:
    """The chaos world with another store's, invoices', links' and a previous system's
    intents on the account: clean with the identity checks, caught without them."""

    def test_foreign_intents_are_left_alone_and_the_world_converges(self) -> None:
        """Every invariant holds after the quiet phase; no foreign intent changed."""
        world, planted = crowded_world()
        run_crowded(world)
        assert world.violations(("safety", "convergence")) == []
        after = {v.id: v for v in world.w.provider.intents()}
        assert all(after[v.id].status == v.status for v in planted)
        assert not {r.intent_id for r in world.w.provider.refunds()} & {v.id for v in planted}
        reported = reported_foreign(world.w)
        assert sorted(reported) == sorted(v.id for v in planted if v.status != "canceled")

    def test_adoption_on_metadata_alone_is_caught(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The old checkout (search and adopt by payment id) breaks a safety invariant."""
        from paycore.flows import checkout

        def by_payment_id(u: Any, flow: Any, view: IntentView, payment: Any = None) -> bool:
            return view.metadata.get("payment_id") == flow.params["payment_id"]

        def by_id(flow: Any, then: Any) -> Any:
            pid = flow.params["payment_id"]
            search = lambda p: p.search_intents(metadata_key="payment_id", value=pid)  # noqa: E731
            return checkout.Remote("search_intents", search, then)

        monkeypatch.setattr(checkout, "_is_mine", by_payment_id)
        monkeypatch.setattr(checkout, "_lookup", by_id)
        world, _ = crowded_world()
        world.w.provider.search_lag_ms = 0  # the old checkout's search, and one that does not lag
        run_crowded(world)
        assert "intent-is-the-payments" in {v.invariant for v in world.violations()}
