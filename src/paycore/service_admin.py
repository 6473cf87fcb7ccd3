"""The service's background jobs, reads and operator methods."""

from __future__ import annotations

import abc
import logging

from paycore import catalog, job_health, jobs, operations, outbox
from paycore import schema as s
from paycore.config import Config
from paycore.errors import PaycoreError
from paycore.flows import payments
from paycore.flows.engine import unexpected
from paycore.ports import Notifier
from paycore.records import Alert, Flow, Order, Payment, Refund
from paycore.results import JobReport
from paycore.service_catalog import CatalogMethods
from paycore.status import FlowStatus

log = logging.getLogger(__name__)


class AdminMethods(CatalogMethods, abc.ABC):
    """Part of :class:`paycore.service.PaymentService`: jobs, reads and operators (the
    service supplies the abstract methods)."""

    config: Config
    notifier: Notifier
    operator: operations.Operator

    @abc.abstractmethod
    def _finish(self, flow_id: str, known: Flow | None = None) -> Flow: ...

    # --- jobs ------------------------------------------------------------------------

    def run_janitor(self) -> int:
        started = jobs.janitor(self.engine)
        for fid in started:
            self._finish_quietly(fid)
        return len(started)

    def run_recovery(self) -> tuple[int, int]:
        """Resume every due flow. Returns (finished, still pending)."""
        done = pending = 0
        for fid in jobs.due_flows(self.engine):
            if self._finish_quietly(fid):
                done += 1
            else:
                pending += 1
        return done, pending

    def run_reconciler(self) -> tuple[int, int]:
        """Returns (orphan flows started, pending refunds synced); the flows it revived
        run too, and are counted by :meth:`run_jobs` (``JobReport.revived``)."""
        try:
            started, synced = self._reconcile()[0], jobs.sync_pending_refunds(self.engine)
            jobs.find_external_refunds(self.engine)
            return started, synced
        finally:
            self._send_queued()  # what the syncs queued, so no later request sends it

    def _reconcile(self) -> tuple[int, int]:
        """Run the reconciler and the flows it started or revived: (started, revived)."""
        run = jobs.reconcile_counted(self.engine)
        for fid in (*run.started, *run.revived):
            self._finish_quietly(fid)
        return len(run.started), len(run.revived)

    def dispatch_notifications(self) -> int:
        return jobs.dispatch_outbox(self.engine, self.notifier)

    def run_jobs(self) -> JobReport:
        """One round of every background job, in a sensible order.

        Each job runs on its own: one that fails (the provider is down, say) is
        recorded, alerted after repeated failures and listed in ``failed``, and
        the others still run.
        """
        eng = self.engine
        janitor = job_health.run_job(eng, "janitor", self.run_janitor)
        reconciler = job_health.run_job(eng, "reconciler", self._reconcile)
        synced = job_health.run_job(eng, "refund_sync", lambda: jobs.sync_pending_refunds(eng))
        external = job_health.run_job(
            eng, "external_refunds", lambda: jobs.find_external_refunds(eng)
        )
        recovery = job_health.run_job(eng, "recovery", self.run_recovery)
        outbox_ = job_health.run_job(eng, "outbox", self.dispatch_notifications)
        recovered, pending = recovery.value or (0, 0)
        started, revived = reconciler.value or (0, 0)
        return JobReport(
            janitor.value or 0,
            recovered,
            pending,
            started,
            synced.value or 0,
            outbox_.value or 0,
            failed=tuple(
                o.name
                for o in (janitor, reconciler, synced, external, recovery, outbox_)
                if not o.ok
            ),
            external_refunds_recorded=external.value or 0,
            revived=revived,
        )

    # --- reads ------------------------------------------------------------------------

    def payment(self, payment_id: str) -> Payment:
        return self._tx(lambda u: payments.load_payment(u, payment_id))

    def order(self, order_id: str) -> Order | None:
        """The order, or None if there is none. Raises InvalidInput for a malformed id."""
        oid = catalog.text("order_id", order_id)
        return self._tx(lambda u: u.get(s.ORDERS, oid))

    def refunds_of(self, payment_id: str) -> list[Refund]:
        """The payment's refunds; none for a well-formed id that names no payment.

        Raises:
            PaymentNotFound: a malformed id (not a string, blank, or with a NUL or a lone
                surrogate), as :meth:`payment` and :meth:`create_refund` say.
        """
        pid = payments.check_payment_id(payment_id)
        return self._tx(lambda u: u.find(s.REFUNDS, "payment_id", pid))

    # --- operators --------------------------------------------------------------------

    def flows(self, state: FlowStatus | str | None = None) -> list[Flow]:
        """Flows in ``state`` ("active", "dead", ...; None for all), oldest first.

        Raises:
            InvalidInput: an unknown state.
        """
        return self.operator.flows(state)

    def flow(self, flow_id: str) -> Flow:
        """One flow. Raises: FlowNotFound."""
        return self.operator.flow(flow_id)

    def revive_flow(self, flow_id: str) -> Flow:
        """Resume a dead flow at its recovery point with a fresh retry budget, and run it.

        Raises:
            FlowNotFound, FlowNotRevivable: nothing changed.
        """
        self.operator.revive(flow_id)
        self._finish_quietly(flow_id)
        return self.flow(flow_id)

    def abandon_flow(self, flow_id: str) -> Flow:
        """Give up a dead or retrying flow: run its compensation (a checkout cancels any
        intent it made, then releases its stock). Retrying: active, failed at least once,
        and run by nobody now (no other instance holds its lease live, no thread of this
        one runs it).

        Raises:
            FlowNotFound, FlowNotAbandonable: nothing changed.
        """
        self.operator.abandon(flow_id)
        self._finish_quietly(flow_id)
        return self.flow(flow_id)

    def attention(self) -> list[operations.AttentionItem]:
        """What needs a human: every open alert, and every dead flow."""
        return self.operator.attention()

    def resolve_alert(self, alert_id: str, resolution: str, force: bool = False) -> Alert:
        """Close an open alert, saying what was done. A ``refund_failed`` alert whose money
        is not back is closed only with ``force`` (the money went back outside paycore:
        :func:`paycore.attention.resolve_alert`).

        Raises:
            AlertNotFound, InvalidInput: nothing changed.
        """
        return self.operator.resolve_alert(alert_id, resolution, force)

    def _send_queued(self) -> None:
        """Send what this call queued, and nothing else; never fail because of it. With
        ``Config.notify_in_requests`` off, nothing: the outbox job sends it."""
        queued = self.engine.take_queued()
        if queued and self.config.notify_in_requests:
            outbox.send_own(self.engine, self.notifier, queued)

    def _finish_quietly(self, flow_id: str) -> bool:
        """Run a flow for a job; its failure is the flow's alone, never the job round's."""
        try:
            self._finish(flow_id)
        except PaycoreError:
            return False
        except Exception as exc:  # not paycore's (an adapter's bug): by type, never message
            log.warning("flow %s left for a later round: %s", flow_id, unexpected(exc))
            return False
        return True
