"""Fault injection for the harness: provider calls, store commits, crashes, webhooks, clock.

A :class:`FaultPlan` is armed by the harness (Hypothesis or the explorer
chooses when) and fires on the next matching provider call or commit. It
counts what fired, so a run can prove that every kind of fault happened.
"""

from __future__ import annotations

import enum
import threading
from collections import Counter
from collections.abc import Callable

from paycore.errors import (
    CommitUnknown,
    OperationalError,
    ProviderIdempotencyInUse,
    ProviderRateLimited,
    ProviderUnavailable,
)

#: Stripe keeps an idempotency key's saved answer, a 500 included, this long.
KEY_RETENTION_MS = 86_400_000


class FaultKind(enum.StrEnum):
    """Every kind of fault the harness injects."""

    PROVIDER_DOWN = "provider_fail_before"
    RESPONSE_LOST = "provider_fail_after"
    SERVER_ERROR = "provider_5xx"
    RATE_LIMITED = "provider_rate_limited"
    KEY_IN_USE = "provider_key_in_use"
    COMMIT_FAILS = "commit_fails"
    COMMIT_UNKNOWN = "commit_unknown"
    CRASH = "worker_crash"
    WEBHOOK_DUPLICATE = "webhook_duplicate"
    WEBHOOK_REORDERED = "webhook_reordered"
    WEBHOOK_LATE = "webhook_late"
    WEBHOOK_STALE = "webhook_stale_timestamp"
    WEBHOOK_BAD_SIGNATURE = "webhook_bad_signature"
    CLOCK_PAST_TTL = "clock_past_reservation_ttl"
    CLOCK_PAST_KEYS = "clock_past_key_retention"
    CLOCK_PAST_SESSION = "clock_past_session_ttl"
    CLOCK_ON_EXPIRY = "clock_on_expiry_instant"
    PROVIDER_OUTAGE = "provider_outage"
    REQUEST_HELD = "provider_request_held"
    KEY_IN_USE_ANSWERED = "provider_key_in_use_answered"
    LOCK_TIMEOUT_ANSWERED = "provider_lock_timeout_answered"


PROVIDER_FAULTS = (
    FaultKind.PROVIDER_DOWN,
    FaultKind.RESPONSE_LOST,
    FaultKind.SERVER_ERROR,
    FaultKind.RATE_LIMITED,
    FaultKind.KEY_IN_USE,
    FaultKind.REQUEST_HELD,
)
#: The provider faults the exhaustive explorer injects: it copies worlds, and a fake
#: holding a request in flight cannot be copied (``provider_request_held`` is the random
#: harness's alone).
EXPLORED_PROVIDER_FAULTS = tuple(k for k in PROVIDER_FAULTS if k is not FaultKind.REQUEST_HELD)
#: The provider's own refusals of overlapping requests (not armed: counted as they come),
#: by the code the fake gives them (:mod:`paycore_adapters.fake_inflight`).
ANSWERED = {
    "provider_idempotency_in_use": FaultKind.KEY_IN_USE_ANSWERED,
    "provider_lock_timeout": FaultKind.LOCK_TIMEOUT_ANSWERED,
}
#: How long a held request runs on at the provider before it lands (its caller's read
#: timed out long before: stripe-python gives up after 80 s, ``stripe/_http_client.py``).
HELD_MS = 90_000
STORE_FAULTS = (FaultKind.COMMIT_FAILS, FaultKind.COMMIT_UNKNOWN)

