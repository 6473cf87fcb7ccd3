"""Requests that overlap in the fake provider: a request held in flight, the 409 and 429
Stripe answers while it runs, and an outcome saved as a 500.

Stripe runs requests at once, so two can overlap. The fake runs each call to the end
unless told otherwise: :meth:`InFlightLedger.hold_next` makes the next keyed request
start (validated, its key and its intent taken) without finishing. Its caller gets no
answer (:class:`~paycore.errors.ProviderUnavailable`, as a client whose read timed out:
stripe-python's ``RequestsClient`` gives up after 80 s, ``stripe/_http_client.py``)
while the request goes on at the provider. Until it is released:

- a request with the same idempotency key is refused with HTTP 409 and the code
  ``idempotency_key_in_use`` (docs.stripe.com/error-codes#idempotency-key-in-use; the
  status: docs.stripe.com/error-low-level, "409 Conflict: the request conflicts with
  another request (perhaps due to using the same idempotent key)"). Nothing is saved under
  the key for the refused request: Stripe saves a result only once the endpoint began
  executing, never for a request that conflicted with a concurrent one
  (docs.stripe.com/api/idempotent_requests);
- a request with another key that changes the same intent (confirm, cancel, capture, a
  refund of it) is refused with HTTP 429 and the code ``lock_timeout``, having done
  nothing (docs.stripe.com/error-codes#lock-timeout; unsourced here: no copy of that
  page was at hand, the code's name and status are as Stripe's error-code list gives
  them). stripe-python raises a 409 as a plain ``APIError`` and a 429 as a
  ``RateLimitError``, the code only in ``e.code`` (``stripe/_api_requestor.py``,
  ``specific_v1_api_error``); an adapter maps them to
  :class:`~paycore.errors.ProviderIdempotencyInUse` and
  :class:`~paycore.errors.ProviderLockTimeout`.

:meth:`InFlightLedger.release_requests` lets the held requests finish, in the order they
began: each applies its effect and saves its outcome under its key, as if it had never
been held. A held request also lands by itself at the first port call (a request or a
read) once the clock reached the moment given to :meth:`~InFlightLedger.hold_next`.

:meth:`InFlightLedger.fail_next_with_500` makes the next keyed request end in a 500 that
is saved under its key: "Subsequent requests with the same key return the same result,
including 500 errors" (docs.stripe.com/api/idempotent_requests). Whether the request's
effect happened is not knowable from a 500 ("treat the result of a 500 request as
indeterminate ... the original key may have produced side effects",
docs.stripe.com/error-low-level), so the caller says which: ``applied=True`` makes the
effect and hides it behind the 500, ``applied=False`` makes none.

The held requests are the fake's running state: they are not saved in its books
(:mod:`paycore_adapters.fake_state`), and a fake holding one cannot be copied.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Self, TypeVar

from paycore.errors import (
    ProviderError,
    ProviderIdempotencyInUse,
    ProviderLockTimeout,
    ProviderUnavailable,
)
from paycore.ports import Clock, IntentView, RefundView

from .fake_ledger import FakeLedger, SavedOutcome
from .fake_limits import IDEMPOTENCY_KEPT_MS, IDEMPOTENCY_KEY_MAX

V = TypeVar("V", IntentView, RefundView)
R = TypeVar("R")


@dataclass(frozen=True)
class HeldRequest:
    """A request that began and has not finished: its key and its intent are taken."""

    endpoint: str
    key: str
    params: tuple[object, ...]
    #: the intent it changes ("" for a create, which changes none yet)
    intent_id: str
    started_at: int
    #: when it lands by itself (None: only when released)
    lands_at: int | None
    execute: Callable[[], IntentView | RefundView]


@dataclass(frozen=True)
class Armed:
    """A hold or a 500 waiting for the next keyed request (of ``endpoint``, if set)."""

    endpoint: str | None
    lands_after_ms: int | None = None
    applied: bool = False


def intent_of(endpoint: str, params: tuple[object, ...]) -> str:
    """The intent a keyed request changes: every keyed endpoint but ``create_intent``
    names it first in its parameters."""
    return "" if endpoint == "create_intent" else str(params[0])


class InFlightLedger(FakeLedger):
    """The fake's books with requests that may overlap (see the module's text)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self._held: list[HeldRequest] = []
        self._holds: list[Armed] = []
        self._fails: list[Armed] = []
        #: the 409 and 429 answers given, by code (a run shows they happened)
        self.conflicts: dict[str, int] = {"idempotency_key_in_use": 0, "lock_timeout": 0}

    # --- the far side's controls (not part of the port) -----------------------------

    def hold_next(self, endpoint: str | None = None, *, lands_after_ms: int | None = None) -> None:
        """Hold the next keyed request (of ``endpoint``) in flight; it lands when released,
        or by itself at the first call ``lands_after_ms`` after it began."""
        with self._lock:
            self._holds.append(Armed(endpoint, lands_after_ms))

    def fail_next_with_500(self, endpoint: str | None = None, *, applied: bool) -> None:
        """End the next keyed request (of ``endpoint``) in a 500 saved under its key, its
        effect made (``applied``) or not."""
        with self._lock:
            self._fails.append(Armed(endpoint, applied=applied))

    def held_requests(self) -> list[tuple[str, str]]:
        """The requests in flight, as (endpoint, idempotency key), oldest first."""
        with self._lock:
            return [(h.endpoint, h.key) for h in self._held]

    def release_requests(self) -> list[IntentView | RefundView | ProviderError]:
        """Let every held request finish, oldest first; their outcomes, in that order."""
        with self._lock:
            done, self._held = self._held, []
            return [self._land(h) for h in done]

    def drop_requests(self) -> None:
        """Every held request ends without an effect and saves nothing (a request that
        never lands: a test's device; what Stripe saves then is unsourced)."""
        with self._lock:
            self._held = []

    # --- internals ---------------------------------------------------------------------

    def _land(self, held: HeldRequest) -> IntentView | RefundView | ProviderError:
        outcome: IntentView | RefundView | ProviderError
        try:
            outcome = held.execute()
        except ProviderError as err:
            outcome = err
        self._saved[held.key] = SavedOutcome(held.endpoint, held.params, outcome, held.started_at)
        return outcome

    def _land_due(self) -> None:
        if not self._held:  # the usual case: nothing in flight
            return
        now = self._clock.now()
        due = [h for h in self._held if h.lands_at is not None and h.lands_at <= now]
        if due:
            self._held = [h for h in self._held if h not in due]
            for held in due:
                self._land(held)

    def _read(self, name: str, run: Callable[[], R]) -> R:
        with self._lock:
            self._land_due()
            return super()._read(name, run)

    def _mutate(
        self,
        endpoint: str,
        key: str,
        params: tuple[object, ...],
        validate: Callable[[], object],
        execute: Callable[[], V],
    ) -> V:
        with self._lock:
            self._land_due()
            if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
                return super()._mutate(endpoint, key, params, validate, execute)  # refused
            held = self._held
            if held and any(h.key == key for h in held):
                self._refuse(endpoint, "idempotency_key_in_use", key)
            saved = self._saved.get(key)
            if saved is not None and self._clock.now() - saved.at <= IDEMPOTENCY_KEPT_MS:
                return super()._mutate(endpoint, key, params, validate, execute)  # a replay
            intent_id = intent_of(endpoint, params)
            if held and intent_id and any(h.intent_id == intent_id for h in held):
                self._refuse(endpoint, "lock_timeout", intent_id)
            armed = (*self._holds, *self._fails)  # usually none
            if not armed or not any(a.endpoint in (None, endpoint) for a in armed):
                return super()._mutate(endpoint, key, params, validate, execute)
            self.calls[endpoint] += 1
            validate()  # a refused request is neither held nor saved; what is armed waits on
            now = self._clock.now()
            fail = _take(self._fails, endpoint)
            if fail is not None:
                self._fail_500(endpoint, key, params, execute, fail.applied)
            hold = _take(self._holds, endpoint)
            assert hold is not None
            lands = None if hold.lands_after_ms is None else now + hold.lands_after_ms
            self._held.append(HeldRequest(endpoint, key, params, intent_id, now, lands, execute))
            # answer="none": the caller heard nothing (an emulator drops the connection)
            raise ProviderUnavailable(
                f"{endpoint}: no answer (the request is still running)", answer="none"
            )

    def _fail_500(
        self,
        endpoint: str,
        key: str,
        params: tuple[object, ...],
        execute: Callable[[], object],
        applied: bool,
    ) -> NoReturn:
        if applied:
            with contextlib.suppress(ProviderError):  # its own error hides behind the 500 too
                execute()
        err = ProviderUnavailable(
            f"{endpoint}: 500 from the provider (saved under the key)", answer="500"
        )
        self._saved[key] = SavedOutcome(endpoint, params, err, self._clock.now())
        raise ProviderUnavailable(err.message, answer="500")

    def _refuse(self, endpoint: str, code: str, what: str) -> NoReturn:
        self.calls[endpoint] += 1
        self.conflicts[code] += 1
        if code == "idempotency_key_in_use":
            raise ProviderIdempotencyInUse(
                f"A request with this idempotency key is still running ({endpoint}); send "
                "it again once that one has finished.",
                error_code=code,
                endpoint=endpoint,
            )
        raise ProviderLockTimeout(
            f"{what} is being changed by another request; nothing was done, send it again.",
            error_code=code,
            endpoint=endpoint,
            intent_id=what,
        )

    # --- copies -------------------------------------------------------------------------

    def load_books(self, books: Mapping[str, Any]) -> None:
        with self._lock:
            self._held = []
            super().load_books(books)

    def clone(self, clock: Clock) -> Self:
        with self._lock:
            if self._held:
                raise RuntimeError("a fake with requests in flight cannot be copied")
            twin = super().clone(clock)
            twin._held = []
            twin._holds, twin._fails = list(self._holds), list(self._fails)
            twin.conflicts = dict(self.conflicts)
            return twin

    def state_key(self) -> object:
        with self._lock:
            held = [(h.endpoint, h.key, h.params, h.started_at, h.lands_at) for h in self._held]
            return (super().state_key(), held, self._holds, self._fails)


def _take(armed: list[Armed], endpoint: str) -> Armed | None:
    """The first armed entry for ``endpoint`` (or for any), taken off the list."""
    for i, entry in enumerate(armed):
        if entry.endpoint in (None, endpoint):
            return armed.pop(i)
    return None
