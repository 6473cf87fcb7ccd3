"""Background jobs: janitor, recovery worker, reconciler, outbox dispatcher.

Each job is bounded per run (``Config.job_batch``) and idempotent: running it
twice, or on two instances at once, does no effect twice, because every
effect goes through a flow with a unique id and deterministic provider keys.
Jobs *start* flows; :class:`paycore.service.PaymentService` runs them to
completion, and the harness steps them one at a time instead.
"""

from __future__ import annotations

from functools import partial

from paycore import schema as s
from paycore.errors import ProviderError
from paycore.flows.engine import Engine, create_flow
from paycore.flows.payments import begin_cancel
from paycore.flows.sync import CANCELABLE, apply_intent, apply_refund, reservations_of
from paycore.machines import RESERVATION
from paycore.ports import IntentView, Notifier, RefundView
from paycore.records import OrphanCase, Payment
from paycore.status import (
    FlowStatus,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ReservationStatus,
)
from paycore.unit import Unit


def _busy(u: Unit, payment: Payment) -> bool:
    if payment.lock_owner is None:
        return False
    flow = u.get(s.FLOWS, payment.lock_owner)
    return flow is not None and flow.status is FlowStatus.ACTIVE


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
            payment = u.get(s.PAYMENTS, order.payment_id)
            assert payment is not None
            if payment.status is PaymentStatus.PROCESSING:
                _maybe_unhold(u, engine.config.processing_hold_ms, order.expires_at, order.id)
                continue
            if _busy(u, payment) or payment.status is PaymentStatus.CREATING:
                continue
            fid = begin_cancel(u, payment.id, None, 0, reason="expired")
            if fid is not None:
                started.append(fid)
        return started

    started: list[str] = engine.transact(body)
    return started


def _maybe_unhold(u: Unit, hold_ms: int | None, expired_at: int, order_id: str) -> None:
    """Put a processing payment's stock back on sale once the shop's patience ran out."""
    if hold_ms is None or u.now < expired_at + hold_ms:
        return
    for r in reservations_of(u, order_id):
        if r.status is ReservationStatus.HELD:
            u.move(s.RESERVATIONS, r, RESERVATION, "expire")
            u.change_stock(r.sku, held=-r.quantity)


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

    Synchronizes statuses that webhooks missed, starts an orphan flow for an
    intent no payment owns (cancel it, or refund it if it took money), and
    raises an alert for each orphan found. Returns the orphan flows started.
    """
    started: list[str] = []
    after: str | None = None
    since = engine.clock.now() - engine.config.reconcile_window_ms
    seen = 0
    while seen < engine.config.job_batch:
        page = engine.provider.list_intents(created_after=since, limit=100, starting_after=after)
        if not page:
            break
        for view in page:
            fid = engine.transact(partial(_reconcile_one, engine, view=view))
            if fid is not None:
                started.append(fid)
        seen += len(page)
        after = page[-1].id
    return started


def _reconcile_one(engine: Engine, u: Unit, *, view: IntentView) -> str | None:
    owned = u.find(s.PAYMENTS, "provider_intent_id", view.id)
    if owned:
        if not _busy(u, owned[0]):
            apply_intent(u, owned[0], view)
        return None
    claimed = u.get(s.PAYMENTS, view.metadata.get("payment_id", ""))
    if claimed is not None and claimed.status is PaymentStatus.CREATING and _busy(u, claimed):
        return None  # its checkout flow will adopt or cancel it
    holds_money = view.status == "succeeded" or view.status == "processing"
    if view.status not in CANCELABLE and not holds_money:
        return None  # canceled: harmless
    if u.get(s.ORPHANS, view.id) is not None:
        return None
    u.create(
        s.ORPHANS,
        OrphanCase(
            provider_intent_id=view.id,
            found_at=u.now,
            provider_status=view.status,
            action="pending",
            amount=view.amount,
            checkout_session_id=view.metadata.get("checkout_session_id"),
        ),
    )
    fid = f"orphan:{view.id}"
    create_flow(u, fid, "orphan", "look", intent_id=view.id)
    u.on_commit.append(
        lambda: engine.alerts.alert(
            "orphan_intent",
            f"provider intent {view.id} ({view.status}) has no local payment; "
            "it will be canceled or refunded",
            intent_id=view.id,
        )
    )
    return fid


def sync_pending_refunds(engine: Engine) -> int:
    """Ask the provider about refunds still pending (a missed webhook)."""
    pending = engine.transact(lambda u: u.find(s.REFUNDS, "status", RefundStatus.PENDING))
    changed = 0
    for refund in pending[: engine.config.job_batch]:
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
    """Send queued notifications, after their transaction committed. Returns how many."""
    engine.outbox_pending = False
    queued = engine.transact(lambda u: u.find(s.OUTBOX, "sent", False))
    sent = 0
    for msg in queued[: engine.config.job_batch]:
        try:
            notifier.send(msg)
        except Exception as exc:  # a notifier failure must not stop the others
            engine.transact(partial(_bump, msg_id=msg.id))
            if msg.attempts + 1 >= engine.config.max_attempts:
                engine.alerts.alert(
                    "notification_failing",
                    f"notification {msg.id} failed {msg.attempts + 1} times: {type(exc).__name__}",
                    message_id=msg.id,
                )
            continue
        engine.transact(partial(_mark_sent, msg_id=msg.id))
        sent += 1
    return sent


def _mark_sent(u: Unit, *, msg_id: str) -> None:
    msg = u.get(s.OUTBOX, msg_id)
    if msg is not None and not msg.sent:
        u.save(s.OUTBOX, msg, sent=True, attempts=msg.attempts + 1)


def _bump(u: Unit, *, msg_id: str) -> None:
    msg = u.get(s.OUTBOX, msg_id)
    if msg is not None:
        u.save(s.OUTBOX, msg, attempts=msg.attempts + 1)
