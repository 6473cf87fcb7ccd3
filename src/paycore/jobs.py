"""Background jobs: janitor, recovery worker, reconciler, outbox dispatcher.

Each job is bounded per run (``Config.job_batch``) and idempotent: running it
twice, or on two instances at once, does no effect twice, because every
effect goes through a flow with a unique id and deterministic provider keys.
Jobs claim their work (:mod:`paycore.claims`): on PostgreSQL two instances
running one job at once take different rows instead of colliding.
Jobs *start* flows; :class:`paycore.service.PaymentService` runs them to
completion, and the harness steps them one at a time instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs

from paycore import claims, job_health, operations, outbox, written_ahead
from paycore import schema as s
from paycore.errors import FlowPending, error_class
from paycore.flows import external, orphans
from paycore.flows import reconcile as reconcile_flow
from paycore.flows.engine import Engine, FlowDef
from paycore.flows.job_sync import PAYMENT_SYNC, REFUND_SYNC, refund_batch, refund_sync_data
from paycore.flows.jobflow import active_job, found, reported, run_failed
from paycore.flows.payments import begin_cancel
from paycore.flows.sync import (
    claimed,
    release_held,
)
from paycore.ports import Notifier
from paycore.records import Flow, Order
from paycore.status import (
    FlowStatus,
    OrderStatus,
    PaymentStatus,
)
from paycore.unit import Unit

log = logging.getLogger(__name__)

#: The flow kinds of the jobs that ask the provider (:mod:`paycore.flows.jobflow`).
JOB_DEFS: tuple[FlowDef, ...] = (
    reconcile_flow.DEF,
    PAYMENT_SYNC.fdef,
    REFUND_SYNC.fdef,
    orphans.REOPEN.fdef,
    external.SCAN.fdef,
)

#: How many bounded runs a job's flow may take before it is left to recovery.
_MAX_RUNS = 1000


def janitor(engine: Engine) -> list[str]:
    """Start a cancel flow for every pending order whose reservation time ran out.

    Stock is never released here: the cancel flow cancels the intent at the
    provider first and releases stock only once the payment can no longer
    succeed (S14, S18). A processing payment keeps its stock until it settles.
    The expired orders are claimed: an instance running the janitor at the same
    time ends others.
    """

    def body(u: Unit) -> list[str]:
        started: list[str] = []
        batch = engine.config.job_batch
        due = ("expires_at", u.now)
        if batch <= 0:
            return started
        for order in claims.each(u, s.ORDERS, "status", OrderStatus.PENDING, batch, due=due):
            fid = _end_expired(engine, u, order)
            if fid is not None:
                started.append(fid)
                if len(started) >= batch:
                    return started  # before claiming more
        # Orders a clock that ran ahead wrote: their times brought back by its offset, at
        # most once per lease_ms (:mod:`paycore.written_ahead`); they expire as others do.
        ahead = written_ahead.orders(u, engine.config)
        written_ahead.report(u, engine.config, "orders", [o.id for o in ahead])
        return started

    started: list[str] = engine.transact(body)
    return started


def _end_expired(engine: Engine, u: Unit, order: Order) -> str | None:
    """Start what ends one expired pending order; the id of the flow started, if any."""
    payment = u.get(s.PAYMENTS, order.payment_id)
    assert payment is not None
    if payment.status is PaymentStatus.PROCESSING:
        _maybe_unhold(u, engine.config.processing_hold_ms, order.expires_at, order.id)
        return None
    if claimed(u, payment):
        return None
    if payment.status is PaymentStatus.CREATING:
        # Its checkout flow died with the create unanswered: the checkout's own
        # compensation asks the provider, cancels what exists, then releases.
        return _compensate_checkout(engine, u, payment.lock_owner)
    # Leased to this worker, which runs it at once (``run_janitor``): another instance's
    # recovery passes it over meanwhile, and takes it if this worker dies first.
    lease_until = u.now + engine.config.lease_ms
    return begin_cancel(u, payment.id, engine.worker_id, lease_until, reason="expired")


def _compensate_checkout(engine: Engine, u: Unit, flow_id: str | None) -> str | None:
    """Restart the compensation of a checkout the provider's absence killed (one that
    died of strikes waits for an operator: it would only fail again)."""
    flow = u.get(s.FLOWS, flow_id) if flow_id is not None else None
    if flow is None or flow.kind != "checkout" or not operations.died_of_outage(flow):
        return None
    if flow.data.get("compensating"):
        again = operations.revive(u, flow.id, "the janitor")
    else:
        again = operations.abandon(u, engine.defs, flow.id, "the janitor")
    # Leased to this worker, which runs it next (``run_janitor``), as a cancel it starts.
    lease_until = u.now + engine.config.lease_ms
    return u.save(s.FLOWS, again, lease_owner=engine.worker_id, lease_until=lease_until).id


def _maybe_unhold(u: Unit, hold_ms: int | None, expired_at: int, order_id: str) -> None:
    """Put a processing payment's stock back on sale once the shop's patience ran out.

    Its own trigger, ``expire_processing``, records on the reservation why it expired:
    ``stock-kept-for-live-payment`` reads that, not the payment's history, whose audit
    numbers are not ordered against the reservation's on every store."""
    if hold_ms is None or u.now < expired_at + hold_ms:
        return
    release_held(u, order_id, "expire_processing")


