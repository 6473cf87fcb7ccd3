"""Sync jobs: ask the provider about payments and refunds whose truth may have moved.

Bank debits can take days, longer than webhooks are retried, and a webhook can be
lost: the reconciler asks about each processing payment (and each one it found out
of step), and the refund sync about each pending refund, each refund that succeeded
within the reconcile window, and each succeeded refund at its follow-up ages (a bank
may still fail it days later; :func:`follow_up_ages`). Each is a
:class:`~paycore.flows.jobflow.BatchJob`: a batch chosen when the run starts (going
on after the last run's, :func:`paycore.claims.take`), one provider read per row,
each answer applied in its own transaction. A provider error leaves the row for the
next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paycore import claims
from paycore import schema as s
from paycore.config import Config
from paycore.flows.jobflow import BatchJob
from paycore.flows.refunds import apply_refund
from paycore.flows.steps import PaymentSyncStep, RefundSyncStep
from paycore.flows.sync import apply_intent, claimed
from paycore.ports import IntentView, PaymentProvider, RefundView
from paycore.records import Flow, Refund
from paycore.status import PaymentStatus, RefundStatus
from paycore.unit import Unit

# --- payments ------------------------------------------------------------------------


def processing_batch(u: Unit, limit: int) -> list[str]:
    """Payments the provider is still processing, a batch going on from the last one's."""
    rows = claims.take(
        u, "processing_payments", s.PAYMENTS, "status", PaymentStatus.PROCESSING, limit
    )
    return [p.id for p in rows]


def _payment_seen(u: Unit, payment_id: str) -> Mapping[str, Any] | None:
    payment = u.get(s.PAYMENTS, payment_id)
    if payment is None or payment.provider_intent_id is None:
        return None
    return {"intent": payment.provider_intent_id, "version": payment.version}


def _retrieve(p: PaymentProvider, item: Mapping[str, Any]) -> IntentView:
    return p.retrieve_intent(item["intent"])


def _apply_payment(u: Unit, flow: Flow, item: Mapping[str, Any], view: IntentView) -> list[str]:
    """Record the answer unless the payment changed since it was read before the call
    (then a newer truth was recorded, and this answer may be older)."""
    current = u.get(s.PAYMENTS, item["key"])
    if current is None or current.version != item["version"] or claimed(u, current):
        return []
    return [current.id] if apply_intent(u, current, view) is not current else []


PAYMENT_SYNC: BatchJob[IntentView] = BatchJob(
    "payment_sync",
    PaymentSyncStep.ASK,
    "retrieve_intent",
    _retrieve,
    _apply_payment,
    _payment_seen,
)

# --- refunds -------------------------------------------------------------------------


#: A ``follow_up_at`` no moment reaches: the refund is followed no more.
NEVER = 2**63 - 1
DAY = 24 * 3_600_000
#: The ages (after the refund was made) at which a succeeded refund is asked about again,
#: before ``Config.refund_follow_up_ms``, which is the last. A card refund can turn from
#: ``succeeded`` to ``failed`` after the fact: Stripe's refund object documents the
#: ``failed`` status, a ``failure_reason`` (``lost_or_stolen_card``,
#: ``expired_or_canceled_card``, ``unknown``) and a ``failure_balance_transaction`` that
#: returns the money to the balance (docs.stripe.com/api/refunds/object), reported by a
#: ``charge.refund.updated`` event whose previous status is ``succeeded``. How late is not
#: documented there: these ages are our bound, not Stripe's (docs/operations.md).
FOLLOW_UP_AGES = (DAY, 7 * DAY)


def follow_up_ages(config: Config) -> tuple[int, ...]:
    """The ages at which a succeeded refund is asked about again: 1 and 7 days, those
    below ``refund_follow_up_ms``, then ``refund_follow_up_ms`` itself."""
    last = config.refund_follow_up_ms
    return (*(age for age in FOLLOW_UP_AGES if age < last), last)


def next_follow_up(created_at: int, now: int, ages: tuple[int, ...] | list[int]) -> int:
    """When a refund made at ``created_at`` and asked about at ``now`` is next due: its
    first follow-up age still ahead, or :data:`NEVER` after the last."""
    return next((created_at + age for age in ages if created_at + age > now), NEVER)


def refund_batch(u: Unit, config: Config) -> list[str]:
    """Refunds still pending, those that succeeded within the reconcile window, and the
    succeeded ones due for a follow-up (``Refund.follow_up_at``, through its index: the
    due ones only, never every refund of the last weeks); at most ``job_batch`` going on
    after the last run's, so refunds the bank keeps pending never hide the ones behind
    them. One cursor over all, each read a batch at a time past it
    (:func:`paycore.claims.take_read`), never the whole window."""
    since = u.now - config.reconcile_window_ms
    pending, succeeded = RefundStatus.PENDING, RefundStatus.SUCCEEDED

    def read(after: str, n: int) -> list[Refund]:
        rows = {
            row.id: row
            for row in (
                *u.find_since(s.REFUNDS, "status", pending, "created_at", 0, after=after, limit=n),
                *u.find_since(
                    s.REFUNDS, "status", succeeded, "created_at", since, after=after, limit=n
                ),
                *u.claim(
                    s.REFUNDS, "status", succeeded, n, due=("follow_up_at", u.now), after=after
                ),
            )
        }
        return sorted(rows.values(), key=_key)[:n]

    return [r.id for r in claims.take_read(u, "refund_sync", read, _key, config.job_batch)]


def refund_sync_data(config: Config) -> dict[str, Any]:
    """What a refund sync run keeps in its flow's data: the follow-up ages it schedules
    the refunds it asked about by (the config of the instance that started it)."""
    return {"follow_ups": list(follow_up_ages(config))}


def _key(refund: Refund) -> str:
    return refund.id


def _refund_seen(u: Unit, refund_id: str) -> Mapping[str, Any] | None:
    refund = u.get(s.REFUNDS, refund_id)
    if refund is None or refund.provider_refund_id is None:
        return None  # its refund flow has not recorded the call yet; recovery resumes it
    return {"provider_refund_id": refund.provider_refund_id}


def _retrieve_refund(p: PaymentProvider, item: Mapping[str, Any]) -> RefundView:
    return p.retrieve_refund(item["provider_refund_id"])


def _apply_refund(u: Unit, flow: Flow, item: Mapping[str, Any], view: RefundView) -> list[str]:
    current = u.get(s.REFUNDS, item["key"])
    if current is None:
        return []
    changed = apply_refund(u, current, view) is not current
    now = u.get(s.REFUNDS, current.id)
    if now is not None and now.status is RefundStatus.SUCCEEDED:
        # Still succeeded: due again at its next follow-up age (a run started before
        # the ages were kept in its data uses the defaults).
        ages = flow.data.get("follow_ups") or follow_up_ages(Config())
        due = next_follow_up(now.created_at, u.now, ages)
        if due != now.follow_up_at:
            u.save(s.REFUNDS, now, follow_up_at=due)
    return [current.id] if changed else []


REFUND_SYNC: BatchJob[RefundView] = BatchJob(
    "refund_sync",
    RefundSyncStep.ASK,
    "retrieve_refund",
    _retrieve_refund,
    _apply_refund,
    _refund_seen,
)
