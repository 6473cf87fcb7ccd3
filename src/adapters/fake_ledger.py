"""The fake provider's books and machinery: what :class:`FakeProvider` keeps, and how it
moves an intent, saves an idempotent outcome and emits an event.

:class:`FakeLedger` holds the state and the internals; ``fake_provider`` adds the
port and the far side (customer, bank, dashboard) on top.
"""

from __future__ import annotations

import collections
import copy
import threading
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from typing import Any, Self, TypeVar, cast

import attrs

from paycore.errors import (
    ProviderCardDeclined,
    ProviderError,
    ProviderIdempotencyMismatch,
    ProviderInvalidRequest,
    ProviderNotFound,
)
from paycore.ports import AccountView, Clock, IntentView, ProviderEvent, RefundView
from paycore.unit import evolve

from . import provider_port
from .fake_limits import IDEMPOTENCY_KEPT_MS, IDEMPOTENCY_KEY_MAX, SEARCH_LAG_MS
from .fake_methods import CANCELED_BY_STRIPE, TEST_METHODS, check_method

R = TypeVar("R")
V = TypeVar("V", IntentView, RefundView)

CONFIRMABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})
CANCELABLE = CONFIRMABLE | {"requires_capture"}
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
_INTENT_EVENTS = {
    "requires_action": "payment_intent.requires_action",
    "processing": "payment_intent.processing",
    "succeeded": "payment_intent.succeeded",
    "canceled": "payment_intent.canceled",
}


@dataclass
class StoredIntent:
    """The public view plus what Stripe keeps but paycore does not see."""

    view: IntentView
    seq: int
    account: str
    description: str
    payment_method: str | None = None
    return_url: str | None = None
    attempts: int = 0
    #: When it was made, to the millisecond (``view.created`` is whole seconds, as
    #: Stripe's ``created``): its search lag counts from here.
    made_at_ms: int = 0
    #: Made ``on_behalf_of`` its destination account ``account`` (a destination charge).
    on_behalf_of: bool = True
    #: ``automatic_payment_methods[allow_redirects]`` is not ``never`` (see ``fake_methods``)
    allow_redirects: bool = False
    #: declined confirmations so far (``FakeLedger.decline_limit``)
    declines: int = 0
    #: The dispute of its charge, as Stripe's object (:mod:`paycore_adapters.fake_disputes`)
    dispute: dict[str, Any] | None = None

    def copy(self) -> StoredIntent:
        """A copy for a cloned fake: its fields are immutable values, so a shallow copy
        is independent (made directly, faster than ``dataclasses.replace``)."""
        twin = object.__new__(StoredIntent)
        twin.__dict__.update(self.__dict__)
        return twin


@dataclass(frozen=True)
class SavedOutcome:
    """An idempotency record: what the key was first used for, and the outcome."""

    endpoint: str
    params: tuple[object, ...]
    outcome: IntentView | RefundView | ProviderError
    at: int


def invalid_request(message: str, **fields: Any) -> ProviderInvalidRequest:
    return ProviderInvalidRequest(message, **fields)


def sorted_metadata(metadata: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(metadata.items()))


