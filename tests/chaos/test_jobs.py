"""A request sends what it queued; each job runs on its own and gets past its first batch."""

from __future__ import annotations

import attrs
import pytest
from tests.support import begin_confirm, made_here, make_shop

from paycore import PaymentService, jobs
from paycore import schema as s
from paycore.config import HOUR, MINUTE, Config
from paycore.errors import ProviderUnavailable
from paycore.flows.checkout import CartItem
from paycore.flows.jobflow import is_job
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView, ListPage
from paycore.records import OrphanCase, OutboxMessage
from paycore.status import PaymentStatus, RefundStatus
from paycore_adapters.memory import Wiring


class DownNotifier:
    """A notification API that can be taken down; counts every call."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0
        self.delivered: dict[str, OutboxMessage] = {}

    def send(self, message: OutboxMessage) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("notification API unreachable")
        self.delivered.setdefault(message.id, message)


def with_notifier(w: Wiring) -> DownNotifier:
    notifier = DownNotifier()
    w.service.notifier = notifier
    return notifier


def with_batch(w: Wiring, batch: int) -> None:
    w.service.config = attrs.evolve(w.service.config, job_batch=batch)
    w.service.engine.config = w.service.config


def unsent(w: Wiring) -> list[OutboxMessage]:
    return [m for m in w.store.snapshot().rows(s.OUTBOX) if not m.sent]


def session(i: int) -> str:
    return f"cs_test_jobs_{i:06d}"


def paid_order(w: Wiring, i: int) -> str:
    res = w.service.create_payment_intent(session(i), [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    return res.payment_id


class TestRequestSendsOwnMessages:
    def test_confirm_with_a_backlog_and_the_notifier_down_calls_it_once(self) -> None:
        """40 unsent messages wait in the outbox: one confirm sends only its own, once."""
        w = make_shop(stock=50)
        notifier = with_notifier(w)
        notifier.down = True
        for i in range(40):
            paid_order(w, i)
        assert len(unsent(w)) == 40
        before = notifier.calls
        pid = paid_order(w, 40)
        assert w.service.payment(pid).status is PaymentStatus.SUCCEEDED  # not failed by it
        assert notifier.calls - before == 1
        assert len(unsent(w)) == 41

    def test_a_request_never_sends_someone_elses_message(self) -> None:
        """With the notifier back, a request sends its own message; the backlog is the job's."""
        w = make_shop(stock=10)
        notifier = with_notifier(w)
        notifier.down = True
        paid_order(w, 0)
        notifier.down = False
        paid_order(w, 1)
        assert [m.order_id for m in notifier.delivered.values()] == ["ord_000002"]
        w.clock.advance(w.service.config.backoff_cap_ms)  # past the failed send's backoff
        assert w.service.run_jobs().notifications_sent == 1
        assert sorted(m.order_id for m in notifier.delivered.values()) == [
            "ord_000001",
            "ord_000002",
        ]

    def test_a_job_call_sends_what_it_queued_and_leaves_nothing_to_the_next_request(
        self,
    ) -> None:
        """The reconciler learns a payment succeeded: it tells the shop; a later checkout
        sends nothing."""
        w = make_shop()
        notifier = with_notifier(w)
        res = w.service.create_payment_intent(session(0), [CartItem("p_mug", 1)])
        w.service.confirm_payment(res.payment_id, "pm_successDelayed_de")
        intent = w.service.payment(res.payment_id).provider_intent_id
        assert intent is not None
        w.provider.settle(intent)
        w.provider.take_events()  # the webhook is lost
        w.service.run_reconciler()
        assert (notifier.calls, list(notifier.delivered)) == (1, ["ord_000001:order_paid"])
        w.service.create_payment_intent(session(1), [CartItem("p_mug", 1)])
        assert notifier.calls == 1


