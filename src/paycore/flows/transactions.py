"""Store transactions of the engine, and what leaves only after their commit.

:class:`Transactions` is part of :class:`paycore.flows.engine.Engine`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from paycore.config import Config
from paycore.errors import CommitUnknown, StoreConflict
from paycore.ports import Alerts, Clock, Store, Tokens
from paycore.records import OutboxMessage
from paycore.unit import Unit

T = TypeVar("T")

#: The longest pause between two runs of a transaction refused for a conflict.
MAX_CONFLICT_PAUSE_MS = 100


class Transactions:
    """Runs a function in one store transaction as a :class:`Unit`; after the commit,
    tells the alerts port what it raised and runs its callbacks."""

    store: Store
    clock: Clock
    alerts: Alerts
    tokens: Tokens
    config: Config
    #: Per calling thread (by its id): outbox messages its committed transactions
    #: queued and nobody has taken yet (see :meth:`take_queued`).
    _queued: dict[int, list[OutboxMessage]]

    def transact(self, fn: Callable[[Unit], T], flow_id: str | None = None) -> T:
        """Run ``fn`` in one transaction; a transaction the store refused for a conflict
        with another (``StoreConflict``: it rolled back whole) runs again from its start,
        after a random pause, at most ``config.store_conflict_retries`` more times.

        One frame, not two: every store transaction of paycore comes through here."""
        attempt = 0
        while True:
            u: Unit | None = None
            try:
                with self.store.transaction() as tx:
                    u = Unit(tx, self.clock.now(), flow_id, self.tokens)
                    result = fn(u)
            except StoreConflict:
                if attempt >= self.config.store_conflict_retries:
                    raise
                attempt += 1
                pause_ms = min(
                    MAX_CONFLICT_PAUSE_MS, self.config.store_conflict_pause_ms << attempt
                )
                time.sleep(random.uniform(0, pause_ms) / 1000)
                continue
            except CommitUnknown:
                # The commit may have happened: an alert twice beats an alert lost. Its
                # notifications are left to the outbox job, which sends them only if the
                # commit happened (an order_paid email for a payment that is not is worse).
                if u is not None:
                    u.queued.clear()
                    self._after_commit(u)
                raise
            if u.queued or u.alerts or u.on_commit:  # most transactions leave nothing to tell
                self._after_commit(u)
            return result

    @property
    def outbox_pending(self) -> bool:
        """This thread's transactions queued a notification that was not taken yet."""
        return bool(self._queued.get(threading.get_ident()))

    def take_queued(self) -> list[OutboxMessage]:
        """The outbox messages this thread queued since the last call, in order, as their
        transactions committed them.

        A request sends exactly these after its commit; it never sends the backlog.
        """
        return self._queued.pop(threading.get_ident(), [])

    def _after_commit(self, u: Unit) -> None:
        if u.queued:
            self._queued.setdefault(threading.get_ident(), []).extend(u.queued)
        for kind, message, fields in u.alerts:
            self.alerts.alert(kind, message, **fields)
        for callback in u.on_commit:
            callback()
