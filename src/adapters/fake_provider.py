"""An in-memory fake of Stripe's PaymentIntent and Refund API (a ``PaymentProvider``).

The port's calls and the far side (the customer, the bank, the dashboard) are here;
the books and the machinery are in :mod:`paycore_adapters.fake_ledger`. Faults are
injected from outside, by wrapping it (``paycore_adapters.harness.faulty.FaultyProvider``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from paycore.errors import ProviderCardDeclined, ProviderInvalidRequest
from paycore.ports import (
    REFUND_UNSETTLED,
    CreateIntent,
    IntentView,
    ListPage,
    RefundView,
)

from .fake_accounts import FakeAccounts
from .fake_debits import FakeDebits
from .fake_disputes import FakeDisputes
from .fake_inflight import InFlightLedger
from .fake_keyless import KeylessLedger
from .fake_ledger import (
    CANCELABLE,
    CONFIRMABLE,
    REFUND_REASONS,
    StoredIntent,
    charge_id,
    invalid_request,
    sorted_metadata,
    whole_seconds,
)
from .fake_limits import IDEMPOTENCY_KEPT_MS, check_amount, check_metadata
from .fake_methods import AUTHENTICATION_FAILED, TEST_METHODS, check_return_url
from .fake_paging import DEFAULT_LIMIT, in_window, page

__all__ = [
    "CANCELABLE",
    "CONFIRMABLE",
    "IDEMPOTENCY_KEPT_MS",
    "TEST_METHODS",
    "FakeProvider",
]


class FakeProvider(KeylessLedger, FakeAccounts, InFlightLedger, FakeDebits, FakeDisputes):
    """A deterministic, thread-safe, in-memory Stripe. Requests may be held in flight or
    end in a saved 500 (:mod:`paycore_adapters.fake_inflight`); it may ignore idempotency
    keys as some emulators do (:mod:`paycore_adapters.fake_keyless`).

    ``create_refund(..., reverse_transfer=...)``: a refund of a destination charge takes
    the seller's transfer back by its amount only when asked; Stripe's default is not to
    ("Boolean indicating whether the transfer should be reversed", stripe-python 16.1.0
    ``stripe/params/_refund_create_params.py``; the connected account keeps the funds
    then: docs.stripe.com/connect/destination-charges, "Issue refunds"). The port's
    refund asks for it (``PaymentProvider.create_refund``: an adapter over Stripe sends
    ``reverse_transfer=true``), hence the default True; the emulator passes what the
    request said, false when it said nothing."""

    # --- port: intents ------------------------------------------------------------

    def create_intent(self, req: CreateIntent, *, idempotency_key: str) -> IntentView:
        amount, currency = req.amount.amount, req.amount.currency

        def validate() -> None:
            check_amount(amount, currency)
            check_metadata(req.metadata)

        def execute() -> IntentView:
            self._refuse_charge(req.account, req.on_behalf_of)
            n, now = self._next("pi"), self._clock.now()
            view = IntentView(
                id=f"pi_{n:06d}",
                status="requires_payment_method",
                amount=amount,
                currency=currency,
                amount_received=0,
                created=whole_seconds(now),
                metadata=MappingProxyType(dict(req.metadata)),
                client_secret=f"pi_{n:06d}_secret_{n}",
                # Stripe shows a destination as ``transfer_data.destination`` and an
                # intent made without one with ``transfer_data`` null (stripe-python
                # 16.1.0 ``stripe/_payment_intent.py``, ``transfer_data:
                # Optional[TransferData]``; docs.stripe.com/api/payment_intents/object):
                # the port's view names no account then (None), as the Stripe adapter's.
                account=req.account or None,
            )
            self._intents[view.id] = StoredIntent(
                view,
                n,
                req.account,
                req.description,
                made_at_ms=now,
                allow_redirects=req.allow_redirects,
            )
            self._intents[view.id].on_behalf_of = req.on_behalf_of
            self._emit("payment_intent.created", "payment_intent", view.id, view.status)
            return view

        params = (
            amount,
            currency,
            req.account,
            sorted_metadata(req.metadata),
            req.description,
            req.allow_redirects,
            req.on_behalf_of,
        )
        return self._mutate("create_intent", idempotency_key, params, validate, execute)

    def confirm_intent(
        self,
        intent_id: str,
        *,
        payment_method: str | None,
        return_url: str | None,
        idempotency_key: str,
    ) -> IntentView:
        def validate() -> None:
            check_return_url(intent_id, self._intent(intent_id).allow_redirects, return_url)
            self._check_method(payment_method)

        def execute() -> IntentView:
            return self._charge(self._intent(intent_id), payment_method, return_url)

        params = (intent_id, payment_method, return_url)
        return self._mutate("confirm_intent", idempotency_key, params, validate, execute)

    def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> IntentView:
        return self._simple("cancel", intent_id, idempotency_key, CANCELABLE, "canceled")

    def capture_intent(self, intent_id: str, *, idempotency_key: str) -> IntentView:
        return self._simple(
            "capture", intent_id, idempotency_key, {"requires_capture"}, "succeeded"
        )

    def retrieve_intent(self, intent_id: str) -> IntentView:
        return self._read("retrieve_intent", lambda: self._intent(intent_id).view)

    def search_intents(self, *, metadata_key: str, value: str) -> list[IntentView]:
        """Stripe's ``GET /v1/payment_intents/search`` with ``metadata['key']:'value'``
        (docs.stripe.com/search#query-fields-for-payment-intents), newest first. It lags:
        an intent shows only :attr:`search_lag_ms` after it was made (docs.stripe.com/search,
        "Data freshness"); ``list_intents`` does not lag."""

        def run() -> list[IntentView]:
            indexed = self._clock.now() - self.search_lag_ms
            hits = [
                it
                for it in self._ordered()
                if it.view.metadata.get(metadata_key) == value and it.made_at_ms <= indexed
            ]
            return [it.view for it in reversed(hits)]

        return self._read("search_intents", run)

    def list_intents(
        self,
        *,
        created_gte_s: int | None = None,
        created_lt_s: int | None = None,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created_gt_s: int | None = None,
        created_lte_s: int | None = None,
    ) -> ListPage[IntentView]:
        """Stripe's ``GET /v1/payment_intents`` (docs.stripe.com/api/payment_intents/list):
        newest first, ``created`` filters in seconds, paged as :func:`fake_paging.page`."""

        def keep(view: IntentView) -> bool:
            return in_window(
                view.created // 1000,  # the fake's clock is in ms, Stripe's created in s
                gt=created_gt_s,
                gte=created_gte_s,
                lt=created_lt_s,
                lte=created_lte_s,
            )

        def run() -> ListPage[IntentView]:
            newest_first = [it.view for it in reversed(self._ordered())]
            return page(
                newest_first,
                keep,
                kind="payment_intent",
                limit=limit,
                starting_after=starting_after,
                ending_before=ending_before,
            )

        return self._read("list_intents", run)

    # --- port: refunds --------------------------------------------------------------

    def create_refund(
        self,
        intent_id: str,
        *,
        amount: int,
        reason: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
        reverse_transfer: bool = True,
    ) -> RefundView:
        def validate() -> None:
            self._intent(intent_id)
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
                raise invalid_request(
                    f"Invalid refund amount {amount!r}: must be a positive integer."
                )
            if reason is not None and reason not in REFUND_REASONS:
                raise invalid_request(f"Invalid refund reason {reason!r}.", param="reason")
            check_metadata(metadata)

        def execute() -> RefundView:
            it = self._intent(intent_id)
            intent = it.view
            if intent.status not in ("succeeded", "processing"):
                msg = (
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to refund."
                )
                raise invalid_request(msg, intent_id=intent_id, status=intent.status)
            self._refuse_charged_back(it)  # charge_disputed (fake_disputes)
            remaining = self._refund_left(it)
            if remaining == 0:
                # docs.stripe.com/error-codes#charge-already-refunded
                msg = f"Charge {charge_id(self._intent(intent_id))} has already been refunded."
                raise invalid_request(msg, error_code="charge_already_refunded", remaining=0)
            if amount > remaining:
                msg = f"Refund amount ({amount}) is greater than unrefunded amount ({remaining})."
                # param "amount": the parameter at fault (docs.stripe.com/api/errors, param)
                raise invalid_request(msg, param="amount", amount=amount, remaining=remaining)
            # A refund of a debit still processing waits for it (charge_pending).
            status, pending_reason = self._unsettled_refund(it, intent.status)
            view = RefundView(
                id=f"re_{self._next('re'):06d}",
                intent_id=intent_id,
                amount=amount,
                status=status,
                metadata=MappingProxyType(dict(metadata)),
                pending_reason=pending_reason,
                transfer_reversed=reverse_transfer if it.account else None,  # no transfer: None
            )
            self._refunds[view.id] = view
            if view.transfer_reversed:
                self._reverse_transfer(view.id, amount)
            self._emit("refund.created", "refund", view.id, status)
            # Stripe: charge.refunded "occurs whenever a charge is refunded, including
            # partial refunds" (docs.stripe.com/api/events/types).
            self._emit("charge.refunded", "charge", charge_id(it), "succeeded")
            return view

        params = (intent_id, amount, reason, sorted_metadata(metadata), reverse_transfer)
        return self._mutate("create_refund", idempotency_key, params, validate, execute)

    def retrieve_refund(self, refund_id: str) -> RefundView:
        return self._read("retrieve_refund", lambda: self._refund(refund_id))

    def list_refunds(
        self,
        intent_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> ListPage[RefundView]:
        """Stripe's ``GET /v1/refunds?payment_intent=`` (docs.stripe.com/api/refunds/list):
        the intent's refunds newest first, 10 a page unless asked, paged as intents are."""

        def run() -> ListPage[RefundView]:
            # dicts keep insertion order, which is creation order: newest first reversed
            newest_first = list(reversed(self._refunds.values()))
            return page(
                newest_first,
                lambda rf: rf.intent_id == intent_id,
                kind="refund",
                limit=limit,
                starting_after=starting_after,
                ending_before=ending_before,
            )

        return self._read("list_refunds", run)

    def _charge(self, it: StoredIntent, method: str | None, return_url: str | None) -> IntentView:
        """Confirm ``it``: a confirmable intent whose account can no longer take the
        destination charge is refused, as at create (unsourced: Stripe's documents name
        the create; the fake refuses the charge when it is attempted too)."""
        self._expect(it.view.id, CONFIRMABLE, "confirm")
        self._refuse_charge(it.account, it.on_behalf_of)
        return self._confirm(it, method, return_url)

    # --- customer and network side (not part of the port) -------------------------

    def customer_confirm(self, intent_id: str, payment_method: str) -> IntentView:
        """The browser confirming with the client secret: a decline, or a charge the
        seller's account cannot take, does not raise."""
        with self._lock:
            it = self._intent(intent_id)
            self._check_method(payment_method)
            self._expect(intent_id, CONFIRMABLE, "confirm")
            try:
                self._refuse_charge(it.account, it.on_behalf_of)
            except ProviderInvalidRequest:
                return it.view  # the browser shows the refusal; the intent is as it was
            try:
                return self._confirm(it, payment_method, None)
            except ProviderCardDeclined:
                return it.view

    def complete_action(self, intent_id: str, *, success: bool = True) -> IntentView:
        """The customer passing (or failing) 3D Secure."""
        with self._lock:
            it = self._expect(intent_id, {"requires_action"}, "authenticate")
            if success:
                return self._move(it, "succeeded")
            return self._fail(it, AUTHENTICATION_FAILED)  # Stripe's code (fake_methods)

    def settle_refund(self, refund_id: str, *, success: bool = True) -> RefundView:
        """The network finishing a pending refund (or one whose customer has acted)."""
        with self._lock:
            rf = self._refund(refund_id)
            if rf.status not in REFUND_UNSETTLED:
                raise invalid_request(
                    f"Refund {refund_id} has a status of {rf.status}, not pending."
                )
            status, failure = ("succeeded", None) if success else ("failed", "declined")
            rf = self._refunds[refund_id] = attrs.evolve(rf, status=status, failure_reason=failure)
            kind = "refund.updated" if success else "refund.failed"
            self._refund_changed(kind, refund_id, status)
            return rf

    def require_refund_action(self, refund_id: str) -> RefundView:
        """The bank needs the customer before it can pay a pending refund back (Stripe:
        only refunds for payment methods that need customer action enter
        ``requires_action``; docs.stripe.com/api/refunds/cancel)."""
        with self._lock:
            rf = self._refund(refund_id)
            if rf.status != "pending":
                raise invalid_request(
                    f"Refund {refund_id} has a status of {rf.status}, not pending."
                )
            rf = self._refunds[refund_id] = attrs.evolve(rf, status="requires_action")
            self._refund_changed("refund.updated", refund_id, rf.status)
            return rf

    def cancel_refund(self, refund_id: str) -> RefundView:
        """The merchant canceling a refund from the dashboard. Stripe cancels only a refund
        with a status of ``requires_action`` and refuses every other status; the refund
        becomes ``canceled`` with ``failure_reason`` ``merchant_request`` and its amount is
        refundable again (docs.stripe.com/api/refunds/cancel)."""
        with self._lock:
            rf = self._refund(refund_id)
            if rf.status != "requires_action":
                raise invalid_request(
                    f"Refund {refund_id} has a status of {rf.status}; only a refund with a "
                    "status of requires_action can be canceled."
                )
            rf = self._refunds[refund_id] = attrs.evolve(
                rf, status="canceled", failure_reason="merchant_request"
            )
            self._refund_changed("refund.updated", refund_id, rf.status)
            return rf

    def fail_refund(
        self, refund_id: str, *, reason: str = "expired_or_canceled_card"
    ) -> RefundView:
        """The network reversing a refund that had succeeded (Stripe: a closed card).

        Stripe moves a succeeded refund to ``failed`` and returns its amount to the
        merchant, so it no longer counts against what is still refundable.
        """
        with self._lock:
            rf = self._refund(refund_id)
            if rf.status != "succeeded":
                raise invalid_request(
                    f"Refund {refund_id} has a status of {rf.status}, not succeeded."
                )
            rf = self._refunds[refund_id] = attrs.evolve(rf, status="failed", failure_reason=reason)
            self._refund_changed("refund.failed", refund_id, "failed")
            return rf
