"""The flow engine: operations as resumable step machines.

A flow is a durable record (:class:`paycore.records.Flow`) whose ``step``
names its recovery point. A step is exactly one of:

- :class:`Local`: one atomic store transaction; the flow's next recovery
  point is written in the same transaction as the step's effects;
- :class:`Remote`: one provider call with a deterministic idempotency key.
  Its outcome is held in memory only until the next step records it in a
  transaction. A crash in between loses the outcome, not the effect: the
  resumed flow repeats the call with the same key (or first asks the
  provider), so no effect ever happens twice.

Production runs a flow to completion in one call (:meth:`Engine.run`); the
harness advances flows one step at a time (:meth:`Engine.step`) and chooses
the interleaving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from paycore import schema as s
from paycore.config import Config
from paycore.errors import (
    LeaseLost,
    OperationalError,
    PaycoreError,
    ProviderError,
    ProviderUnavailable,
)
from paycore.flows import logs, policy, retry
from paycore.flows.asking import SENT, Asking
from paycore.flows.defs import (
    Advance,
    Effect,
    FlowDef,
    FlowDefinitionError,
    Local,
    Outcome,
    Remote,
    StepFn,
    StepReport,
    StepSpec,
    UndeclaredStep,
    create_flow,
    current_flow,
    key,
    retry_on,
    step,
    unexpected,
)
from paycore.flows.retrying import Retrying
from paycore.flows.runner import Runner
from paycore.flows.transactions import Transactions
from paycore.machines import FLOW
from paycore.ports import Alerts, Clock, PaymentProvider, Store, Tokens
from paycore.records import Flow, OutboxMessage
from paycore.redaction import redact_error
from paycore.status import FlowStatus
from paycore.tokens import RandomTokens
from paycore.unit import Unit, evolve

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Flows an engine remembers having logged a raw provider error of at ERROR.
RAW_LOGGED_MAX = 10_000


class Engine(Transactions, Runner, Retrying, Asking):
    """Executes flow steps against a store and a provider."""

    def __init__(
        self,
        store: Store,
        provider: PaymentProvider,
        clock: Clock,
        alerts: Alerts,
        config: Config,
        defs: Mapping[str, FlowDef],
        worker_id: str = "worker-1",
        tokens: Tokens | None = None,
    ) -> None:
        self.store = store
        self.tokens: Tokens = tokens if tokens is not None else RandomTokens()
        self.provider = provider
        self.clock = clock
        self.alerts = alerts
        self.config = config
        self.defs = dict(defs)
        self.worker_id = worker_id
        #: Provider answers held in memory, by flow id: (the flow's version, the call,
        #: its outcome, the step that made the call).
        self._inflight: dict[str, tuple[int, Remote[Any], Outcome[Any], str]] = {}
        self._flow_locks: dict[str, threading.Lock] = {}
        #: Per calling thread (by its id): outbox messages its committed transactions
        #: queued and nobody has taken yet (see :meth:`take_queued`). A plain dict, not
        #: a ``threading.local``, so that an engine can be copied.
        self._queued: dict[int, list[OutboxMessage]] = {}
        self._locks_guard = threading.Lock()
        #: Flows whose raw provider error was logged at ERROR (:meth:`_raw_error`).
        self._raw_logged: set[str] = set()

    def load(self, flow_id: str) -> Flow | None:
        """The flow as committed; a read refused for a conflict runs again (``transact``)."""
        return self.transact(lambda u: u.tx.get(s.FLOWS, flow_id), flow_id)

    # --- stepping ---------------------------------------------------------------

    def held_answers(self) -> list[tuple[str, int, Remote[Any], Outcome[Any]]]:
        """The provider answers this worker holds in memory, not applied yet (what a
        crash loses), by flow id: (flow id, the flow's version, the call, its outcome)."""
        return [(fid, *held[:3]) for fid, held in sorted(self._inflight.items())]

    def forget_inflight(self) -> None:
        """A crash: every outcome held in memory is lost; durable state stays."""
        self._inflight.clear()

    def step(self, flow_id: str, known: Flow | None = None) -> StepReport:
        """Execute exactly one step of an active flow.

        ``known`` is the flow as this worker's last step committed it: a run that goes
        on from there needs no read of its own (the step's transaction checks the
        version anyway, so a flow that moved on meanwhile is never written over)."""
        report = self._step(flow_id, known)
        if log.isEnabledFor(logging.DEBUG):
            logs.step(log, report)
        return report

    def _step(self, flow_id: str, known: Flow | None) -> StepReport:
        pending = self._inflight.pop(flow_id, None)
        if pending is not None:
            version, remote, outcome, at = pending
            return self._commit_step(
                flow_id,
                f"apply:{remote.call_name}",
                lambda u, f: policy.apply(remote, u, f, outcome),
                expect_version=version,
                at=at,
            )
        flow, settled = (known, None) if known is not None else self._load_settling(flow_id)
        if settled is not None or flow is None or flow.status is not FlowStatus.ACTIVE:
            kind = "?" if flow is None else flow.kind
            return settled or StepReport(flow_id, kind, "-", "none", "inactive", flow)
        if known is None and self.leased_elsewhere(flow, self.clock.now()):
            # Another worker holds it live (took this one's lapsed lease): no call from here.
            return StepReport(flow_id, flow.kind, flow.step, "none", "leased", flow)
        try:
            fdef = self.defs[flow.kind]
            if self._asks_first(fdef, flow, flow.step):
                ask = fdef.ask_first[flow.step]
                return self._commit_step(
                    flow_id, "tx", lambda u, f: Advance(to=ask), expect_version=flow.version
                )
            effect = fdef.run_of(flow.step)(flow)
        except PaycoreError:
            raise
        except Exception as exc:
            # The step could not even say what to do (a bug, or a record this code cannot
            # read): a strike, so the flow backs off and ends with an alert, and the
            # worker goes on with other flows.
            what = f"flow {flow.id} ({flow.kind}) could not build its step {flow.step}"
            logs.failure(log, what, exc, **logs.flow_fields(flow))
            return self.strike(flow, unexpected(exc))
        if isinstance(effect, Local):
            return self._commit_step(flow_id, "tx", effect.fn, expect_version=flow.version)
        if self._records_sends(fdef, flow.step):
            recorded = self._record_send(flow)
            if recorded is None:
                return StepReport(flow_id, flow.kind, flow.step, "tx", "lease_lost")
            flow = recorded
        started = self.clock.now()
        outcome, summary = self._call(flow, effect)
        ahead = self._then(flow, fdef, effect, outcome, started)
        if ahead is None:
            self._inflight[flow_id] = (flow.version, effect, outcome, flow.step)
            return StepReport(
                flow_id, flow.kind, flow.step, f"call:{effect.call_name}", summary, flow
            )
        then = fdef.run_of(ahead.step)(ahead)
        if not isinstance(then, Remote):
            raise FlowDefinitionError(
                f"flow {flow.kind}: {flow.step} goes on at once only to a provider step, "
                f"and {ahead.step} is not one"
            )
        outcome, summary = self._call(ahead, then)
        self._inflight[flow_id] = (flow.version, then, outcome, ahead.step)
        effect_name = f"call:{effect.call_name}+{then.call_name}"
        return StepReport(flow_id, flow.kind, flow.step, effect_name, summary, flow, ahead.step)

    def _call(self, flow: Flow, remote: Remote[T]) -> tuple[Outcome[T], str]:
        """Make a step's provider call: its outcome, and a word for the step report."""
        at = self.clock.now()
        try:
            return Outcome(value=remote.call(self.provider), asked_at=at), "ok"
        except ProviderError as exc:
            # Held without its stack: nothing reads it (the policy reads the error's
            # class and code), and its frames would stay alive, in a reference cycle
            # through the provider's locals, until the garbage collector looked. Its
            # message is the adapter's: redacted here, before a flow stores it, a caller
            # gets it or a log line quotes it (paycore.redaction).
            error = redact_error(exc.with_traceback(None))
            return Outcome(error=error, asked_at=at), exc.code
        except Exception as exc:  # an adapter let a vendor error through: treat as unknown
            self._raw_error(flow, exc)
            unknown = ProviderUnavailable(f"unexpected {type(exc).__name__} from the provider")
            return Outcome(error=unknown, asked_at=at), "provider_unavailable"

    def _raw_error(self, flow: Flow, exc: Exception) -> None:
        """Log an error the provider's adapter let through: not the port's, so a bug or a
        wrong setting of the adapter more likely than an outage. Its outcome is unknown
        all the same (the call may have landed): the flow retries and asks as for
        ``ProviderUnavailable``. Logged at ERROR with its stack (never its message) the
        first time this engine meets it for a flow, then at WARNING without the stack."""
        what = f"flow {flow.id} ({flow.kind}): the provider adapter raised a raw error"
        fields = {**logs.flow_fields(flow), "error_type": type(exc).__name__}
        if flow.id in self._raw_logged:
            log.warning("%s again (%s)", what, type(exc).__name__, extra=fields)
            return
        if len(self._raw_logged) >= RAW_LOGGED_MAX:
            self._raw_logged.clear()  # bounded: a flow met again after is logged again
        self._raw_logged.add(flow.id)
        log.error(
            "%s: a bug or a wrong setting of the adapter, more likely than an outage; taken "
            "as the provider unavailable (the call may have landed), the flow retries\n%s",
            what, logs.stack(exc), extra=fields,
        )  # fmt: skip

    def _then(
        self, flow: Flow, fdef: FlowDef, remote: Remote[Any], outcome: Outcome[Any], started: int
    ) -> Flow | None:
        """The flow as it would stand at the step ``remote.then`` goes on to at once,
        unrecorded; None when the answer is to be applied as usual.

        Also None when the call, made at ``started``, took more than half the lease: a
        second call could outlast what is left of it, so the answer is applied first
        (its commit renews the lease).

        That step's key may have been used already, by a call made at once like this one
        whose answer was lost: so when the provider may have forgotten it (the flow's
        recorded step is old), the flow goes on to the step that asks first instead."""
        if remote.then is None or outcome.error is not None:
            return None
        if 2 * (self.clock.now() - started) > self.config.lease_ms:
            return None
        nxt = remote.then(outcome.value)
        if nxt is None or self._records_sends(fdef, nxt):
            return None
        if not fdef.allows(flow.step, nxt):
            raise UndeclaredStep(
                f"flow {flow.id} ({flow.kind}) may not go from {flow.step} to {nxt}: "
                "declare the edge in its FlowDef"
            )
        if self._asks_first(fdef, flow, nxt):
            nxt = fdef.ask_first[nxt]
        return evolve(flow, {"step": str(nxt)})

    def _commit_step(
        self,
        flow_id: str,
        effect: str,
        fn: Callable[[Unit, Flow], Advance],
        *,
        expect_version: int,
        at: str | None = None,
    ) -> StepReport:
        """Run ``fn`` on the flow in one transaction and record where it leads. ``at``:
        the step whose answer is applied, when the engine went on to it at once without
        recording it (the flow is applied as if it stood there)."""
        step_name = "?"
        kind = "?"
        after: Flow | None = None
        reply: object = None

        def body(u: Unit) -> str:
            nonlocal step_name, kind, after, reply
            flow = u.get(s.FLOWS, flow_id)
            if flow is None or flow.version != expect_version:
                raise LeaseLost(
                    f"flow {flow_id} moved on under this worker; dropping its step",
                    flow_id=flow_id,
                )
            if at is not None and at != flow.step:
                flow = evolve(flow, {"step": at})
            step_name, kind, after = flow.step, flow.kind, flow
            if flow.status is not FlowStatus.ACTIVE:
                return "inactive"
            adv = fn(u, flow)
            reply = adv.reply
            result = self._advance(u, flow, adv)
            after = current_flow(u, flow_id)
            return result

        try:
            result = self.transact(body, flow_id)
        except LeaseLost:
            return StepReport(flow_id, kind, step_name, effect, "lease_lost")
        except OperationalError:
            raise  # the store failed: nothing of the step was kept; the caller sees it
        except Exception as exc:
            # An unexpected state or a bug (an unmapped status, a failed assertion, a broken
            # constraint): the step's transaction rolled back, so none of its partial writes
            # stay. Record a retry in a new transaction: the flow backs off and is
            # dead-lettered with an alert instead of blocking every worker that meets it.
            why = _reason(exc)
            fields = {"flow_id": flow_id, "flow_kind": kind, "step": step_name, "effect": effect}
            logs.failure(log, f"flow {flow_id} ({kind}) step {step_name} failed", exc, **fields)
            result = self.transact(
                lambda u: self._advance_if_current(u, flow_id, expect_version, why), flow_id
            )
            return StepReport(flow_id, kind, step_name, effect, result)
        return StepReport(flow_id, kind, step_name, effect, result, after, reply=reply)

    def strike(self, flow: Flow, why: str) -> StepReport:
        """Record a failed attempt of ``flow`` (a strike, with backoff) in a new
        transaction, unless the flow moved on meanwhile."""
        result = self.transact(
            lambda u: self._advance_if_current(u, flow.id, flow.version, why), flow.id
        )
        return StepReport(flow.id, flow.kind, flow.step, "tx", result)

    def _advance_if_current(self, u: Unit, flow_id: str, version: int, why: str) -> str:
        flow = u.get(s.FLOWS, flow_id)
        if flow is None or flow.version != version or flow.status is not FlowStatus.ACTIVE:
            return "lease_lost"
        return self._advance(u, flow, Advance(retry=why))

    def _advance(self, u: Unit, flow: Flow, adv: Advance) -> str:
        if adv.to is not None and not self.defs[flow.kind].allows(flow.step, adv.to):
            raise UndeclaredStep(
                f"flow {flow.id} ({flow.kind}) may not go from {flow.step} to {adv.to}: "
                "declare the edge in its FlowDef"
            )
        data = {**flow.data, **adv.data}
        lease = {"lease_owner": self.worker_id, "lease_until": u.now + self.config.lease_ms}
        moved_on = adv.retry is None and not adv.transient
        ended = adv.done is not None or adv.failed is not None
        if (moved_on or ended) and retry.end_streak(data):
            u.resolve_alert("flow_stalled", flow.id, "the flow moved on")
        if adv.done is not None:
            u.move(s.FLOWS, flow, FLOW, "finish", data=data, result=adv.done, **lease)
            return "succeeded"
        if adv.failed is not None:
            err = adv.failed
            result = {"error": err.code, "message": err.message, **_plain(err.fields)}
            u.move(s.FLOWS, flow, FLOW, "abort", data=data, result=result, **lease)
            if data.get("compensating"):
                # Forward progress was given up: what the caller asked for did not happen.
                self._alert_after(
                    u, "flow_gave_up", flow, f"gave up and compensated: {err.message}"
                )
            return f"failed:{err.code}"
        step = str(adv.to) if adv.to is not None else flow.step
        if step != flow.step:
            if step not in self.defs[flow.kind].resends:
                # When the step's idempotency key was first used; a step that resends the
                # request of the step before it, under its key, keeps that step's time.
                data["step_at"] = u.now
            data.pop(SENT, None)
        if adv.retry is not None:
            return self._retry(u, flow, adv.retry, bool(adv.transient), step, data, lease)
        u.save(s.FLOWS, flow, step=step, data=data, next_run_at=u.now, **lease)
        return f"-> {step}"


def _reason(exc: Exception) -> str:
    if isinstance(exc, PaycoreError):
        return f"{exc.code}: {exc.message}"  # paycore's own messages quote no secret
    return unexpected(exc)


def _plain(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if isinstance(v, str | int | bool) or v is None}


__all__ = [
    "Advance",
    "Effect",
    "Engine",
    "FlowDef",
    "FlowDefinitionError",
    "Local",
    "Outcome",
    "Remote",
    "StepFn",
    "StepReport",
    "StepSpec",
    "UndeclaredStep",
    "create_flow",
    "current_flow",
    "key",
    "retry_on",
    "step",
    "unexpected",
]
