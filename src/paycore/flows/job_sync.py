"""Sync jobs: ask the provider about payments and refunds whose truth may have moved.

Bank debits can take days, longer than webhooks are retried, and a webhook can be
lost: the reconciler asks about each processing payment (and each one it found out
of step), and the refund sync about each pending refund and each refund that
succeeded within the reconcile window (a bank may still fail it). Each is a
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


def refund_batch(u: Unit, config: Config) -> list[str]:
    """Refunds still pending, and those that succeeded within the reconcile window, at
    most ``job_batch`` going on after the last run's, so refunds the bank keeps pending
    never hide the ones behind them. One cursor over both, each read a batch at a time
    past it (:func:`paycore.claims.take_read`), never the whole window."""
    windows = (
        (RefundStatus.PENDING, 0),
        (RefundStatus.SUCCEEDED, u.now - config.reconcile_window_ms),
    )

    def read(after: str, n: int) -> list[Refund]:
        rows = [
            row
            for status, since in windows
            for row in u.find_since(
                s.REFUNDS, "status", status, "created_at", since, after=after, limit=n
            )
        ]
        return sorted(rows, key=_key)[:n]

    return [r.id for r in claims.take_read(u, "refund_sync", read, _key, config.job_batch)]


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
    return [current.id] if apply_refund(u, current, view) is not current else []


REFUND_SYNC: BatchJob[RefundView] = BatchJob(
    "refund_sync",
    RefundSyncStep.ASK,
    "retrieve_refund",
    _retrieve_refund,
    _apply_refund,
    _refund_seen,
)