def due_flows(engine: Engine) -> list[str]:
    """Active flows whose retry time has come and whose worker's lease has lapsed (or is
    this worker's), claimed and leased to this worker in the same transaction.

    The claim's row locks end with the transaction; the lease outlives it: another
    instance's selection made after this one commits passes these flows over until the
    lease lapses (this worker died), so two recovery workers do not step one flow at
    once (duplicate provider calls, the loser's ``idempotency_key_in_use`` sending the
    flow to its ask path). A flow a thread of this worker is running is passed over: its
    steps hold the lease, and a new version would refuse the step under way."""

    def body(u: Unit) -> list[str]:
        due: list[str] = []
        batch = engine.config.job_batch
        when = ("next_run_at", u.now)
        skewed: list[str] = []  # taken with a lease or retry time written ahead
        for flow in claims.each(u, s.FLOWS, "status", FlowStatus.ACTIVE, batch, due=when):
            if _take_due(engine, u, flow):
                due.append(flow.id)
                if written_ahead.lease_ahead(engine.config, flow, u.now):
                    skewed.append(flow.id)
                if len(due) >= batch:
                    break
        # Leases and retry times a clock that ran ahead wrote (:mod:`paycore.written_ahead`).
        room = batch - len(due)
        for flow in written_ahead.flows(u, engine.config, room) if room > 0 else []:
            if flow.id not in due and _take_due(engine, u, flow):
                due.append(flow.id)
                skewed.append(flow.id)
        written_ahead.report(u, engine.config, "flows", skewed)
        return due

    due: list[str] = engine.transact(body)
    return due


def _take_due(engine: Engine, u: Unit, flow: Flow) -> bool:
    """Lease a due flow to this worker (due now: a retry time written ahead is brought
    back); False, leaving it, when this worker runs it or another holds it live. A lease
    written by a clock that ran ahead is not live (:func:`paycore.written_ahead.lease_ahead`)."""
    if engine.has_inflight(flow.id) or engine.running(flow.id):
        return False  # this worker holds it: a new version would refuse its step
    if engine.leased_elsewhere(flow, u.now) and not written_ahead.lease_ahead(
        engine.config, flow, u.now
    ):
        return False
    lease_until = u.now + engine.config.lease_ms
    next_run_at = min(flow.next_run_at, u.now)
    u.save(
        s.FLOWS,
        flow,
        lease_owner=engine.worker_id,
        lease_until=lease_until,
        next_run_at=next_run_at,
    )
    return True


def reconcile(engine: Engine) -> list[str]:
    """A reconciler run (:func:`reconcile_counted`): the flows it started, then the
    flows it revived, as one list.

    Raises:
        PaycoreError: listing the provider's intents failed (the next run asks again).
    """
    run = reconcile_counted(engine)
    return [*run.started, *run.revived]


@attrs.frozen
class Reconciled:
    """What a reconciler run started: orphan flows (new or reopened), and orphan and
    refund flows it revived."""

    started: tuple[str, ...] = ()
    revived: tuple[str, ...] = ()


def reconcile_counted(engine: Engine) -> Reconciled:
    """Match every recent provider intent to a local payment (T3): a run of the
    ``reconcile`` job flow (:mod:`paycore.flows.reconcile`), then of the jobs it starts.

    Walks the provider's intents of the last ``reconcile_window_ms`` (further back
    after a gap: to where its last whole pass began) a batch per run, going on from
    where the last run stopped (a durable cursor), so every intent is reached however
    many there are. Starts an orphan flow for an
    intent this installation made that no payment owns (cancel it, or refund what
    it took) with an alert, and re-synchronizes payments whose status differs from
    the provider's (with a batch of processing ones). An intent without this
    installation's identity (another store's, an invoice, a payment link, a previous
    system's) is reported once (``foreign_intent``, an orphan case with action
    ``foreign``) and never changed; a recorded intent that is not its payment's is
    reported (``intent_mismatch``) and not synchronized. Orphan cases waiting for the
    bank are asked about again and reopened once settled; orphan, refund and webhook
    flows dead of an outage are revived (:func:`paycore.flows.reconcile._revive_dead`).
    Returns the flows to run next: the orphan flows started (new, reopened), then the
    flows revived, each counted apart.

    Raises:
        PaycoreError: listing the provider's intents failed (the next run asks again).
    """
    flow = finish_job(engine, start_reconcile(engine))
    result = flow.result or {}
    started = found(flow)
    failed: Flow | None = None  # a follower whose reads failed: raised once all ran
    for fid in result.get("follow", []):
        follower = finish_job(engine, fid)
        if follower.kind == orphans.REOPEN.kind:
            started += found(follower)
        failed = follower if run_failed(follower) else failed
    if failed is not None:
        reported(failed)
    return Reconciled(tuple(started), tuple(result.get("revived", [])))


