"""Background jobs: janitor, recovery worker, reconciler, outbox dispatcher.

Each job is bounded per run (``Config.job_batch``) and idempotent: running it
twice, or on two instances at once, does no effect twice, because every
effect goes through a flow with a unique id and deterministic provider keys.
Jobs *start* flows; :class:`paycore.service.PaymentService` runs them to
completion, and the harness steps them one at a time instead.
"""

from __future__ import annotations

from functools import partial

from paycore import batches, operations, outbox
from paycore import schema as s
from paycore.errors import ProviderError, ProviderNotFound
from paycore.flows.engine import Engine, create_flow
from paycore.flows.external import scan_external_refunds
from paycore.flows.identity import installation_id, intent_mismatch, is_ours
from paycore.flows.orphans import intent_state
from paycore.flows.params import OrphanParams
from paycore.flows.payments import begin_cancel
from paycore.flows.refunds import apply_refund
from paycore.flows.steps import OrphanStep
from paycore.flows.sync import (
    CANCELABLE,
    LOCAL_STATUS,
    apply_intent,
    claimed,
    order_of,
    release_held,
)
from paycore.ports import IntentView, Notifier, RefundView
from paycore.records import Cursor, Order, OrphanCase, Refund
from paycore.status import (
    FlowStatus,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
)
from paycore.unit import Unit

#: The action of an orphan case for an intent that is not paycore's: reported only.
FOREIGN = "foreign"


def janitor(engine: Engine) -> list[str]:
    """Start a cancel flow for every pending order whose reservation time ran out.

    Stock is never released here: the cancel flow cancels the intent at the
    provider first and releases stock only once the payment can no longer
    succeed (S14, S18). A processing payment keeps its stock until it settles.
    """

    def body(u: Unit) -> list[str]:
        started: list[str] = []
        for order in u.find(s.ORDERS, "status", OrderStatus.PENDING):
            if order.expires_at > u.now or len(started) >= engine.config.job_batch:
                continue
            fid = _end_expired(engine, u, order)
            if fid is not None:
                started.append(fid)
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
    return begin_cancel(u, payment.id, None, 0, reason="expired")


def _compensate_checkout(engine: Engine, u: Unit, flow_id: str | None) -> str | None:
    """Restart the compensation of a checkout the provider's absence killed (one that
    died of strikes waits for an operator: it would only fail again)."""
    flow = u.get(s.FLOWS, flow_id) if flow_id is not None else None
    if flow is None or flow.kind != "checkout" or not operations.died_of_outage(flow):
        return None
    if flow.data.get("compensating"):
        return operations.revive(u, flow.id, "the janitor").id
    return operations.abandon(u, engine.defs, flow.id, "the janitor").id


def _maybe_unhold(u: Unit, hold_ms: int | None, expired_at: int, order_id: str) -> None:
    """Put a processing payment's stock back on sale once the shop's patience ran out."""
    if hold_ms is None or u.now < expired_at + hold_ms:
        return
    release_held(u, order_id, "expire")


def due_flows(engine: Engine) -> list[str]:
    """Active flows whose retry time has come and whose worker's lease has lapsed."""

    def body(u: Unit) -> list[str]:
        due = []
        for flow in u.find(s.FLOWS, "status", FlowStatus.ACTIVE):
            if flow.next_run_at > u.now or engine.has_inflight(flow.id):
                continue
            if flow.lease_owner not in (None, engine.worker_id) and flow.lease_until > u.now:
                continue
            due.append(flow.id)
            if len(due) >= engine.config.job_batch:
                break
        return due

    due: list[str] = engine.transact(body)
    return due


def reconcile(engine: Engine) -> list[str]:
    """Match every recent provider intent to a local payment (T3).

    Walks the provider's intents of the last ``reconcile_window_ms`` a batch per
    run, going on from where the last run stopped (a durable cursor), so every
    intent is reached however many there are. Starts an orphan flow for an
    intent this installation made that no payment owns (cancel it, or refund what
    it took) with an alert, and re-synchronizes payments whose status differs from
    the provider's. An intent without this installation's identity (another store's,
    an invoice, a payment link, a previous system's) is reported once
    (``foreign_intent``, an orphan case with action ``foreign``) and never changed;
    a recorded intent that is not its payment's is reported (``intent_mismatch``)
    and not synchronized. Returns the orphan flows started.
    """
    started: list[str] = []
    stale: list[str] = []
    since = engine.clock.now() - engine.config.reconcile_window_ms
    cursor = engine.transact(lambda u: u.get(s.CURSORS, "reconcile"))
    views, end = _window_batch(engine, since, cursor.value if cursor is not None else None)
    for view in views:
        found = engine.transact(partial(_reconcile_one, engine, view=view))
        if found is not None:
            (started if found.startswith("orphan:") else stale).append(found)
    engine.transact(partial(_save_cursor, name="reconcile", value=end))
    for payment_id in stale + processing_payments(engine):
        sync_payment(engine, payment_id)
    revived: list[str] = engine.transact(partial(_revive_orphans, limit=engine.config.job_batch))
    return started + _reopen_waiting_orphans(engine) + revived


