"""A provider error in the middle of a job's batch: which rows the run still reaches,
which it leaves for the next run, and where its cursor stays."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.support import deliver_webhooks, made_here, make_shop

from paycore import jobs
from paycore import schema as s
from paycore.errors import ProviderError, ProviderNotFound, ProviderUnavailable
from paycore.flows.checkout import CartItem
from paycore.flows.jobflow import found
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore.status import FlowStatus, PaymentStatus
from paycore_adapters.memory import Wiring


def fail_first(w: Wiring, call: str, error: Callable[[], ProviderError], nth: int = 1) -> None:
    """The ``nth`` ``call`` made from now on fails with ``error()``; the others answer."""
    seen = {"n": 0}

    def fault(name: str, phase: str, key: str | None) -> None:
        if name == call and phase == "before":
            seen["n"] += 1
            if seen["n"] == nth:
                raise error()

    w.provider.fault = fault


def cursor(w: Wiring, name: str) -> str | None:
    row = w.store.snapshot().get(s.CURSORS, name)
    assert row is not None, f"no cursor {name}"
    value: str | None = row.value
    return value


def processing_payment(w: Wiring, *, settled: bool) -> str:
    """A payment confirmed with a slow debit, which the bank then settled or not; any
    webhook lost."""
    res = w.service.create_payment_intent("cs_test_jobsync001", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_successDelayed_de")
    intent = w.service.payment(res.payment_id).provider_intent_id
    assert intent is not None
    if settled:
        w.provider.settle(intent)
    w.provider.take_events()
    return res.payment_id


class TestPaymentSync:
    @pytest.mark.parametrize(
        ("case", "moved"),
        [("settled", True), ("undecided", False), ("claimed", False)],
    )
    def test_the_sync_records_only_the_payments_it_moved(self, case: str, moved: bool) -> None:
        """The reconciler's run starts the payment sync, whose run records the payments it
        moved: not one the bank has not decided yet, nor one a cancel flow has claimed
        (that flow decides it)."""
        w = make_shop()
        pid = processing_payment(w, settled=case != "undecided")
        if case == "claimed":
            assert w.service.start_cancel(pid) is not None
        eng = w.service.engine
        run = jobs.finish_job(eng, jobs.start_reconcile(eng))
        assert run.result is not None
        (sync_id,) = run.result["follow"]
        sync = jobs.finish_job(eng, sync_id)
        assert (sync.status, found(sync)) == (FlowStatus.SUCCEEDED, [pid] if moved else [])
        want = PaymentStatus.SUCCEEDED if moved else PaymentStatus.PROCESSING
        assert w.service.payment(pid).status is want

    def test_a_payment_the_provider_cannot_answer_for_does_not_stop_the_batch(self) -> None:
        """Two processing payments, both settled at the bank with their webhooks lost. The
        sync's first question (about the newer one: the provider lists newest first) fails:
        that payment waits for the next run, the other one is synced in this run."""
        w = make_shop()
        pids = []
        for i in range(2):
            res = w.service.create_payment_intent(f"cs_test_joberr{i:05d}", [CartItem("p_mug", 1)])
            w.service.confirm_payment(res.payment_id, "pm_successDelayed_de")
            pids.append(res.payment_id)
        for pid in pids:
            intent = w.service.payment(pid).provider_intent_id
            assert intent is not None
            w.provider.settle(intent)
        w.provider.take_events()  # lost
        fail_first(w, "retrieve_intent", lambda: ProviderUnavailable("provider down"))
        w.service.run_reconciler()
        statuses = [w.service.payment(pid).status for pid in sorted(pids)]
        assert statuses == [PaymentStatus.SUCCEEDED, PaymentStatus.PROCESSING]
        w.service.run_reconciler()
        statuses = [w.service.payment(pid).status for pid in sorted(pids)]
        assert statuses == [PaymentStatus.SUCCEEDED, PaymentStatus.SUCCEEDED]


def two_refunded_payments(w: Wiring) -> list[str]:
    """Two paid orders, each refunded from the provider's dashboard, both webhooks lost."""
    pids = []
    for i in range(2):
        res = w.service.create_payment_intent(f"cs_test_jobscan{i:04d}", [CartItem("p_mug", 1)])
        w.service.confirm_payment(res.payment_id, "pm_card_visa")
        pids.append(res.payment_id)
    deliver_webhooks(w)
    for i, pid in enumerate(pids):
        intent = w.service.payment(pid).provider_intent_id
        assert intent is not None
        w.provider.create_refund(
            intent, amount=100 + i, reason=None, metadata={}, idempotency_key=f"dash-{i}"
        )
    w.provider.take_events()
    return sorted(pids)


class TestExternalRefundScan:
    def test_an_intent_the_provider_does_not_know_is_skipped(self) -> None:
        """Not found has no refunds: the scan goes on with the next payment in the same run,
        and its cursor moves to the last payment asked about."""
        w = make_shop()
        first, second = two_refunded_payments(w)
        fail_first(w, "list_refunds", lambda: ProviderNotFound("no such intent"))
        assert jobs.find_external_refunds(w.service.engine) == 1
        assert w.service.refunds_of(first) == []
        assert [r.amount.amount for r in w.service.refunds_of(second)] == [101]
        assert cursor(w, "external_refunds") == second

    def test_an_outage_ends_the_run_and_the_next_run_asks_from_there(self) -> None:
        """An error on a run's first payment passes that payment over (a payment that always
        fails must not stop the scan for the ones after it): the second is asked about and
        its refund recorded, and the next run, going around, records the first's."""
        w = make_shop()
        first, second = two_refunded_payments(w)
        fail_first(w, "list_refunds", lambda: ProviderUnavailable("provider down"))
        assert jobs.find_external_refunds(w.service.engine) == 1
        assert w.provider.calls["list_refunds"] == 2
        assert cursor(w, "external_refunds") == second
        assert jobs.find_external_refunds(w.service.engine) == 1
        assert [r.amount.amount for r in w.service.refunds_of(first)] == [100]
        assert [r.amount.amount for r in w.service.refunds_of(second)] == [101]


class TestReconcilerWalk:
    def test_a_page_cursor_the_provider_no_longer_knows_ends_a_run_that_went_around(self) -> None:
        """Four intents made here that no payment records, listed three a page (newest
        first). The first run lists a page, then asks for the page after its last intent,
        and the provider says that intent is not found: the walk had already gone around
        the window (it began at its head), so the run ends there with every intent it
        listed reconciled and its cursor on the last one."""
        w = make_shop()
        intents = [
            w.provider.create_intent(
                CreateIntent(Money(700, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_x")),
                idempotency_key=f"lost-create-{i}",
            ).id
            for i in range(4)
        ]
        w.provider.page_cap = 3  # type: ignore[attr-defined]
        fail_first(w, "list_intents", lambda: ProviderNotFound("no such intent"), nth=2)
        newest = intents[::-1][:3]
        assert jobs.reconcile(w.service.engine) == [f"orphan:{i}" for i in newest]
        assert w.provider.calls["list_intents"] == 2
        assert cursor(w, "reconcile") == newest[-1]
