"""Local wiring: a store, the fake provider, a manual clock, recording alerts and notifier.

Used by the demo, the benchmarks and the harness; a service can use it in
its own tests. The store is in memory unless one is given (the SQLite store, say).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import attrs

from paycore import schema as s
from paycore import wiring
from paycore.config import Config
from paycore.errors import PaycoreError
from paycore.invariants import Kind, Ledger, Violation, check
from paycore.ports import PaymentProvider, Store, Tokens
from paycore.records import OutboxMessage
from paycore.service import PaymentService
from paycore.tokens import SeededTokens

from .fake_provider import FakeProvider
from .memory_store import MemoryStore

#: 2026-01-01T00:00:00Z, a fixed start so runs replay exactly.
EPOCH_MS = 1_767_225_600_000


class LocalStore(Store, Protocol):
    """A store the harness and the tools can watch as well as use: the memory and SQLite
    stores are such stores."""

    #: Commits, rollbacks, and commits that wrote ("writes"), counted by this object.
    stats: dict[str, int]

    def table_versions(self) -> dict[str, int]:
        """Each table's count of writes made through this object, rolled back ones too."""

    def fingerprint(self) -> str:
        """A digest of all committed content (rows in insertion order and sequences)."""


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start_ms: int = EPOCH_MS) -> None:
        self._now = start_ms
        self._lock = threading.Lock()

    def now(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("time does not go backwards")
        with self._lock:
            self._now += ms


class SeededTokensReused(PaycoreError, code="seeded_tokens_reused"):
    """A seeded wiring was asked for on a store that already holds an installation: the
    seed's sequence made that installation, so it would draw that run's payment and refund
    references again, and two objects of two runs would share the identity meant to be
    unique across stores and time. Give ``tokens``: ``RandomTokens()``, or a sequence
    this store has not drawn from."""


@attrs.frozen
class AlertRecord:
    kind: str
    message: str
    fields: dict[str, Any]


class RecordingAlerts:
    def __init__(self) -> None:
        self.raised: list[AlertRecord] = []

    def alert(self, kind: str, message: str, **fields: Any) -> None:
        self.raised.append(AlertRecord(kind, message, fields))


class RecordingNotifier:
    """Delivers by recording; deduplicates by message id as a real mail API does by key."""

    def __init__(self) -> None:
        self.delivered: dict[str, OutboxMessage] = {}
        self.attempts = 0

    def send(self, message: OutboxMessage) -> None:
        self.attempts += 1
        self.delivered.setdefault(message.id, message)


@attrs.define
class Wiring:
    service: PaymentService
    store: LocalStore
    provider: FakeProvider
    clock: ManualClock
    alerts: RecordingAlerts
    notifier: RecordingNotifier
    #: What paycore's service talks to when not the fake itself: the fake behind another
    #: face (the Stripe adapter over the emulator's HTTP); the fake stays the far side.
    port: PaymentProvider | None = None
    #: Whether the service charges through Connect (``Ledger.connect``): the fake makes
    #: each request's account the charge's destination, as the Stripe adapter does with
    #: ``connect=True``, the one a wiring puts in front of it (``port``).
    connect: bool = True

    def ledger(self) -> Ledger:
        """The provider's books, the time and how the shop charges, for invariant checks."""
        return Ledger(
            self.provider.intents(), self.provider.refunds(), self.clock.now(), self.connect
        )

    def violations(self, *kinds: Kind) -> list[Violation]:
        """Every violated invariant of the given kinds (default: all)."""
        return check(self.store.snapshot(), self.ledger(), kinds or ("safety", "convergence"))


def in_memory(
    config: Config | None = None,
    worker_id: str = "worker-1",
    seed: int = 0,
    store: LocalStore | None = None,
    tokens: Tokens | None = None,
) -> Wiring:
    """Build a PaymentService on in-memory adapters (on ``store``, when given).

    Its random tokens (installation id, provider references) come from ``tokens``, or
    else from ``seed``, so a run replays exactly; give two wirings meant as two stores
    different seeds. A seeded sequence is for a store that holds no installation yet:
    on one that does (an earlier run's), give ``tokens``.

    Raises:
        InvalidInput: ``config`` is not a ``Config``, or ``store`` or ``tokens`` lacks
            its port's methods (named in ``field``).
        SeededTokensReused: ``store`` holds an installation and no ``tokens`` were given."""
    wiring.check_config(config)
    for field, part in (("store", store), ("tokens", tokens)):
        if part is not None:
            wiring.check_part(field, part)
    if tokens is None:
        if store is not None and _installed(store):
            raise SeededTokensReused(
                "this store already holds an installation: a seeded sequence would draw "
                "an earlier run's references again; give tokens (RandomTokens(), or a "
                "sequence this store has not drawn from)"
            )
        tokens = SeededTokens(seed)
    clock = ManualClock()
    store = store if store is not None else MemoryStore()
    provider = FakeProvider(clock)
    alerts = RecordingAlerts()
    notifier = RecordingNotifier()
    service = PaymentService(store, provider, clock, alerts, notifier, config, worker_id, tokens)
    return Wiring(service, store, provider, clock, alerts, notifier)


def _installed(store: Store) -> bool:
    """Whether ``store`` holds an installation (one row read)."""
    with store.transaction() as tx:
        return tx.get(s.INSTALLATION, "this") is not None
