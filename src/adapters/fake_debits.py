"""The fake provider's bank debits: a payment that stays ``processing`` until the bank
settles it, refunds made while it does, and the rare debit Stripe cancels.

Stripe's behaviour, with its sources:

- A bank debit (SEPA Direct Debit) is a "delayed notification payment method": the
  PaymentIntent is ``processing`` until the debit succeeds (``succeeded``) or fails
  (back to ``requires_payment_method``) (docs.stripe.com/payments/sepa-debit
  /accept-a-payment; the test methods are in :mod:`.fake_methods`).
- A refund of a payment that has not settled yet is taken: it is ``pending`` with
  ``pending_reason`` ``charge_pending``, "The payment being refunded hasn't settled yet"
  (docs.stripe.com/api/refunds/object, ``pending_reason``; docs.stripe.com/changelog
  /basil/2025-04-30/refund-pending-reason). It goes on once the payment settles.
  Unsourced: what becomes of it when the debit fails or is canceled; with no payment to
  refund, the fake cancels it (``canceled``, its amount held no more).
- A ``processing`` intent can be canceled "in rare cases" (docs.stripe.com/api
  /payment_intents/cancel; docs.stripe.com/payments/paymentintents/lifecycle). The
  fake's far side does it (:meth:`FakeDebits.cancel_while_processing`), with
  ``cancellation_reason`` ``automatic`` (unsourced: Stripe does not say which reason it
  gives then); paycore's own cancel of a processing intent stays refused.
"""

from __future__ import annotations

import attrs

from paycore.ports import REFUND_LIVE, IntentView

from .fake_ledger import FakeLedger, StoredIntent
from .fake_methods import CANCELED_BY_STRIPE, DEBIT_FAILED, debit_outcome

#: ``pending_reason`` of a refund whose payment has not settled yet.
CHARGE_PENDING = "charge_pending"


class FakeDebits(FakeLedger):
    """Settling, failing and canceling a processing payment, and its refunds meanwhile."""

    def settle(self, intent_id: str, *, success: bool | None = None) -> IntentView:
        """The bank finishing a processing payment: as ``success`` says, or (None) as its
        test method does (:data:`fake_methods.DEBIT_SUCCEEDS`). Refunds made while it
        was processing go on (settled, or pending as any refund) or, when the debit
        failed, are canceled."""
        with self._lock:
            it = self._expect(intent_id, {"processing"}, "settle")
            if debit_outcome(it.payment_method, success):
                view = self._move(it, "succeeded")
                self._refunds_after_charge(intent_id, settled=True)
                return view
            view = self._fail(it, DEBIT_FAILED)
            self._refunds_after_charge(intent_id, settled=False)
            return view

    def cancel_while_processing(self, intent_id: str) -> IntentView:
        """Stripe canceling a processing payment itself, which it does in rare cases."""
        with self._lock:
            it = self._expect(intent_id, {"processing"}, "cancel")
            view = self._move(it, "canceled", CANCELED_BY_STRIPE)
            self._refunds_after_charge(intent_id, settled=False)
            return view

    def _unsettled_refund(self, it: StoredIntent, status: str) -> tuple[str, str | None]:
        """The status and pending reason of a new refund of ``it`` (whose ``status`` is
        the intent's): pending on the charge while the payment is processing."""
        if status == "processing":
            return "pending", CHARGE_PENDING
        return ("succeeded" if self.refunds_settle_immediately else "pending"), None

    def _refunds_after_charge(self, intent_id: str, *, settled: bool) -> None:
        for rf in list(self._refunds.values()):
            if rf.intent_id != intent_id or rf.pending_reason != CHARGE_PENDING:
                continue
            if not settled:
                status = "canceled"
            else:
                status = "succeeded" if self.refunds_settle_immediately else "pending"
            new = self._refunds[rf.id] = attrs.evolve(rf, status=status, pending_reason=None)
            self._refund_changed("refund.updated", rf.id, new.status)

    def _refund_left(self, it: StoredIntent) -> int:
        """What a new refund of ``it`` may take: what was received (or, while the debit
        is processing, what it will receive) less what live refunds hold already (a
        pending refund holds its amount: Stripe counts it too)."""
        view: IntentView = it.view
        base = view.amount if view.status == "processing" else view.amount_received
        held = sum(
            rf.amount
            for rf in self._refunds.values()
            if rf.intent_id == view.id and rf.status in REFUND_LIVE
        )
        return base - held