def _window_batch(
    engine: Engine, since: int, start: str | None
) -> tuple[list[IntentView], str | None]:
    """Up to ``job_batch`` intents of the window from after ``start``, wrapping around
    once (as ``batches.take`` does), and the cursor for the next run: with no more
    intents than a batch a run takes them all and ends where it began."""
    views: list[IntentView] = []
    after, wrapped = start, start is None
    while len(views) < engine.config.job_batch:
        try:
            page = engine.provider.list_intents(
                created_after=since,
                limit=min(100, engine.config.job_batch - len(views)),
                starting_after=after,
            )
        except ProviderNotFound:  # the cursor's intent left the window: start over
            page, after = [], None
        if not page:
            if wrapped:
                break
            after, wrapped = None, True
            continue
        for view in page:
            views.append(view)
            if wrapped and view.id == start:
                return views, start  # around once: this run ends where it began
        after = page[-1].id
    return views, views[-1].id if views else None


def _revive_orphans(u: Unit, *, limit: int) -> list[str]:
    """Orphan flows the provider's absence killed: the money is still to be returned."""
    revived: list[str] = []
    for flow in u.find(s.FLOWS, "status", FlowStatus.DEAD):
        if len(revived) >= limit:
            break
        if flow.kind == "orphan" and operations.died_of_outage(flow):
            revived.append(operations.revive(u, flow.id, "the reconciler").id)
    return revived


def _reopen_waiting_orphans(engine: Engine) -> list[str]:
    """Orphans waiting for the bank (a debit still processing, a refund not settled)
    when last looked at: once it decided (however long after, past the reconcile window
    too), a new flow handles the case."""
    waiting = engine.transact(
        lambda u: batches.take(
            u,
            "waiting_orphans",
            u.find(s.ORPHANS, "action", "waiting"),
            key=lambda c: c.provider_intent_id,
            limit=engine.config.job_batch,
        )
    )
    started = []
    for case in waiting:
        try:
            state = intent_state(engine.provider, case.provider_intent_id)
        except ProviderError:
            continue  # asked again on the next run
        if state.settled:
            fid = engine.transact(partial(_reopen, intent_id=case.provider_intent_id))
            if fid is not None:
                started.append(fid)
    return started


def _reopen(u: Unit, *, intent_id: str) -> str | None:
    case = u.get(s.ORPHANS, intent_id)
    if case is None or case.action != "waiting":
        return None  # another run reopened it
    case = u.save(s.ORPHANS, case, action="pending")
    fid = f"orphan:{intent_id}:{case.version}"
    create_flow(u, fid, "orphan", OrphanStep.LOOK, OrphanParams(intent_id))
    return fid


def _save_cursor(u: Unit, *, name: str, value: str | None) -> None:
    current = u.get(s.CURSORS, name)
    if current is None:
        u.create(s.CURSORS, Cursor(name, value))
    elif current.value != value:
        u.save(s.CURSORS, current, value=value)


def processing_payments(engine: Engine) -> list[str]:
    """Payments the provider is still processing: bank debits can take days, longer
    than webhooks are retried, so the reconciler asks about each one, a batch per run
    going on from the last one's."""
    rows = engine.transact(
        lambda u: batches.take(
            u,
            "processing_payments",
            u.find(s.PAYMENTS, "status", PaymentStatus.PROCESSING),
            key=lambda p: p.id,
            limit=engine.config.job_batch,
        )
    )
    return [p.id for p in rows]


def sync_payment(engine: Engine, payment_id: str) -> bool:
    """Ask the provider for a payment's intent and record it, unless the payment changed
    meanwhile (then a newer truth was recorded, and this answer may be older)."""
    payment = engine.transact(lambda u: u.get(s.PAYMENTS, payment_id))
    if payment is None or payment.provider_intent_id is None:
        return False
    try:
        view = engine.provider.retrieve_intent(payment.provider_intent_id)
    except ProviderError:
        return False  # the next run asks again

    def apply(u: Unit) -> bool:
        current = u.get(s.PAYMENTS, payment_id)
        if current is None or current.version != payment.version or claimed(u, current):
            return False
        return apply_intent(u, current, view) is not current

    return bool(engine.transact(apply))


