"""A circuit breaker around the payment provider: new checkouts fail fast in an outage.

After ``fail_max`` answers in a row that say the provider is away (timeouts, dropped
connections, 5xx: :class:`~paycore.errors.ProviderUnavailable`), the breaker opens. While
it is open, the seller check (``retrieve_account``: the first provider call of a new checkout)
is refused at once with :class:`~paycore.errors.ProviderCircuitOpen`, before any request
of that checkout is sent: the checkout releases its stock and the customer hears at
once, instead of waiting out the retries of a provider that is down. Every other call
goes through: recovery, the reconciler and the sync jobs keep asking about the payments
already made, and the first answer any of them gets (a view or a definite refusal: the
provider is there) closes the breaker. Once ``reset_ms`` passed since it opened, one new
checkout is let through as a trial; its answer closes the breaker, its failure opens it
again. A trial belongs to its half-open period: :meth:`Breaker.admit` hands it a ticket,
and once the breaker moved on (another call's answer closed it), the trial's late
failure counts as any call's, and its end frees no later period's trial.

Why not a library (``docs/design-notes.md``): pybreaker holds its lock for the whole
guarded call, so it would let one provider request run at a time in the process; both
pybreaker and purgatory read the wall clock, where paycore's flows and its harness run on
the injected :class:`~paycore.ports.Clock`; and neither gates some calls while others
probe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from paycore.errors import (
    InvalidInput,
    ProviderCircuitOpen,
    ProviderError,
    ProviderUnavailable,
)
from paycore.ports import (
    AccountView,
    Clock,
    CreateIntent,
    DisputeView,
    IntentView,
    ListPage,
    PaymentProvider,
    RefundView,
)

log = logging.getLogger(__name__)

R = TypeVar("R")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Breaker:
    """The breaker's state; thread-safe, and never held while a request runs."""

    def __init__(self, clock: Clock, *, fail_max: int = 5, reset_ms: int = 30_000) -> None:
        for name, value in (("fail_max", fail_max), ("reset_ms", reset_ms)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name} must be a whole number of at least 1, got {value!r}")
        self.clock = clock
        self.fail_max = fail_max
        self.reset_ms = reset_ms
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0
        #: The ticket of the half-open period's outstanding trial, if any.
        self._trial: int | None = None
        self._tickets = 0
        self._lock = threading.Lock()

    def admit(self) -> int | None:
        """Let a new checkout's request through, or refuse it. Returns None, or the ticket
        of a half-open breaker's trial request (its answer decides): pass it to
        :meth:`answered`, :meth:`failed` or :meth:`abandoned`."""
        with self._lock:
            if self.state == CLOSED:
                return None
            now = self.clock.now()
            if self.state == OPEN and now - self.opened_at >= self.reset_ms:
                self._move(HALF_OPEN, "a new checkout is let through as a trial")
            if self.state == HALF_OPEN and self._trial is None:
                self._tickets += 1
                self._trial = self._tickets
                return self._trial
            wait_ms = max(0, self.opened_at + self.reset_ms - now)
        raise ProviderCircuitOpen(
            f"the payment provider did not answer {self.fail_max} times in a row: new "
            f"checkouts are refused for now (nothing was sent); try again in a minute",
            retry_after_ms=wait_ms,
        )

    def answered(self, trial: int | None = None) -> None:
        """The provider answered (a view or a definite refusal): it is there."""
        with self._lock:
            self.failures = 0
            if self.state != CLOSED:
                self._move(CLOSED, "the provider answered")

    def failed(self, trial: int | None = None) -> None:
        """The provider did not answer (a timeout, a dropped connection, a 5xx). Only the
        current half-open period's trial reopens the breaker; a trial whose period ended
        (the breaker closed meanwhile) counts as any call."""
        with self._lock:
            self.failures += 1
            if trial is not None and trial == self._trial:
                self._open("the trial request failed too")
            elif self.state == CLOSED and self.failures >= self.fail_max:
                self._open(f"{self.failures} requests in a row got no answer")

    def abandoned(self, trial: int | None) -> None:
        """A call ended without the provider's answer: if it was the current trial, another
        may be let through."""
        with self._lock:
            if trial is not None and trial == self._trial:
                self._trial = None

    def _open(self, why: str) -> None:
        self.opened_at = self.clock.now()
        self._move(OPEN, why)

    def _move(self, state: str, why: str) -> None:
        self._trial = None  # a trial belongs to one half-open period
        level = logging.WARNING if state == OPEN else logging.INFO
        log.log(
            level,
            "provider circuit %s -> %s: %s",
            self.state,
            state,
            why,
            extra={"circuit_from": self.state, "circuit_to": state, "failures": self.failures},
        )
        self.state = state