class FakeLedger:
    """A deterministic, thread-safe, in-memory Stripe account: its state and internals."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        #: connected accounts by id (:mod:`paycore_adapters.fake_accounts` sets them)
        self._accounts: dict[str, AccountView] = {}
        self._intents: dict[str, StoredIntent] = {}
        self._refunds: dict[str, RefundView] = {}
        self._saved: dict[str, SavedOutcome] = {}
        self._events: list[ProviderEvent] = []
        self._undelivered: list[ProviderEvent] = []
        self._seq: collections.Counter[str] = collections.Counter()
        self.refunds_settle_immediately: bool = True
        #: How long a new intent stays out of search (:data:`fake_limits.SEARCH_LAG_MS`).
        self.search_lag_ms: int = SEARCH_LAG_MS
        #: Declined confirmations after which the fake cancels the intent itself (None:
        #: never; :data:`fake_methods.DECLINE_LIMIT` in the harness).
        self.decline_limit: int | None = None
        self.calls: collections.Counter[str] = collections.Counter()

    # --- setup, ledger and events (not part of the port) -----------------------

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

    def clone(self, clock: Clock) -> Self:
        """An independent fake in the same state, on ``clock`` (for the harness's
        explorer, which copies a world, its clock included, per successor state).
        Views, refunds, events and saved outcomes are immutable and are shared."""
        with self._lock:
            twin = copy.copy(self)
            twin._clock, twin._lock = clock, threading.RLock()
            twin._accounts = dict(self._accounts)
            twin._intents = {k: it.copy() for k, it in self._intents.items()}
            twin._refunds = dict(self._refunds)
            twin._saved = dict(self._saved)
            twin._events = list(self._events)
            twin._undelivered = list(self._undelivered)
            twin._seq = collections.Counter(self._seq)
            twin.refunds_settle_immediately = self.refunds_settle_immediately
            twin.search_lag_ms = self.search_lag_ms
            twin.calls = collections.Counter(self.calls)
        return twin

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self.clone(copy.deepcopy(self._clock, memo))

    def state_key(self) -> object:
        """Everything that decides what the fake does next, as a picklable value (for the
        harness's explorer): accounts, intents, refunds, saved idempotency outcomes,
        events not taken yet, id counters, how refunds settle and how long search lags.
        The log of every event and the call counts are left out: they decide nothing.
        The value shares the fake's containers: pickle or digest it before the fake
        moves on."""
        with self._lock:
            return (
                self._accounts,
                self._intents,
                self._refunds,
                self._saved,
                self._undelivered,
                self._seq,
                self.refunds_settle_immediately,
                self.search_lag_ms,
                self.decline_limit,
            )

    def books(self) -> dict[str, Any]:
        """The fake's whole state as containers of its own values, copied (for saving it:
        :mod:`paycore_adapters.fake_state`); the call counts are left out."""
        with self._lock:
            return {
                "accounts": dict(self._accounts),
                "intents": [it.copy() for it in self._intents.values()],
                "refunds": list(self._refunds.values()),
                "saved": dict(self._saved),
                "events": list(self._events),
                "undelivered": list(self._undelivered),
                "seq": dict(self._seq),
                "refunds_settle_immediately": self.refunds_settle_immediately,
            }

    def load_books(self, books: Mapping[str, Any]) -> None:
        """Take the state :meth:`books` gave (of this fake or one saved before)."""
        with self._lock:
            self._accounts = dict(books["accounts"])
            self._intents = {it.view.id: it for it in books["intents"]}
            self._refunds = {r.id: r for r in books["refunds"]}
            self._saved = dict(books["saved"])
            self._events = list(books["events"])
            self._undelivered = list(books["undelivered"])
            self._seq = collections.Counter(books["seq"])
            self.refunds_settle_immediately = bool(books["refunds_settle_immediately"])

    @property
    def clock(self) -> Clock:
        """The clock the fake reads (a driver moves a manual one on)."""
        return self._clock

    @property
    def all_events(self) -> list[ProviderEvent]:
        with self._lock:
            return list(self._events)

    @property
    def event_count(self) -> int:
        """How many events the provider has sent (``len(all_events)``, without a copy)."""
        return len(self._events)

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
            if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
                raise invalid_request(
                    f"An idempotency key must be 1 to {IDEMPOTENCY_KEY_MAX} characters long.",
                    param="idempotency_key",
                )
            now = self._clock.now()
            saved = self._saved.get(key)
            if saved is not None and now - saved.at > IDEMPOTENCY_KEPT_MS:
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
                self._saved[key] = SavedOutcome(endpoint, params, outcome, now)
                if isinstance(outcome, ProviderError):
                    raise provider_port.to_port(outcome)
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
                raise provider_port.to_port(first)  # a fresh instance, as it crosses the port
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

    def _confirm(self, it: StoredIntent, method: str | None, return_url: str | None) -> IntentView:
        status = self._expect(it.view.id, CONFIRMABLE, "confirm").view.status
        method = method or it.payment_method
        if method is None:
            msg = "You cannot confirm this PaymentIntent because it's missing a payment method."
            raise invalid_request(msg, intent_id=it.view.id, status=status)
        it.payment_method, it.return_url, it.attempts = method, return_url, it.attempts + 1
        target = TEST_METHODS[method]
        if target == "requires_payment_method":
            view = self._fail(it, "card_declined")
            it.declines += 1
            if self.decline_limit is not None and it.declines >= self.decline_limit:
                view = self._move(it, "canceled", CANCELED_BY_STRIPE)
            # Stripe's error carries the intent, client secret included; provider_port
            # drops the secret as the error leaves the fake (_mutate).
            fields = {"intent": view, "intent_id": view.id, "decline_code": "generic_decline"}
            raise ProviderCardDeclined("Your card was declined.", **fields)
        return self._move(it, target)

    def _move(self, it: StoredIntent, status: str, reason: str | None = None) -> IntentView:
        # Stripe clears last_payment_error whenever the intent changes again.
        url = f"https://fake-provider.test/3ds/{it.view.id}/{it.attempts}"
        changes = {
            "status": status,
            "cancellation_reason": reason,
            "last_error_code": None,
            "next_action_url": url if status == "requires_action" else None,
            "amount_received": it.view.amount if status == "succeeded" else 0,
        }
        it.view = evolve(it.view, changes)  # attrs.evolve without its per-call cost
        self._emit(_INTENT_EVENTS[status], "payment_intent", it.view.id, status)
        if status == "succeeded":
            # Stripe sends the charge's event with the intent's (docs.stripe.com/api/events/types).
            self._emit("charge.succeeded", "charge", charge_id(it), "succeeded")
        return it.view

    def _fail(self, it: StoredIntent, code: str) -> IntentView:
        # Stripe detaches the failed payment method: a retry must bring a new one.
        it.payment_method = None
        it.view = attrs.evolve(
            it.view, status="requires_payment_method", last_error_code=code, next_action_url=None
        )
        self._emit("payment_intent.payment_failed", "payment_intent", it.view.id, it.view.status)
        if code != "payment_intent_authentication_failure":  # a charge was made and failed
            self._emit("charge.failed", "charge", charge_id(it), "failed")
        return it.view

    def _refund_changed(self, type_: str, refund_id: str, status: str) -> None:
        """A refund's change after its creation: its own event, then the
        ``charge.refund.updated`` Stripe sends alongside (its object is the refund;
        docs.stripe.com/api/events/types)."""
        self._emit(type_, "refund", refund_id, status)
        self._emit("charge.refund.updated", "refund", refund_id, status)

    def _emit(self, type_: str, kind: str, object_id: str, status: str) -> None:
        # An event's ``created`` is in seconds since the epoch (docs.stripe.com/api/events/object).
        n, now = self._next("evt"), self._clock.now() // 1000
        event = ProviderEvent(f"evt_{n:06d}", type_, now, kind, object_id, status)
        self._events.append(event)
        self._undelivered.append(event)

    def _next(self, prefix: str) -> int:
        self._seq[prefix] += 1
        return self._seq[prefix]

    def _ordered(self) -> list[StoredIntent]:
        return sorted(self._intents.values(), key=list_order)

    def _intent(self, intent_id: str) -> StoredIntent:
        it = self._intents.get(intent_id)
        if it is None:
            raise ProviderNotFound(f"No such payment_intent: '{intent_id}'", intent_id=intent_id)
        return it

    def _refund(self, refund_id: str) -> RefundView:
        rf = self._refunds.get(refund_id)
        if rf is None:
            raise ProviderNotFound(f"No such refund: '{refund_id}'", refund_id=refund_id)
        return rf

    def _expect(self, intent_id: str, allowed: Set[str], verb: str) -> StoredIntent:
        it = self._intent(intent_id)
        status = it.view.status
        if status not in allowed:
            msg = f"You cannot {verb} this PaymentIntent because it has a status of {status}."
            raise invalid_request(msg, intent_id=intent_id, status=status)
        return it

    @staticmethod
    def _check_method(method: str | None) -> None:
        check_method(method)


def charge_id(it: StoredIntent) -> str:
    """The id of the charge of the intent's latest confirmation attempt."""
    return f"ch_{it.view.id.removeprefix('pi_')}_{it.attempts}"


def whole_seconds(ms: int) -> int:
    """A moment as Stripe's ``created`` gives it, in the port's milliseconds: the whole
    second it falls in (docs.stripe.com/api/payment_intents/object: "Time at which the
    object was created. Measured in seconds since the Unix epoch"), times 1000."""
    return ms // 1000 * 1000


def list_order(it: StoredIntent) -> tuple[int, int]:
    """Creation time, then creation sequence for equal times: oldest first (Stripe lists
    the reverse, newest first: docs.stripe.com/api/pagination). ``created`` is whole
    seconds, so intents made in one second tie on it and keep their creation order."""
    return (it.view.created, it.seq)
