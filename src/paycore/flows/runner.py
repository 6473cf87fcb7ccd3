"""Running a flow to completion: what production does with each operation.

:class:`Runner` is part of :class:`paycore.flows.engine.Engine`; the harness steps
flows one at a time instead (:meth:`Engine.step`).
"""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from paycore import schema as s
from paycore.config import Config
from paycore.errors import FlowPending, LeaseLost, PaycoreError
from paycore.flows import logs
from paycore.flows.defs import Outcome, Remote, StepReport, unexpected
from paycore.ports import Clock
from paycore.records import Flow
from paycore.status import FlowStatus
from paycore.unit import Unit

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runner(abc.ABC):
    """Part of the engine: :meth:`run` steps one flow until it ends or must wait. The
    engine supplies the abstract methods."""

    clock: Clock
    config: Config
    worker_id: str
    _inflight: dict[str, tuple[int, Remote[Any], Outcome[Any], str]]
    _flow_locks: dict[str, threading.Lock]
    _locks_guard: threading.Lock
    #: Ends a flow whose send step's result is recorded already (:mod:`.asking`).
    _settle: Callable[[Unit, Flow], str | None]

    @abc.abstractmethod
    def step(self, flow_id: str, known: Flow | None = None) -> StepReport: ...

    @abc.abstractmethod
    def load(self, flow_id: str) -> Flow | None: ...

    @abc.abstractmethod
    def strike(self, flow: Flow, why: str) -> StepReport: ...

    @abc.abstractmethod
    def transact(self, fn: Callable[[Unit], T], flow_id: str | None = None) -> T: ...

    def leased_elsewhere(self, flow: Flow, now: int) -> bool:
        """Does another worker hold ``flow``'s lease, live at ``now``?"""
        return flow.lease_owner not in (None, self.worker_id) and flow.lease_until > now

    def has_inflight(self, flow_id: str) -> bool:
        return flow_id in self._inflight

    def running(self, flow_id: str) -> bool:
        """Whether a thread of this worker is running the flow now (:meth:`run_replying`)."""
        lock = self._flow_locks.get(flow_id)
        return lock is not None and lock.locked()

    def run(self, flow_id: str) -> Flow:
        """Step a flow until it ends (see :meth:`run_replying`)."""
        return self.run_replying(flow_id)[0]

    def run_replying(self, flow_id: str, known: Flow | None = None) -> tuple[Flow, object]:
        """Step a flow until it ends; raise FlowPending if it must wait for a retry.
        Returns the flow, and what the step that ended it handed back (``Advance.reply``,
        None when no step of this run ended it).

        ``known``: the flow as the transaction that started it committed it (no read).

        Raises:
            FlowPending: the flow is durable and the recovery worker will finish it; also
                when an error that is not paycore's escaped the flow (it cost a strike).
            OperationalError: the store failed; nothing of the failed step was kept.
        """
        # Two threads of this process asking for the same flow (a double-clicked
        # checkout) take turns: the second finds the first one's result.
        with self._locks_guard:
            lock = self._flow_locks.get(flow_id)
            if lock is None:  # the usual case: no other thread runs this flow
                lock = self._flow_locks[flow_id] = threading.Lock()
        try:
            with lock:
                return self._run(flow_id, known)
        except Exception as exc:
            # An answer held in memory must not outlive this call: recovery skips flows
            # with one. Dropping it is safe: the repeated call reuses the same key.
            self._inflight.pop(flow_id, None)
            if isinstance(exc, PaycoreError):
                raise
            # Not paycore's error (an adapter's bug): the flow is durable, so it costs a
            # strike and waits for recovery like any retry; the caller, and a recovery
            # round going on with other flows, get a typed error naming only the type.
            why = unexpected(exc)
            logs.failure(
                log,
                f"flow {flow_id} stopped by an error that is not paycore's",
                exc,
                flow_id=flow_id,
            )
            self._strike_quietly(flow_id, why)
            raise FlowPending(
                f"operation {flow_id} is recorded but not finished ({why}); "
                "the recovery worker will finish it: poll its status or retry the call",
                flow_id=flow_id,
            ) from None
        except BaseException:
            self._inflight.pop(flow_id, None)
            raise
        finally:
            with self._locks_guard:
                if not lock.locked():
                    self._flow_locks.pop(flow_id, None)

    def _strike_quietly(self, flow_id: str, why: str) -> None:
        """Best effort: the store that just failed may fail again; the flow stays due."""
        try:
            flow = self.load(flow_id)
            if flow is not None:  # the strike's own transaction skips a flow that ended
                self.strike(flow, why)
        except Exception as exc:  # nothing more to do here; recovery meets the flow again
            logs.failure(log, f"flow {flow_id}: strike not recorded", exc, flow_id=flow_id)

    def take(self, flow_id: str) -> Flow | None:
        """Lease the flow to this worker as its run starts, in one transaction: the flow
        as taken (or as it ended), None if it is gone. A run that does not go on from
        its own commit takes the flow first (the checkout's seller check relies on it).

        The lease is counted from here, not from when a job selected the flow: each step
        of the run then commits a new one, so every provider call goes out under a lease
        with at least half of ``lease_ms`` left (see :meth:`Engine._step`).

        Raises:
            FlowPending: another worker holds the flow's lease, live; nothing changed.
        """

        def body(u: Unit) -> Flow | None:
            flow = u.get(s.FLOWS, flow_id)
            if flow is None or flow.status is not FlowStatus.ACTIVE:
                return flow
            if self.leased_elsewhere(flow, u.now):
                raise _held_elsewhere(flow_id)
            taken = u.save(
                s.FLOWS, flow, lease_owner=self.worker_id, lease_until=u.now + self.config.lease_ms
            )
            # A send step whose result was recorded meanwhile ends here, sending nothing.
            return taken if self._settle(u, taken) is None else u.get(s.FLOWS, flow_id)

        taken: Flow | None = self.transact(body, flow_id)
        return taken

    def _run(self, flow_id: str, known: Flow | None) -> tuple[Flow, object]:
        last_error: str | None = None
        if (known is None or known.lease_owner != self.worker_id) and not self.has_inflight(
            flow_id
        ):
            # An answer held in memory is applied first: its commit renews the lease.
            known = self.take(flow_id)
        for _ in range(self.config.max_steps_per_run):
            report = self.step(flow_id, known)
            flow = report.flow
            # What this worker's own commit left is what a read would find next.
            if report.result == "leased":
                raise _held_elsewhere(flow_id)
            committed = report.effect == "tx" or report.effect.startswith("apply:")
            known = flow if committed else None
            if flow is None:
                flow = self.load(flow_id)
            if flow is None:
                raise LeaseLost(f"flow {flow_id} vanished", flow_id=flow_id)
            if flow.status is not FlowStatus.ACTIVE:
                return flow, report.reply
            last_error = flow.last_error
            if flow.next_run_at > self.clock.now() and not self.has_inflight(flow_id):
                break
        raise FlowPending(
            f"operation {flow_id} is recorded but not finished ({last_error}); "
            "the recovery worker will finish it: poll its status or retry the call",
            flow_id=flow_id,
        )


def _held_elsewhere(flow_id: str) -> FlowPending:
    return FlowPending(
        f"operation {flow_id} is being run by another instance, which holds its lease: "
        "poll its status, or retry the call later",
        flow_id=flow_id,
    )
