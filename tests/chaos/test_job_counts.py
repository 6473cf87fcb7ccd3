"""What the jobs that ask the provider record and report: the external-refund scan
records every unknown refund of a payment in one run and keeps its cursor when a run
stops early; the refund sync counts the refunds it moved and never asks about a refund
whose provider id is not recorded yet; the reconciler's case for an orphan says what it
found and when."""

from __future__ import annotations

import pytest
from tests.support import deliver_webhooks, made_here, make_shop

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.errors import ProviderUnavailable
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore.status import FlowStatus
from paycore_adapters.memory import Wiring


def paid(w: Wiring, n: int) -> str:
    res = w.service.create_payment_intent(f"cs_test_jobcount{n:03d}", [CartItem("p_mug", 2)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    deliver_webhooks(w)
    return res.payment_id


def dashboard_refund(w: Wiring, payment_id: str, amount: int, key: str) -> str:
    intent = w.service.payment(payment_id).provider_intent_id
    assert intent is not None
    view = w.provider.create_refund(
        intent, amount=amount, reason=None, metadata={}, idempotency_key=key
    )
    return view.id


def scan_flows(w: Wiring) -> list[tuple[str, FlowStatus, list[str]]]:
    rows = w.store.snapshot().rows(s.FLOWS)
    return [
        (f.id, f.status, list((f.result or {}).get("found", [])))
        for f in rows
        if f.kind == "external_refunds"
    ]


class TestExternalRefundScan:
    def test_every_unknown_refund_of_a_payment_is_recorded_in_one_run(self) -> None:
        """A payment with a refund paycore made, then two dashboard refunds whose webhooks
        were lost: one run records both dashboard refunds, and its flow names them."""
        w = make_shop()
        pid = paid(w, 1)
        w.service.create_refund(pid, 100, idempotency_key="rma-1")
        deliver_webhooks(w)
        dashboard_refund(w, pid, 200, "dash-1")
        dashboard_refund(w, pid, 300, "dash-2")
        w.provider.take_events()
        assert jobs.find_external_refunds(w.service.engine) == 2
        refunds = w.service.refunds_of(pid)
        assert sorted((r.amount.amount, r.external) for r in refunds) == [
            (100, False),
            (200, True),
            (300, True),
        ]
        recorded = sorted(r.id for r in refunds if r.external)
        ((_, status, found),) = scan_flows(w)
        assert (status, sorted(found)) == (FlowStatus.SUCCEEDED, recorded)

    def test_a_run_stopped_by_an_outage_keeps_the_cursor_of_the_last_run(self) -> None:
        """The first run goes through both payments (cursor on the second); in the next
        one every list fails: it passes its first payment over (a run never stops on its
        first call) and stops at the second, so the cursor moves one payment on, and the
        run, which found nothing, fails."""
        w = make_shop()
        pids = sorted([paid(w, 1), paid(w, 2)])
        assert jobs.find_external_refunds(w.service.engine) == 0
        cursor = w.store.snapshot().get(s.CURSORS, "external_refunds")
        assert cursor is not None and cursor.value == pids[-1]

        def down(name: str, phase: str, key: str | None) -> None:
            if name == "list_refunds":
                raise ProviderUnavailable("provider down")

        w.provider.fault = down
        with pytest.raises(ProviderUnavailable):
            jobs.find_external_refunds(w.service.engine)
        cursor = w.store.snapshot().get(s.CURSORS, "external_refunds")
        assert cursor is not None and cursor.value == pids[0]

    def test_a_refund_paycore_sent_but_has_not_recorded_yet_is_not_taken_for_external(
        self,
    ) -> None:
        """The scan meets paycore's own refund between its call and the step that records
        the answer: it knows the refund by the id in its metadata and leaves it to its
        flow, which then records it once."""
        w = make_shop()
        pid = paid(w, 1)
        fid = w.service.start_refund(pid, 100, idempotency_key="rma-1")
        assert fid is not None
        report = w.service.engine.step(fid)
        assert (report.effect, report.result) == ("call:create_refund", "ok")
        assert jobs.find_external_refunds(w.service.engine) == 0
        assert [(f, st) for f, st, _ in scan_flows(w)] == [
            ("job:external_refunds:1", FlowStatus.SUCCEEDED)
        ]
        w.service.run_flow(fid)
        assert [(r.amount.amount, r.external) for r in w.service.refunds_of(pid)] == [(100, False)]

    def test_a_refund_naming_ours_without_our_identity_is_recorded_as_external(self) -> None:
        """paycore's refund is recorded but not yet sent; a support tool refunds the same
        amount on the same intent, copying only the refund id into its metadata. Without
        this installation's identity and the refund's reference it is not paycore's: the
        scan records it as an outside refund."""
        w = make_shop()
        pid = paid(w, 1)
        assert w.service.start_refund(pid, 100, idempotency_key="rma-1") == "refund:rf_000001"
        intent = w.service.payment(pid).provider_intent_id
        assert intent is not None
        copied = w.provider.create_refund(
            intent,
            amount=100,
            reason=None,
            metadata={"refund_id": "rf_000001"},
            idempotency_key="t",
        )
        w.provider.take_events()
        assert jobs.find_external_refunds(w.service.engine) == 1
        external = [r for r in w.service.refunds_of(pid) if r.external]
        assert [(r.provider_refund_id, r.amount.amount) for r in external] == [(copied.id, 100)]

    def test_a_run_asks_about_one_batch_of_payments_from_the_window_start(self) -> None:
        """Three paid payments, a batch of two: a run lists the refunds of two. A payment
        created exactly a window ago is still in the window; a millisecond later it is
        not."""
        w = make_shop(stock=10)
        w.service.engine.config = Config(job_batch=2)
        created = w.clock.now()
        for n in range(3):
            paid(w, n)
        asked = w.provider.calls["list_refunds"]
        jobs.find_external_refunds(w.service.engine)
        assert w.provider.calls["list_refunds"] - asked == 2
        w.service.engine.config = Config()
        window = w.service.engine.config.external_refund_window_ms
        w.clock.advance(created + window - w.clock.now())
        asked = w.provider.calls["list_refunds"]
        jobs.find_external_refunds(w.service.engine)
        assert w.provider.calls["list_refunds"] - asked == 3
        w.clock.advance(1)
        asked = w.provider.calls["list_refunds"]
        assert jobs.find_external_refunds(w.service.engine) == 0
        assert w.provider.calls["list_refunds"] == asked


class TestRefundSync:
    def test_the_sync_counts_the_refunds_it_moved(self) -> None:
        """Two refunds pending at the bank, one settles with its webhook lost: the sync
        says one refund changed, and the next run none."""
        w = make_shop()
        w.provider.refunds_settle_immediately = False
        pid = paid(w, 1)
        w.service.create_refund(pid, 100, idempotency_key="rma-1")
        w.service.create_refund(pid, 200, idempotency_key="rma-2")
        first = w.provider.refunds()[0]
        w.provider.settle_refund(first.id)
        w.provider.take_events()
        assert jobs.sync_pending_refunds(w.service.engine) == 1
        assert jobs.sync_pending_refunds(w.service.engine) == 0

    def test_a_refund_that_succeeded_exactly_a_window_ago_is_still_asked_about(self) -> None:
        """A bank may still fail a refund that succeeded within the reconcile window, its
        boundary included; one a millisecond older is no longer asked about."""
        w = make_shop()
        pid = paid(w, 1)
        w.service.create_refund(pid, 100, idempotency_key="rma-1")
        deliver_webhooks(w)
        w.clock.advance(w.service.config.reconcile_window_ms)
        asked = w.provider.calls["retrieve_refund"]
        jobs.sync_pending_refunds(w.service.engine)
        assert w.provider.calls["retrieve_refund"] == asked + 1
        w.clock.advance(1)
        jobs.sync_pending_refunds(w.service.engine)
        assert w.provider.calls["retrieve_refund"] == asked + 1

    def test_a_refund_not_yet_sent_is_not_asked_about(self) -> None:
        """A refund whose flow has recorded it but not yet the provider's answer has no
        provider id to ask about: the sync makes no call for it."""
        w = make_shop()
        pid = paid(w, 1)
        assert w.service.start_refund(pid, 100, idempotency_key="rma-1") is not None
        asked = w.provider.calls["retrieve_refund"]
        assert jobs.sync_pending_refunds(w.service.engine) == 0
        assert w.provider.calls["retrieve_refund"] == asked


def test_an_orphan_case_records_what_the_reconciler_found_and_when() -> None:
    """An intent made here that no payment records: its case keeps the intent's status,
    amount, checkout session and the time it was found."""
    w = make_shop()
    view = w.provider.create_intent(
        CreateIntent(Money(700, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_lost")),
        idempotency_key="lost-create",
    )
    w.provider.take_events()
    w.clock.advance(5_000)
    found_at = w.clock.now()
    assert jobs.reconcile(w.service.engine) == [f"orphan:{view.id}"]
    case = w.store.snapshot().get(s.ORPHANS, view.id)
    assert case is not None
    assert (case.found_at, case.provider_status, case.amount, case.checkout_session_id) == (
        found_at,
        "requires_payment_method",
        700,
        "cs_lost",
    )
    alert = w.store.snapshot().get(s.ALERTS, f"orphan_intent:{view.id}")
    assert alert is not None
    assert (alert.subject, dict(alert.fields)) == (view.id, {"intent_id": view.id})
    assert alert.message == (
        f"provider intent {view.id} (requires_payment_method) has no local payment; "
        "it will be canceled or refunded"
    )
