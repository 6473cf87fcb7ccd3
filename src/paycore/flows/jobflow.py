"""Job flows: the background jobs' provider calls as flow steps.

A background job that asks the provider (the reconciler, payment and refund sync,
the reopening of waiting orphans, the external-refund scan) runs as a flow of its
own kind, like every operation: each provider call is a :class:`Remote` step whose
answer is applied in the next step's transaction, so the harness can interleave a
job's call and its apply with any other flow, and a crash in between only repeats a
read. Everything a run goes through (its batch, its page, its cursor) lives in the
flow's params and data; the job's durable cursor moves in the transaction that ends
the run.

A job's flow id is deterministic: ``job:<kind>:<n>``, ``n`` counting the job's runs
(a :class:`~paycore.records.Cursor` named ``job:<kind>``). Starting a job finds its
active flow if there is one (another instance, or a crashed worker, started it), so
two instances running the same job at once step one flow, whose version checks let
only one apply each answer.

:class:`BatchJob` is the shape most jobs share: one provider read per key of a batch
chosen when the run starts.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from paycore import schema as s
from paycore.errors import ProviderError, error_class
from paycore.flows.defs import Advance, FlowDef, Remote, create_flow, step
from paycore.flows.params import BatchParams, params_of
from paycore.ports import PaymentProvider
from paycore.records import Cursor, Flow
from paycore.status import FlowStatus
from paycore.unit import Unit

T = TypeVar("T")

#: Every job flow's id starts with it.
JOB_PREFIX = "job:"


def is_job(flow_id: str) -> bool:
    """Is ``flow_id`` a background job's flow (bookkeeping, not a business operation)?"""
    return flow_id.startswith(JOB_PREFIX)


def save_cursor(u: Unit, name: str, value: str | None) -> None:
    """Move a job's durable cursor (no write when it stays where it is)."""
    current = u.get(s.CURSORS, name)
    if current is None:
        u.create(s.CURSORS, Cursor(name, value))
    elif current.value != value:
        u.save(s.CURSORS, current, value=value)


def active_job(u: Unit, kind: str) -> Flow | None:
    """The job's flow of its latest run, if that one is still active."""
    counter = u.get(s.CURSORS, f"{JOB_PREFIX}{kind}")
    if counter is None or counter.value is None:
        return None
    flow = u.get(s.FLOWS, f"{JOB_PREFIX}{kind}:{counter.value}")
    return flow if flow is not None and flow.status is FlowStatus.ACTIVE else None


def begin_job(
    u: Unit,
    kind: str,
    first: enum.StrEnum,
    params: object,
    data: Mapping[str, Any] | None = None,
    *,
    owner: str | None = None,
    lease_until: int = 0,
) -> str:
    """Record a new run of job ``kind`` (the caller checked none is active) and return
    its flow id: ``job:<kind>:<n>`` for the job's ``n``-th run."""
    name = f"{JOB_PREFIX}{kind}"
    counter = u.get(s.CURSORS, name)
    n = int(counter.value or 0) + 1 if counter is not None else 1
    save_cursor(u, name, str(n))
    fid = f"{name}:{n}"
    flow = create_flow(
        u, fid, kind, first, params, owner=owner, lease_until=lease_until, keyed=False
    )
    if data:
        u.save(s.FLOWS, flow, data=dict(data))
    return fid


def found(flow: Flow) -> list[str]:
    """What a finished job flow reports: the keys it acted on (or the flows it started)."""
    return list((flow.result or {}).get("found", []))


def run_failed(flow: Flow) -> bool:
    """Did the job's run fail: some of its provider reads failed and it found nothing?"""
    result = flow.result or {}
    return bool(result.get("errors")) and not result.get("found")


def reported(flow: Flow) -> list[str]:
    """:func:`found`, for a job whose run is over; a run whose provider reads failed and
    that found nothing failed (``job_health`` counts it, and alerts after a few).

    Raises:
        ProviderError: the last failed read's error, by its code (what it did find stays
            committed; the next run asks again).
    """
    if run_failed(flow):
        result = flow.result or {}
        code = str(result.get("error"))
        raise error_class(code)(
            f"job {flow.id}: {result.get('errors')} of its {result.get('asked')} provider "
            "reads failed "
            f"(last: {code}) and it found nothing; the next run asks again",
            flow_id=flow.id,
        )
    return found(flow)