DESCRIPTIONS: dict[FaultKind, str] = {
    FaultKind.PROVIDER_DOWN: "the next provider call fails before it reaches the provider",
    FaultKind.RESPONSE_LOST: (
        "the next provider call takes effect but its answer is lost (a timeout after success)"
    ),
    FaultKind.SERVER_ERROR: (
        "the next provider call answers 500, and the provider saves that answer under the "
        "idempotency key: retrying the same key gets the same 500 for 24 hours"
    ),
    FaultKind.RATE_LIMITED: "the next provider call is refused with 429 before any effect",
    FaultKind.KEY_IN_USE: (
        "the next provider call is refused: its key is used by a request still in flight"
    ),
    FaultKind.COMMIT_FAILS: "the next store commit fails; nothing of the transaction is kept",
    FaultKind.COMMIT_UNKNOWN: (
        "the next store commit succeeds but the caller sees an error (connection lost at commit)"
    ),
    FaultKind.CRASH: "the worker dies between two steps; answers it held in memory are lost",
    FaultKind.WEBHOOK_DUPLICATE: "a webhook is delivered twice",
    FaultKind.WEBHOOK_REORDERED: "a later webhook is delivered before an earlier one",
    FaultKind.WEBHOOK_LATE: "a webhook is held back and delivered after the clock moved on",
    FaultKind.WEBHOOK_STALE: (
        "a webhook arrives with a signature timestamp older than the 300 s tolerance; it is "
        "refused and the provider redelivers it"
    ),
    FaultKind.WEBHOOK_BAD_SIGNATURE: "a forged webhook with a wrong signature is refused",
    FaultKind.CLOCK_PAST_TTL: "the clock jumps past the reservation time-to-live",
    FaultKind.CLOCK_PAST_KEYS: "the clock jumps past the provider's 24 h idempotency-key retention",
    FaultKind.CLOCK_PAST_SESSION: "the clock jumps past the checkout session's lifetime",
    FaultKind.CLOCK_ON_EXPIRY: (
        "the clock lands exactly on a deadline: the instant a hold expires or a session ends"
    ),
    FaultKind.PROVIDER_OUTAGE: (
        "the provider is down from now until the clock passes the outage's end (seconds to "
        "days): every call answers 503 before any effect; the quiet phase rides it out"
    ),
    FaultKind.REQUEST_HELD: (
        "the next provider call starts and runs on at the provider: its caller gets no answer, "
        "its key and its intent stay taken until it lands, a minute and a half later"
    ),
    FaultKind.KEY_IN_USE_ANSWERED: (
        "the provider refused a call with 409 idempotency_key_in_use: a held request of its "
        "key was still running (counted, not armed)"
    ),
    FaultKind.LOCK_TIMEOUT_ANSWERED: (
        "the provider refused a call with 429 lock_timeout: a held request was changing the "
        "same intent (counted, not armed)"
    ),
}


