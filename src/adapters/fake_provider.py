"""An in-memory fake of Stripe's PaymentIntent and Refund API (a ``PaymentProvider``).

Faults are injected from outside, by wrapping it
(``paycore_adapters.harness.faulty.FaultyProvider``).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar, cast

import attrs

from paycore.errors import (
    ProviderCardDeclined,
    ProviderError,
    ProviderIdempotencyMismatch,
    ProviderInvalidRequest,
    ProviderNotFound,
)
from paycore.ports import (
    REFUND_LIVE,
    REFUND_UNSETTLED,
    Clock,
    CreateIntent,
    IntentView,
    ProviderEvent,
    RefundView,
)

R = TypeVar("R")
V = TypeVar("V", IntentView, RefundView)

#: Stripe forgets idempotency keys once they are at least 24 hours old.
IDEMPOTENCY_TTL_MS = 86_400_000
CONFIRMABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})
CANCELABLE = CONFIRMABLE | {"requires_capture"}
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
#: Test payment method -> the status one confirmation leads to.
TEST_METHODS = {
    "pm_card_visa": "succeeded",
    "pm_card_chargeDeclined": "requires_payment_method",
    "pm_card_threeDSecure2Required": "requires_action",
    "pm_card_processing": "processing",
}
_INTENT_EVENTS = {
    "requires_action": "payment_intent.requires_action",
    "processing": "payment_intent.processing",
    "succeeded": "payment_intent.succeeded",
    "canceled": "payment_intent.canceled",
}


@dataclass
class _Intent:
    """The public view plus what Stripe keeps but paycore does not see."""

    view: IntentView
    seq: int
    account: str
    description: str
    payment_method: str | None = None
    return_url: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class _Saved:
    """An idempotency record: what the key was first used for, and the outcome."""

    endpoint: str
    params: tuple[object, ...]
    outcome: IntentView | RefundView | ProviderError
    at: int


def _invalid(message: str, **fields: Any) -> ProviderInvalidRequest:
    return ProviderInvalidRequest(message, **fields)


def _check_metadata(metadata: Mapping[str, str]) -> None:
    if len(metadata) > 50 or any(len(k) > 40 or len(v) > 500 for k, v in metadata.items()):
        raise _invalid("Metadata allows 50 keys, keys of 40 and values of 500 characters.")


def _sorted(metadata: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(metadata.items()))


class FakeProvider:
    """A deterministic, thread-safe, in-memory Stripe."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._accounts: dict[str, bool] = {}
        self._intents: dict[str, _Intent] = {}
        self._refunds: dict[str, RefundView] = {}
        self._saved: dict[str, _Saved] = {}
        self._events: list[ProviderEvent] = []
        self._undelivered: list[ProviderEvent] = []
        self._seq: collections.Counter[str] = collections.Counter()
        self.refunds_settle_immediately: bool = True
        self.calls: collections.Counter[str] = collections.Counter()

    # --- setup, ledger and events (not part of the port) -----------------------

    def set_account(self, account: str, *, can_charge: bool) -> None:
        with self._lock:
            self._accounts[account] = can_charge

    def intents(self) -> list[IntentView]:
        with self._lock:
            return [it.view for it in self._intents.values()]

    def refunds(self) -> list[RefundView]:
        with self._lock:
            return list(self._refunds.values())

    def take_events(self) -> list[ProviderEvent]:
        """Return the events not taken yet, and forget them."""
        with self._lock:
            taken, self._undelivered = self._undelivered, []
            return taken

    @property
    def all_events(self) -> list[ProviderEvent]:
        with self._lock:
            return list(self._events)

    # --- port: intents ------------------------------------------------------------

    def create_intent(self, req: CreateIntent, *, idempotency_key: str) -> IntentView:
        amount, currency = req.amount.amount, req.amount.currency

        def validate() -> None:
            if amount < 1:
                raise _invalid("Amount must be at least 1 minor unit.", param="amount")
            _check_metadata(req.metadata)

        def execute() -> IntentView:
            if not self._accounts.get(req.account, False):
                msg = f"The account {req.account} cannot take charges right now."
                raise _invalid(msg, account=req.account)
            n = self._next("pi")
            view = IntentView(
                id=f"pi_{n:06d}",
                status="requires_payment_method",
                amount=amount,
                currency=currency,
                amount_received=0,
                created=self._clock.now(),
                metadata=MappingProxyType(dict(req.metadata)),
                client_secret=f"pi_{n:06d}_secret_{n}",
            )
            self._intents[view.id] = _Intent(view, n, req.account, req.description)
            self._emit("payment_intent.created", "payment_intent", view.id, view.status)
            return view

        params = (amount, currency, req.account, _sorted(req.metadata), req.description)
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
            self._intent(intent_id)
            self._check_method(payment_method)

        def execute() -> IntentView:
            return self._confirm(self._intent(intent_id), payment_method, return_url)

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
        def run() -> list[IntentView]:
            hits = [it for it in self._ordered() if it.view.metadata.get(metadata_key) == value]
            return [it.view for it in reversed(hits)]

        return self._read("search_intents", run)

    def list_intents(
        self, *, created_after: int, limit: int, starting_after: str | None = None
    ) -> list[IntentView]:
        def run() -> list[IntentView]:
            if not 1 <= limit <= 100:
                raise _invalid("limit must be between 1 and 100.", param="limit")
            page = [it for it in self._ordered() if it.view.created >= created_after]
            if starting_after is not None:
                cursor = self._intent(starting_after)
                page = [it for it in page if _order(it) > _order(cursor)]
            return [it.view for it in page[:limit]]

        return self._read("list_intents", run)

    def can_charge(self, account: str) -> bool:
        return self._read("can_charge", lambda: self._accounts.get(account, False))

    # --- port: refunds --------------------------------------------------------------

    def create_refund(
        self,
        intent_id: str,
        *,
        amount: int,
        reason: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> RefundView:
        def validate() -> None:
            self._intent(intent_id)
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
                raise _invalid(f"Invalid refund amount {amount!r}: must be a positive integer.")
            if reason is not None and reason not in REFUND_REASONS:
                raise _invalid(f"Invalid refund reason {reason!r}.", param="reason")
            _check_metadata(metadata)

        def execute() -> RefundView:
            intent = self._intent(intent_id).view
            if intent.status != "succeeded":
                msg = (
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to refund."
                )
                raise _invalid(msg, intent_id=intent_id, status=intent.status)
            # Pending refunds already hold their amount: Stripe counts them too.
            held = sum(
                rf.amount
                for rf in self._refunds.values()
                if rf.intent_id == intent_id and rf.status in REFUND_LIVE
            )
            remaining = intent.amount_received - held
            if amount > remaining:
                msg = f"Refund amount ({amount}) is greater than unrefunded amount ({remaining})."
                raise _invalid(msg, amount=amount, remaining=remaining)
            status = "succeeded" if self.refunds_settle_immediately else "pending"
            view = RefundView(
                id=f"re_{self._next('re'):06d}",
                intent_id=intent_id,
                amount=amount,
                status=status,
                metadata=MappingProxyType(dict(metadata)),
            )
            self._refunds[view.id] = view
            self._emit("refund.created", "refund", view.id, status)
            return view

        params = (intent_id, amount, reason, _sorted(metadata))
        return self._mutate("create_refund", idempotency_key, params, validate, execute)

    def retrieve_refund(self, refund_id: str) -> RefundView:
        return self._read("retrieve_refund", lambda: self._refund(refund_id))

    def list_refunds(self, intent_id: str) -> list[RefundView]:
        def run() -> list[RefundView]:
            # dicts keep insertion order, which is creation order
            return [rf for rf in self._refunds.values() if rf.intent_id == intent_id]

        return self._read("list_refunds", run)

    # --- customer and network side (not part of the port) -------------------------

    def customer_confirm(self, intent_id: str, payment_method: str) -> IntentView:
        """The browser confirming with the client secret: a decline does not raise."""
        with self._lock:
            it = self._intent(intent_id)
            self._check_method(payment_method)
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
            return self._fail(it, "authentication_failure")

    def settle(self, intent_id: str, *, success: bool = True) -> IntentView:
        """The network finishing a processing payment."""
        with self._lock:
            it = self._expect(intent_id, {"processing"}, "settle")
            return self._move(it, "succeeded") if success else self._fail(it, "card_declined")

    def settle_refund(self, refund_id: str, *, success: bool = True) -> RefundView:
        """The network finishing a pending refund (or one whose customer has acted)."""
        with self._lock:
            rf = self._refund(refund_id)
            if rf.status not in REFUND_UNSETTLED:
                raise _invalid(f"Refund {refund_id} has a status of {rf.status}, not pending.")
            status, failure = ("succeeded", None) if success else ("failed", "declined")
            rf = self._refunds[refund_id] = attrs.evolve(rf, status=status, failure_reason=failure)
            kind = "refund.updated" if success else "refund.failed"
            self._emit(kind, "refund", refund_id, status)
            return rf

    def require_refund_action(self, refund_id: str) -> RefundView:
        """The bank needs the customer before it can pay a pending refund back (Stripe:
        only refunds for payment methods that need customer action enter
        ``requires_action``; docs.stripe.com/api/refunds/cancel)."""
        with self._lock:
            rf = self._refund(refund_id)
            if rf.status != "pending":
                raise _invalid(f"Refund {refund_id} has a status of {rf.status}, not pending.")
            rf = self._refunds[refund_id] = attrs.evolve(rf, status="requires_action")
            self._emit("refund.updated", "refund", refund_id, rf.status)
            return rf

    def cancel_refund(self, refund_id: str) -> RefundView:
        """The merchant canceling a refund from the dashboard. Stripe cancels only a refund
        with a status of ``requires_action`` and refuses every other status; the refund
        becomes ``canceled`` with ``failure_reason`` ``merchant_request`` and its amount is
        refundable again (docs.stripe.com/api/refunds/cancel)."""
        with self._lock:
            rf = self._refund(refund_id)
            if rf.status != "requires_action":
                raise _invalid(
                    f"Refund {refund_id} has a status of {rf.status}; only a refund with a "
                    "status of requires_action can be canceled."
                )
            rf = self._refunds[refund_id] = attrs.evolve(
                rf, status="canceled", failure_reason="merchant_request"
            )
            self._emit("refund.updated", "refund", refund_id, rf.status)
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
                raise _invalid(f"Refund {refund_id} has a status of {rf.status}, not succeeded.")
            rf = self._refunds[refund_id] = attrs.evolve(rf, status="failed", failure_reason=reason)
            self._emit("refund.failed", "refund", refund_id, "failed")
            return rf

    # --- internals --------------------------------------------------------------------

    def _mutate(
        self,
        endpoint: str,
        key: str,
        params: tuple[object, ...],
        validate: Callable[[], object],
        execute: Callable[[], V],
    ) -> V:
        with self._lock:
            self.calls[endpoint] += 1
            if not 1 <= len(key) <= 255:
                raise _invalid("An idempotency key must be 1 to 255 characters long.")
            now = self._clock.now()
            saved = self._saved.get(key)
            if saved is not None and now - saved.at >= IDEMPOTENCY_TTL_MS:
                del self._saved[key]
                saved = None
            if saved is None:
                # Stripe saves a result only once the endpoint began executing,
                # so a validation error leaves the key free for a corrected retry.
                validate()
                outcome: V | ProviderError
                try:
                    outcome = execute()
                except ProviderError as err:
                    outcome = err
                self._saved[key] = _Saved(endpoint, params, outcome, now)
                if isinstance(outcome, ProviderError):
                    raise outcome
                return outcome
            if (saved.endpoint, saved.params) != (endpoint, params):
                what = "endpoint" if saved.endpoint != endpoint else "parameters"
                raise ProviderIdempotencyMismatch(
                    f"Keys for idempotent requests can only be used with the same {what} they "
                    f"were first used with ({saved.endpoint}). Try using a key other than "
                    f"{key!r} if you meant to execute a different request.",
                    idempotency_key=key,
                    endpoint=endpoint,
                    first_endpoint=saved.endpoint,
                )
            first = saved.outcome
            if isinstance(first, ProviderError):
                # a fresh instance, so replays do not pile up on one traceback
                raise type(first)(first.message, **first.fields)
            return cast(V, first)

    def _simple(
        self, verb: str, intent_id: str, key: str, allowed: Set[str], target: str
    ) -> IntentView:
        def execute() -> IntentView:
            return self._move(self._expect(intent_id, allowed, verb), target)

        validate = lambda: self._intent(intent_id)  # noqa: E731
        return self._mutate(f"{verb}_intent", key, (intent_id,), validate, execute)

    def _read(self, name: str, run: Callable[[], R]) -> R:
        with self._lock:
            self.calls[name] += 1
            return run()

    def _confirm(self, it: _Intent, method: str | None, return_url: str | None) -> IntentView:
        status = self._expect(it.view.id, CONFIRMABLE, "confirm").view.status
        method = method or it.payment_method
        if method is None:
            msg = "You cannot confirm this PaymentIntent because it's missing a payment method."
            raise _invalid(msg, intent_id=it.view.id, status=status)
        it.payment_method, it.return_url, it.attempts = method, return_url, it.attempts + 1
        target = TEST_METHODS[method]
        if target == "requires_payment_method":
            view = self._fail(it, "card_declined")
            # Errors carry no secret: the intent rides along without its client secret.
            public = attrs.evolve(view, client_secret=None)
            fields = {"intent": public, "intent_id": view.id, "decline_code": "generic_decline"}
            raise ProviderCardDeclined("Your card was declined.", **fields)
        return self._move(it, target)

    def _move(self, it: _Intent, status: str) -> IntentView:
        # Stripe clears last_payment_error whenever the intent changes again.
        url = f"https://fake-provider.test/3ds/{it.view.id}/{it.attempts}"
        it.view = attrs.evolve(
            it.view,
            status=status,
            last_error_code=None,
            next_action_url=url if status == "requires_action" else None,
            amount_received=it.view.amount if status == "succeeded" else 0,
        )
        self._emit(_INTENT_EVENTS[status], "payment_intent", it.view.id, status)
        return it.view

    def _fail(self, it: _Intent, code: str) -> IntentView:
        # Stripe detaches the failed payment method: a retry must bring a new one.
        it.payment_method = None
        it.view = attrs.evolve(
            it.view, status="requires_payment_method", last_error_code=code, next_action_url=None
        )
        self._emit("payment_intent.payment_failed", "payment_intent", it.view.id, it.view.status)
        return it.view

    def _emit(self, type_: str, kind: str, object_id: str, status: str) -> None:
        n, now = self._next("evt"), self._clock.now()
        event = ProviderEvent(f"evt_{n:06d}", type_, now, kind, object_id, status)
        self._events.append(event)
        self._undelivered.append(event)

    def _next(self, prefix: str) -> int:
        self._seq[prefix] += 1
        return self._seq[prefix]

    def _ordered(self) -> list[_Intent]:
        return sorted(self._intents.values(), key=_order)

    def _intent(self, intent_id: str) -> _Intent:
        it = self._intents.get(intent_id)
        if it is None:
            raise ProviderNotFound(f"No such payment_intent: '{intent_id}'", intent_id=intent_id)
        return it

    def _refund(self, refund_id: str) -> RefundView:
        rf = self._refunds.get(refund_id)
        if rf is None:
            raise ProviderNotFound(f"No such refund: '{refund_id}'", refund_id=refund_id)
        return rf

    def _expect(self, intent_id: str, allowed: Set[str], verb: str) -> _Intent:
        it = self._intent(intent_id)
        status = it.view.status
        if status not in allowed:
            msg = f"You cannot {verb} this PaymentIntent because it has a status of {status}."
            raise _invalid(msg, intent_id=intent_id, status=status)
        return it

    @staticmethod
    def _check_method(method: str | None) -> None:
        if method is not None and method not in TEST_METHODS:
            raise _invalid(f"No such PaymentMethod: '{method}'", param="payment_method")


def _order(it: _Intent) -> tuple[int, int]:
    """Stripe's list order: creation time, then creation sequence for equal times."""
    return (it.view.created, it.seq)