def _reconcile_one(engine: Engine, u: Unit, *, view: IntentView) -> str | None:
    """An orphan flow id, a payment id to re-sync, or None."""
    installation = installation_id(u)
    owned = u.find(s.PAYMENTS, "provider_intent_id", view.id)
    if owned:
        payment = owned[0]
        why = intent_mismatch(view, payment, order_of(u, payment), installation)
        if why is not None:
            _report_mismatch(u, view, payment.id, why)
            return None  # a human decides: neither the intent nor the payment is changed
        agrees = LOCAL_STATUS[view.status] is payment.status
        return None if agrees or claimed(u, payment) else payment.id
    if not is_ours(view.metadata, installation):
        _report_foreign(u, view)
        return None  # not paycore's (another store, an invoice, a link): never changed
    named = u.get(s.PAYMENTS, view.metadata.get("payment_id", ""))
    if named is not None and named.status is PaymentStatus.CREATING and claimed(u, named):
        return None  # its checkout flow will adopt or cancel it
    holds_money = view.status in ("succeeded", "processing")
    if view.status not in CANCELABLE and not holds_money:
        return None  # canceled: harmless
    if u.get(s.ORPHANS, view.id) is not None:
        return None
    _open_case(u, view, "pending", view.metadata.get("checkout_session_id"))
    fid = f"orphan:{view.id}"
    create_flow(u, fid, "orphan", OrphanStep.LOOK, OrphanParams(view.id))
    u.alert(
        "orphan_intent",
        view.id,
        f"provider intent {view.id} ({view.status}) has no local payment; "
        "it will be canceled or refunded",
        intent_id=view.id,
    )
    return fid


def _open_case(u: Unit, view: IntentView, action: str, session: str | None = None) -> None:
    """Record the case of an intent no payment of this store records."""
    u.create(
        s.ORPHANS,
        OrphanCase(
            provider_intent_id=view.id,
            found_at=u.now,
            provider_status=view.status,
            action=action,
            amount=view.amount,
            checkout_session_id=session,
        ),
    )


def _report_foreign(u: Unit, view: IntentView) -> None:
    """Record, once, that an intent on the account is not this installation's."""
    if view.status == "canceled" or u.get(s.ORPHANS, view.id) is not None:
        return
    _open_case(u, view, FOREIGN)  # its metadata is someone else's: no session recorded
    u.alert(
        "foreign_intent",
        view.id,
        f"provider intent {view.id} ({view.status}, {view.amount} {view.currency}) was not "
        "made by this paycore installation; it is left as it is: check who made it",
        intent_id=view.id,
    )


def _report_mismatch(u: Unit, view: IntentView, payment_id: str, why: str) -> None:
    """Alert once per intent: every reconciler pass meets it again until a human acted."""
    current = u.get(s.ALERTS, f"intent_mismatch:{view.id}")
    if current is not None and current.open:
        return
    u.alert(
        "intent_mismatch",
        view.id,
        f"payment {payment_id} records provider intent {view.id}, which is not its intent "
        f"({why}); nothing was changed: check the payment and the intent",
        intent_id=view.id,
        payment_id=payment_id,
    )


def sync_pending_refunds(engine: Engine) -> int:
    """Ask the provider about refunds still pending, and about refunds that succeeded
    within the reconcile window (a bank may still fail them, and that webhook can be lost
    too). At most ``job_batch`` per run, going on after the last run's batch, so
    refunds the bank keeps pending never hide the ones behind them."""

    def due(u: Unit) -> list[Refund]:
        since = u.now - engine.config.reconcile_window_ms
        recent = [
            r for r in u.find(s.REFUNDS, "status", RefundStatus.SUCCEEDED) if r.created_at >= since
        ]
        rows = [*u.find(s.REFUNDS, "status", RefundStatus.PENDING), *recent]
        return batches.take(
            u, "refund_sync", rows, key=lambda r: r.id, limit=engine.config.job_batch
        )

    changed = 0
    for refund in engine.transact(due):
        if refund.provider_refund_id is None:
            continue  # its refund flow has not recorded the call yet; recovery resumes it
        try:
            view = engine.provider.retrieve_refund(refund.provider_refund_id)
        except ProviderError:
            continue  # asked again on the next run
        changed += int(engine.transact(partial(_sync_refund, refund_id=refund.id, view=view)))
    return changed


def _sync_refund(u: Unit, *, refund_id: str, view: RefundView) -> bool:
    current = u.get(s.REFUNDS, refund_id)
    assert current is not None
    return apply_refund(u, current, view) is not current


def dispatch_outbox(engine: Engine, notifier: Notifier) -> int:
    """The outbox job: send the backlog of queued notifications, a batch per run.

    Returns how many were sent. See :func:`paycore.outbox.dispatch_backlog`.
    """
    return outbox.dispatch_backlog(engine, notifier)


def find_external_refunds(engine: Engine) -> int:
    """Record refunds made outside paycore whose webhook was lost (issue: a dashboard
    refund left the order paid). A batch of recent succeeded payments per run, from a
    durable cursor; see :func:`paycore.flows.external.scan_external_refunds`."""
    return scan_external_refunds(engine)