class BreakerProvider:
    """A :class:`PaymentProvider` that runs ``provider``'s calls through a :class:`Breaker`:
    the seller check that starts a checkout is gated, every call's answer is counted."""

    def __init__(self, provider: PaymentProvider, breaker: Breaker) -> None:
        self.inner = provider
        self.breaker = breaker

    def _run(self, run: Callable[[], R], trial: int | None = None) -> R:
        try:
            result = run()
        except ProviderUnavailable:
            self.breaker.failed(trial)
            raise
        except ProviderError:
            self.breaker.answered(trial)  # a refusal is an answer: the provider is there
            raise
        except BaseException:
            # Not the provider's answer (a bug, an interrupt): it decides nothing, but a
            # trial must not stay outstanding.
            self.breaker.abandoned(trial)
            raise
        self.breaker.answered(trial)
        return result

    def create_intent(self, req: CreateIntent, *, idempotency_key: str) -> IntentView:
        # Not gated: a checkout that passed its seller check may be replaying its key.
        return self._run(lambda: self.inner.create_intent(req, idempotency_key=idempotency_key))

    def confirm_intent(
        self,
        intent_id: str,
        *,
        payment_method: str | None,
        return_url: str | None,
        idempotency_key: str,
    ) -> IntentView:
        return self._run(
            lambda: self.inner.confirm_intent(
                intent_id,
                payment_method=payment_method,
                return_url=return_url,
                idempotency_key=idempotency_key,
            )
        )

    def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> IntentView:
        return self._run(
            lambda: self.inner.cancel_intent(intent_id, idempotency_key=idempotency_key)
        )

    def capture_intent(self, intent_id: str, *, idempotency_key: str) -> IntentView:
        return self._run(
            lambda: self.inner.capture_intent(intent_id, idempotency_key=idempotency_key)
        )

    def retrieve_intent(self, intent_id: str) -> IntentView:
        return self._run(lambda: self.inner.retrieve_intent(intent_id))

    def search_intents(self, *, metadata_key: str, value: str) -> list[IntentView]:
        return self._run(lambda: self.inner.search_intents(metadata_key=metadata_key, value=value))

    def list_intents(
        self,
        *,
        created_gte_s: int,
        created_lt_s: int | None = None,
        limit: int = 10,
        starting_after: str | None = None,
    ) -> ListPage[IntentView]:
        return self._run(
            lambda: self.inner.list_intents(
                created_gte_s=created_gte_s,
                created_lt_s=created_lt_s,
                limit=limit,
                starting_after=starting_after,
            )
        )

    def create_refund(
        self,
        intent_id: str,
        *,
        amount: int,
        reason: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> RefundView:
        return self._run(
            lambda: self.inner.create_refund(
                intent_id,
                amount=amount,
                reason=reason,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )

    def retrieve_refund(self, refund_id: str) -> RefundView:
        return self._run(lambda: self.inner.retrieve_refund(refund_id))

    def list_refunds(
        self, intent_id: str, *, limit: int = 10, starting_after: str | None = None
    ) -> ListPage[RefundView]:
        return self._run(
            lambda: self.inner.list_refunds(intent_id, limit=limit, starting_after=starting_after)
        )

    def list_disputes(
        self, *, created_gte_s: int, limit: int = 10, starting_after: str | None = None
    ) -> ListPage[DisputeView]:
        return self._run(
            lambda: self.inner.list_disputes(
                created_gte_s=created_gte_s, limit=limit, starting_after=starting_after
            )
        )

    def retrieve_account(self, account: str) -> AccountView:
        trial = self.breaker.admit()
        return self._run(lambda: self.inner.retrieve_account(account), trial)