class TestRunJobsIsolation:
    @staticmethod
    def reconciler_down(w: Wiring) -> None:
        def fault(name: str, phase: str, key: str | None) -> None:
            if name == "list_intents":
                raise ProviderUnavailable("provider list endpoint is down")

        w.provider.fault = fault

    def test_a_failing_reconciler_does_not_stop_recovery_or_dispatch(self) -> None:
        """The reconciler fails: run_jobs still sends the backlog and says what failed."""
        w = make_shop()
        notifier = with_notifier(w)
        notifier.down = True
        paid_order(w, 0)
        notifier.down = False
        res = w.service.create_payment_intent(session(1), [CartItem("p_mug", 1)])
        begin_confirm(w, res.payment_id)  # the worker died right after recording it
        w.clock.advance(w.service.config.lease_ms + 1)
        self.reconciler_down(w)
        report = w.service.run_jobs()
        assert report.failed == ("reconciler",)
        assert not report.ok
        assert report.recovered == 1
        assert w.service.payment(res.payment_id).status is PaymentStatus.SUCCEEDED
        assert report.notifications_sent == 1  # the backlog; the recovered one went itself
        assert sorted(m.order_id for m in notifier.delivered.values()) == [
            "ord_000001",
            "ord_000002",
        ]

    def test_repeated_failures_alert_and_a_success_resolves_the_alert(self) -> None:
        """Three failed runs in a row raise job_failed; the next good run resolves it."""
        w = make_shop()
        self.reconciler_down(w)
        cfg = w.service.config
        for _ in range(cfg.job_failures_before_alert - 1):
            w.service.run_jobs()
        assert "job_failed" not in [a.kind for a in w.alerts.raised]
        w.service.run_jobs()
        assert [a.kind for a in w.alerts.raised] == ["job_failed"]
        alert = w.store.snapshot().get(s.ALERTS, "job_failed:reconciler")
        assert alert is not None and alert.open
        w.provider.fault = None
        report = w.service.run_jobs()
        assert report.ok and report.failed == ()
        alert = w.store.snapshot().get(s.ALERTS, "job_failed:reconciler")
        assert alert is not None and not alert.open

    def test_a_raw_exception_in_one_job_is_contained(self) -> None:
        """Even an exception that is not paycore's stays inside its job."""
        w = make_shop()

        def broken() -> None:
            raise RuntimeError("bug in an adapter")

        w.provider.list_intents = lambda **_: broken()  # type: ignore[assignment,method-assign,func-returns-value]
        report = w.service.run_jobs()
        assert report.failed == ("reconciler",)


BATCH = 2
ITEMS = 3 * BATCH + 1  # more than three batches' worth