class FaultPlan:
    """Armed faults, and a count of those that fired.

    Install by wrapping the adapters: ``FaultyStore(store, plan)`` and
    ``FaultyProvider(provider, plan)`` (:mod:`paycore_adapters.harness.faulty`).
    """

    def __init__(
        self, now: Callable[[], int] | None = None, hold: Callable[..., None] | None = None
    ) -> None:
        self._now = now
        self.provider_armed: list[FaultKind] = []
        #: the provider call each armed provider fault waits for (None: the next call)
        self.provider_targets: list[str | None] = []
        self.store_armed: list[FaultKind] = []
        self.fired: Counter[FaultKind] = Counter()
        self.enabled = True
        #: keys whose saved answer is a 500: key -> when it was saved
        self.poisoned: dict[str, int] = {}
        #: threads whose commit is applying and whose answer is to be lost
        self._commit_unknown_pending: set[int] = set()
        self.log: list[str] = []
        #: the provider is down until the clock reaches this instant (clock-driven)
        self.outage_until: int | None = None
        self._outage_seen = False
        #: holds the provider's next call in flight (``FakeProvider.hold_next``), if it can
        self.hold = hold

    def arm(self, kind: FaultKind, call: str | None = None) -> None:
        """Arm a fault for the next commit, or the next provider call (named ``call``)."""
        if kind in PROVIDER_FAULTS:
            self.provider_armed.append(kind)
            self.provider_targets.append(call)
        elif kind in STORE_FAULTS:
            self.store_armed.append(kind)
        else:
            raise ValueError(f"{kind} is not armed; the harness applies it directly")

    def start_outage(self, until: int) -> None:
        """Take the provider down until the clock reaches ``until`` (a later end extends
        an outage already on)."""
        if self.outage_until is None or until > self.outage_until:
            if self.outage_until is None:
                self._outage_seen = False
            self.outage_until = until

    def outage_on(self, now: int) -> bool:
        """Whether an outage is on at ``now``; one that is over is forgotten."""
        if self.outage_until is not None and now >= self.outage_until:
            self.outage_until = None
        return self.outage_until is not None

    def state_key(self) -> object:
        """What decides which faults fire next, as a picklable value (for the explorer):
        armed faults, whether faults are on, poisoned keys, lost commit answers pending,
        the outage. What fired and the log are left out."""
        return (
            self.provider_armed,
            self.provider_targets,
            self.store_armed,
            self.enabled,
            self.poisoned,
            sorted(self._commit_unknown_pending),
            self.outage_until,
            self._outage_seen,
        )

    def disarm_all(self) -> None:
        self.provider_armed.clear()
        self.provider_targets.clear()
        self.store_armed.clear()

    def note(self, kind: FaultKind, what: str) -> None:
        """Count a fault that the harness applied itself (crash, webhook, clock)."""
        self.fired[kind] += 1
        self.log.append(f"{kind.value}: {what}")

    # --- provider ---------------------------------------------------------------------

    def provider_refused(self, call: str, code: str) -> None:
        """The provider itself refused ``call`` with the error ``code``: count a 409 or
        429 it gave for a request in flight."""
        answered = ANSWERED.get(code)
        if answered is not None:
            self.note(answered, call)

    def provider_hook(self, call: str, phase: str, key: str | None) -> None:
        now = self._now() if self._now is not None else 0
        if phase == "before" and key is not None and key in self.poisoned:
            if now - self.poisoned[key] < KEY_RETENTION_MS:
                raise ProviderUnavailable(f"{call}: replayed saved 500 for key {key}")
            del self.poisoned[key]
        if self.enabled and phase == "before" and self.outage_on(now):
            if not self._outage_seen:
                self._outage_seen = True
                self.note(FaultKind.PROVIDER_OUTAGE, f"{call} (until {self.outage_until})")
            raise ProviderUnavailable(f"{call}: 503 from the provider (outage)")
        if not self.enabled or not self.provider_armed:
            return
        kind, target = self.provider_armed[0], self.provider_targets[0]
        if target is not None and target != call:
            return  # waits for its call
        if phase == "before" and kind is FaultKind.RESPONSE_LOST:
            return  # fires after the effect
        if phase == "after" and kind is not FaultKind.RESPONSE_LOST:
            return
        self.provider_armed.pop(0)
        self.provider_targets.pop(0)
        if kind is FaultKind.REQUEST_HELD and self.hold is None:
            # a provider that cannot hold a request fails the call before it: counted so,
            # never as a held request that did not happen
            kind = FaultKind.PROVIDER_DOWN
        self.note(kind, f"{call} ({phase})")
        if kind is FaultKind.RATE_LIMITED:
            raise ProviderRateLimited(f"{call}: injected 429")
        if kind is FaultKind.KEY_IN_USE:
            raise ProviderIdempotencyInUse(f"{call}: injected 409 key in use")
        if kind is FaultKind.REQUEST_HELD and self.hold is not None:
            self.hold(call, lands_after_ms=HELD_MS)
            return  # the provider takes the call and holds it
        if kind is FaultKind.SERVER_ERROR and key is not None:
            self.poisoned[key] = now
        raise ProviderUnavailable(f"{call}: injected {kind.value}")

    # --- store (the StoreFaults protocol) ----------------------------------------------

    def quiet_commits(self) -> bool:
        """Whether no commit can fail now: no store fault armed while faults are on, and
        no lost commit answer pending (``FaultyStore`` then skips its bookkeeping)."""
        return not (self.enabled and self.store_armed) and not self._commit_unknown_pending

    def before_commit(self) -> None:
        if not self.enabled or not self.store_armed:
            return
        kind = self.store_armed.pop(0)
        if kind is FaultKind.COMMIT_FAILS:
            self.note(kind, "commit refused")
            raise OperationalError("injected: commit failed")
        # The commit is this thread's: another thread may commit before this one's
        # after_commit (the store's lock is released in between).
        self._commit_unknown_pending.add(threading.get_ident())

    def after_commit(self) -> None:
        me = threading.get_ident()
        if me in self._commit_unknown_pending:
            self._commit_unknown_pending.discard(me)
            self.note(FaultKind.COMMIT_UNKNOWN, "commit applied, answer lost")
            raise CommitUnknown("injected: connection lost during commit")