def start_reconcile(engine: Engine) -> str:
    """Start (or find the active) run of the reconciler and return its flow id."""
    fid = _start(
        engine,
        reconcile_flow.KIND,
        lambda u, lease: reconcile_flow.begin(u, engine.config, **lease),
    )
    assert fid is not None, "a reconciler run always starts"
    return fid


def sync_pending_refunds(engine: Engine) -> int:
    """Ask the provider about refunds still pending, about refunds that succeeded within
    the reconcile window, and about succeeded refunds due for a follow-up at their set
    ages (a bank may still fail them, and that webhook can be lost too): a run of the
    ``refund_sync`` job flow (:data:`paycore.flows.job_sync.REFUND_SYNC`).
    Returns how many refunds changed."""
    fid = start_refund_sync(engine)
    return 0 if fid is None else len(reported(finish_job(engine, fid)))


def start_refund_sync(engine: Engine) -> str | None:
    """Start (or find the active) run of the refund sync; None: nothing to ask about."""
    return _start(
        engine,
        REFUND_SYNC.kind,
        lambda u, lease: REFUND_SYNC.start(
            u, refund_batch(u, engine.config), refund_sync_data(engine.config), **lease
        ),
    )


def _start(
    engine: Engine, kind: str, begin: Callable[[Unit, dict[str, Any]], str | None]
) -> str | None:
    """The active flow of job ``kind``, or the one ``begin`` starts (None: none needed)."""

    def body(u: Unit) -> str | None:
        active = active_job(u, kind)
        if active is not None:
            return active.id
        lease = {"owner": engine.worker_id, "lease_until": u.now + engine.config.lease_ms}
        return begin(u, lease)

    fid: str | None = engine.transact(body)
    return fid


def finish_job(engine: Engine, flow_id: str) -> Flow:
    """Run a job flow to its end (however many steps its batch takes) and return it.

    A run another instance holds the lease of is returned still active, untouched: that
    instance runs it (its result is none of this one's).

    Raises:
        PaycoreError: the error the run ended with (the reconciler's listing failed).
        FlowPending: the run must wait for a retry (an answer could not be applied: a
            store conflict, a bug). Recovery goes on with it and the job's next start
            finds it, but this run of the job failed (``job_health`` counts it).
    """
    for _ in range(_MAX_RUNS):
        try:
            flow = engine.run(flow_id)
        except FlowPending:
            current = engine.load(flow_id)
            if current is None or current.status is not FlowStatus.ACTIVE:
                raise
            if engine.leased_elsewhere(current, engine.clock.now()):
                return current
            if current.next_run_at > engine.clock.now():
                raise  # waits for its retry: a failed run of the job
            continue  # only the run's step bound was reached: go on
        if flow.status is FlowStatus.FAILED:
            result = dict(flow.result or {})
            code = result.pop("error", "flow_error")
            message = result.pop("message", f"job {flow_id} failed")
            raise error_class(code)(message, flow_id=flow_id)
        return flow
    return engine.load(flow_id) or _gone(flow_id)


def _gone(flow_id: str) -> Flow:
    raise FlowPending(f"job {flow_id} vanished", flow_id=flow_id)


#: The job-health name of the outbox job's sweep for times written ahead.
OUTBOX_SWEEP = "outbox_sweep"


def dispatch_outbox(engine: Engine, notifier: Notifier) -> int:
    """The outbox job: send the backlog of queued notifications, a batch per run.

    Returns how many were sent. See :func:`paycore.outbox.dispatch_backlog`. Messages a
    clock that ran ahead queued or put off are brought back first, at most once per
    ``lease_ms`` (:func:`paycore.written_ahead.outbox`), in a transaction of their own.
    That sweep's failure is its own (:data:`OUTBOX_SWEEP` in ``job_health``, then
    ``job_failed``): nothing of it was kept, the next run tries again, and the backlog is
    sent and counted all the same. It is never the sending's failure: an alert saying the
    outbox job failed while messages went out would invite sending them again by hand.
    """

    def ahead(u: Unit) -> None:
        found = written_ahead.outbox(u, engine.config)
        written_ahead.report(u, engine.config, "outbox", found)
        job_health.succeeded(u, name=OUTBOX_SWEEP)

    try:
        engine.transact(ahead)
    except Exception as exc:  # whatever stopped the sweep, it is recorded; the backlog is sent
        job_health.failed(engine, OUTBOX_SWEEP, exc)
    return outbox.dispatch_backlog(engine, notifier)


def find_external_refunds(engine: Engine) -> int:
    """Record refunds made outside paycore whose webhook was lost (issue: a dashboard
    refund left the order paid): a run of the ``external_refunds`` job flow over a batch
    of recent succeeded payments, from a durable cursor (:data:`paycore.flows.external.SCAN`).
    Returns how many refunds were recorded."""
    fid = start_external_refunds(engine)
    return 0 if fid is None else len(reported(finish_job(engine, fid)))


def start_external_refunds(engine: Engine) -> str | None:
    """Start (or find the active) run of the external-refund scan; None: nothing to ask."""
    return _start(
        engine,
        external.SCAN.kind,
        lambda u, lease: external.start_scan(u, engine.config, **lease),
    )