#: What a provider error does to a batch job's key: go on with the next key (True) or
#: end the run there (False). The error alone decides.
OnError = Callable[[ProviderError], bool]


def _skip(err: ProviderError) -> bool:
    return True  # asked again on a later run


@attrs.frozen
class BatchJob(Generic[T]):
    """A job that asks the provider about each key of a batch, one :class:`Remote` step
    per key, and applies each answer in its own transaction.

    ``prepare`` reads what the call needs just before it (in the transaction that
    applied the previous answer, or the one that started the run); None skips the key.
    ``apply`` records an answer and returns what it found (reported in the flow's
    result under ``found``). A provider error goes to ``on_error`` (by default the key
    is left for a later run), and is counted in the result (``errors``, ``error``:
    see :func:`reported`). ``finish`` runs in the transaction that ends the run.
    """

    kind: str
    ask: enum.StrEnum
    call_name: str
    call: Callable[[PaymentProvider, Mapping[str, Any]], T]
    apply: Callable[[Unit, Flow, Mapping[str, Any], T], list[str]]
    prepare: Callable[[Unit, str], Mapping[str, Any] | None]
    on_error: OnError = _skip
    finish: Callable[[Unit, Flow, Mapping[str, Any]], None] | None = None

    @property
    def fdef(self) -> FlowDef:
        return FlowDef(self.kind, {self.ask: step(self._step, self.ask)})

    def start(
        self, u: Unit, keys: list[str], data: Mapping[str, Any] | None = None, **lease: Any
    ) -> str | None:
        """Start a run over ``keys`` (None when no key needs a call: nothing to do)."""
        first = self.seek(u, keys, 0)
        if first is None:
            return None
        return begin_job(
            u, self.kind, self.ask, BatchParams(keys), {**(data or {}), **first}, **lease
        )

    def seek(self, u: Unit, keys: list[str], at: int) -> dict[str, Any] | None:
        """The data of the next key from ``at`` on that needs a call; None at the end."""
        for i in range(at, len(keys)):
            prepared = self.prepare(u, keys[i])
            if prepared is not None:
                return {"at": i, "item": {"key": keys[i], **prepared}}
        return None

    def _step(self, flow: Flow) -> Remote[T]:
        item = flow.data["item"]
        return Remote(
            self.call_name,
            lambda p: self.call(p, item),
            self._applied,
            refused=self._refused,
            best_effort=True,
        )

    def _applied(self, u: Unit, flow: Flow, answer: T) -> Advance:
        item = flow.data["item"]
        return self._next(u, flow, self.apply(u, flow, item, answer), stop=False)

    def _refused(self, u: Unit, flow: Flow, err: ProviderError) -> Advance:
        # An error on the run's first call passes its key over even where ``on_error``
        # ends the run: a key that always fails must not hold the job's cursor for ever
        # (asked again on the next pass).
        first = not flow.data.get("asked")
        return self._next(u, flow, [], stop=not first and not self.on_error(err), error=err)

    def _next(
        self,
        u: Unit,
        flow: Flow,
        found: list[str],
        *,
        stop: bool,
        error: ProviderError | None = None,
    ) -> Advance:
        keys = params_of(BatchParams, flow).keys
        item = flow.data["item"]
        data = {
            "found": [*flow.data.get("found", []), *found],
            "last": flow.data.get("last") if stop else item["key"],
            # The run's count of calls and of failed ones, and the last failure's code:
            # a run whose calls failed and that found nothing failed (:func:`reported`).
            "asked": int(flow.data.get("asked", 0)) + 1,
            "errors": int(flow.data.get("errors", 0)) + (error is not None),
            "error": flow.data.get("error") if error is None else error.code,
        }
        following = None if stop else self.seek(u, keys, int(flow.data["at"]) + 1)
        if following is not None:
            return Advance(to=self.ask, data={**data, **following})
        if self.finish is not None:
            self.finish(u, flow, data)
        counts = {k: data[k] for k in ("asked", "errors", "error")}
        return Advance(done={"found": data["found"], **counts}, data=data)