class TestJobsGetPastTheFirstBatch:
    def test_every_processing_payment_is_synced(self) -> None:
        """Processing payments past the reconcile window: each one is asked about in turn."""
        w = make_shop(stock=ITEMS)
        with_batch(w, BATCH)
        pids = []
        for i in range(ITEMS):
            res = w.service.create_payment_intent(session(i), [CartItem("p_mug", 1)])
            w.service.confirm_payment(res.payment_id, "pm_successDelayed_de")
            pids.append(res.payment_id)
        w.clock.advance(w.service.config.reconcile_window_ms + HOUR)  # bank debits take days
        for pid in pids[BATCH:]:  # the first batch is still processing at the bank
            intent = w.service.payment(pid).provider_intent_id
            assert intent is not None
            w.provider.settle(intent)
        w.provider.take_events()  # every webhook was lost
        for _ in range(ITEMS // BATCH + 1):
            w.service.run_reconciler()
        statuses = [w.service.payment(pid).status for pid in pids]
        assert statuses == [PaymentStatus.PROCESSING] * BATCH + [PaymentStatus.SUCCEEDED] * (
            ITEMS - BATCH
        )

    def test_every_pending_refund_is_polled(self) -> None:
        """Refunds the bank keeps pending at the head do not hide the ones behind them."""
        w = make_shop()
        with_batch(w, BATCH)
        w.provider.refunds_settle_immediately = False
        pid = paid_order(w, 0)
        refund_ids = [
            w.service.create_refund(pid, 100, idempotency_key=f"rma-{i}").refund_id
            for i in range(ITEMS)
        ]
        provider_ids = [r.id for r in w.provider.refunds()]
        for rid in provider_ids[BATCH:]:  # the first batch stays pending at the bank
            w.provider.settle_refund(rid)
        w.provider.take_events()
        for _ in range(ITEMS // BATCH + 1):
            w.clock.advance(15 * MINUTE)
            w.service.run_reconciler()
        by_id = {r.id: r.status for r in w.service.refunds_of(pid)}
        assert [by_id[r] for r in refund_ids] == [RefundStatus.PENDING] * BATCH + [
            RefundStatus.SUCCEEDED
        ] * (ITEMS - BATCH)

    def test_every_waiting_orphan_is_reopened(self) -> None:
        """Orphans waiting on the bank: those settled behind a batch of undecided ones reopen."""
        w = make_shop()
        with_batch(w, BATCH)
        intents = []
        for i in range(ITEMS):
            view = w.provider.create_intent(
                CreateIntent(
                    Money(500, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_elsewhere")
                ),
                idempotency_key=f"elsewhere-{i}",
            )
            intents.append(w.provider.customer_confirm(view.id, "pm_successDelayed_de").id)
        eng = w.service.engine
        for intent in intents:
            eng.transact(
                lambda u, intent=intent: u.create(
                    s.ORPHANS,
                    OrphanCase(intent, u.now, "processing", "waiting", 500, "cs_elsewhere"),
                )
            )
        for intent in intents[BATCH:]:  # the first batch is still processing
            w.provider.settle(intent)
        w.provider.take_events()
        for _ in range(ITEMS // BATCH + 1):
            w.clock.advance(15 * MINUTE)
            w.service.run_reconciler()
        snap = w.store.snapshot()
        reopened = [snap.get(s.FLOWS, f"orphan:{i}:1") is not None for i in intents]
        assert reopened == [False] * BATCH + [True] * (ITEMS - BATCH)

    def test_every_queued_message_is_dispatched(self) -> None:
        """Messages the notifier keeps refusing do not block the ones behind them."""
        w = make_shop(stock=ITEMS)
        with_batch(w, BATCH)
        notifier = with_notifier(w)
        notifier.down = True
        for i in range(ITEMS):
            paid_order(w, i)
        poisoned = {"ord_000001:order_paid", "ord_000002:order_paid"}
        real = notifier.send

        def send(message: OutboxMessage) -> None:
            if message.id in poisoned:
                raise ValueError("rejected by the notification API")
            real(message)

        notifier.send = send  # type: ignore[method-assign]
        notifier.down = False
        w.clock.advance(w.service.config.backoff_cap_ms)  # past the failed sends' backoff
        for _ in range(ITEMS // BATCH + 1):
            w.service.dispatch_notifications()
        assert len(notifier.delivered) == ITEMS - len(poisoned)


def test_default_config_alerts_after_three_failures() -> None:
    """The alert threshold for a failing job is three consecutive runs by default."""
    assert Config().job_failures_before_alert == 3


def beyond_job_runs(w: Wiring) -> dict[tuple[str, str], object]:
    """Every stored row but a job run's own bookkeeping: its flow (and that flow's audit
    entries) and the counter of the job's runs. The jobs' cursors are kept."""
    rows: dict[tuple[str, str], object] = {}
    for table, content in w.store.snapshot().tables.items():
        for key, row in content.items():
            own = (
                (table == s.FLOWS.name and is_job(key))
                or (table == s.AUDIT.name and is_job(row.aggregate_id))
                or (table == s.CURSORS.name and is_job(key))
            )
            if not own:
                rows[table, str(key)] = row
    return rows


class TestReconcilerCursorSettles:
    """The reconciler's cursor goes on from where its last run stopped and wraps around
    within a run: when its window holds no more intents than a batch, a quiet shop's
    runs write nothing but their own job flow (the cursor used to flip between its last
    page and the start)."""

    def quiet_runs_write(self, intents: int, batch: int) -> list[int]:
        """Rows each of four reconciler runs wrote, besides its own job flow."""
        w = make_shop(stock=intents)
        with_batch(w, batch)
        for i in range(intents):
            paid_order(w, i)
        w.service.run_jobs()
        writes = []
        for _ in range(4):
            before = beyond_job_runs(w)
            w.service.run_reconciler()
            after = beyond_job_runs(w)
            writes.append(
                sum(1 for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            )
        return writes

    def test_a_run_writes_its_own_flow(self) -> None:
        """What the count above leaves out is there: each run is one more job flow."""
        w = make_shop(stock=2)
        paid_order(w, 0)
        before = {f.id for f in w.store.snapshot().rows(s.FLOWS) if is_job(f.id)}
        w.service.run_reconciler()
        after = {f.id for f in w.store.snapshot().rows(s.FLOWS) if is_job(f.id)}
        assert "job:reconcile:1" in after - before

    @pytest.mark.parametrize(("intents", "batch"), [(2, 2), (3, 3), (1, 2), (2, 5)])
    def test_quiet_runs_write_nothing_when_the_window_fits_a_batch(
        self, intents: int, batch: int
    ) -> None:
        assert self.quiet_runs_write(intents, batch)[1:] == [0, 0, 0]

    def test_every_intent_is_reached_when_the_window_holds_more_than_a_batch(self) -> None:
        """Five intents, a batch of two: every intent is looked at within three runs."""
        w = make_shop(stock=5)
        with_batch(w, 2)
        for i in range(5):
            paid_order(w, i)
        calls: list[str] = []
        real = w.provider.list_intents

        def listing(**kw: object) -> ListPage[IntentView]:
            page = real(**kw)  # type: ignore[arg-type]
            calls.extend(v.id for v in page.data)
            return page

        w.provider.list_intents = listing  # type: ignore[method-assign]
        for _ in range(3):
            w.service.run_reconciler()
        assert {v.id for v in w.provider.intents()} <= set(calls)


class TestJobsAsFlows:
    """The jobs that ask the provider run as flows with deterministic ids: a second
    instance running the same job at the same time steps the same flow, and the flow's
    version checks let each answer be applied once."""

    @staticmethod
    def orphan(w: Wiring) -> str:
        view = w.provider.create_intent(
            CreateIntent(Money(700, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_x")),
            idempotency_key="lost-create",
        )
        return view.id

    def test_two_instances_reconciling_at_once_start_one_orphan_flow(self) -> None:
        """Instance 1 lists and holds the answer; instance 2 leaves the job flow alone while
        1's lease is live, then, once it lapsed, runs it to its end; instance 1's late
        apply is dropped: one case, one orphan flow, one alert."""
        w = make_shop()
        intent = self.orphan(w)
        one = w.service.engine
        other = PaymentService(
            w.store, w.provider, w.clock, w.alerts, w.notifier, w.service.config, "worker-2"
        )
        fid = jobs.start_reconcile(one)
        assert fid == "job:reconcile:1"
        assert one.step(fid).effect == "call:list_intents"  # the answer is held in memory
        assert jobs.start_reconcile(other.engine) == fid  # the active run, not a new one
        listed = w.provider.calls["list_intents"]
        assert jobs.reconcile(other.engine) == []  # instance 1 holds its lease
        assert w.provider.calls["list_intents"] == listed
        w.clock.advance(w.service.config.lease_ms + 1)  # instance 1 stalled
        assert jobs.reconcile(other.engine) == [f"orphan:{intent}"]
        assert one.step(fid).result == "lease_lost"
        snap = w.store.snapshot()
        assert [c.provider_intent_id for c in snap.rows(s.ORPHANS)] == [intent]
        assert [f.id for f in snap.rows(s.FLOWS) if f.kind == "orphan"] == [f"orphan:{intent}"]
        assert [a.kind for a in w.alerts.raised] == ["orphan_intent"]
        assert jobs.start_reconcile(one) == "job:reconcile:2"  # the first run ended

    def test_a_crash_between_the_list_and_its_apply_only_repeats_the_read(self) -> None:
        """The worker dies holding the page: the resumed run lists again and applies it
        once; the cursor lives in the flow until the run ends."""
        w = make_shop()
        intent = self.orphan(w)
        eng = w.service.engine
        fid = jobs.start_reconcile(eng)
        eng.step(fid)
        eng.forget_inflight()
        listed = w.provider.calls["list_intents"]
        assert jobs.reconcile(eng) == [f"orphan:{intent}"]
        assert w.provider.calls["list_intents"] > listed
        assert len(w.store.snapshot().rows(s.ORPHANS)) == 1
        cursor = w.store.snapshot().get(s.CURSORS, "reconcile")
        assert cursor is not None and cursor.value == intent
