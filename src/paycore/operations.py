"""What an operator does with flows, and the list of what needs a human.

A flow ends dead-lettered only when it failed for real (its strikes ran out) or
when the provider stayed away past the retry horizon (see
:mod:`paycore.flows.retry`); either way an alert was raised. The operator can
then:

- **revive** it: it resumes at its recovery point with a fresh retry budget. The
  idempotency keys are the flow's own, and a step whose key the provider may have
  forgotten asks the provider first, so a revival never repeats an effect;
- **abandon** it: it runs its give-up compensation (a checkout cancels any intent
  it finds before releasing stock, waiting first for a create that may still land; a
  confirm or cancel frees the payment for the webhooks and the reconciler). A dead
  flow, or an active one that is retrying (it failed at least once, and nobody runs it
  now: :func:`abandon`), can be abandoned. A flow with no compensation (a refund, an
  orphan case) cannot be: dropping it would leave money in the wrong place, so it is
  revived once the cause is fixed; nor can a job's run (it only reads).

The attention list and closing alerts live in :mod:`paycore.attention`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from paycore import schema as s
from paycore.attention import AttentionItem as AttentionItem
from paycore.attention import attention, resolve_alert
from paycore.errors import (
    FlowNotAbandonable,
    FlowNotFound,
    FlowNotRevivable,
    InvalidInput,
)
from paycore.flows import retry
from paycore.flows.engine import Engine, FlowDef
from paycore.flows.jobflow import is_job
from paycore.machines import FLOW
from paycore.records import Alert, Flow, OrphanCase
from paycore.shown import shown, shown_id
from paycore.status import FlowStatus
from paycore.unit import Unit


def _flow(u: Unit, flow_id: object) -> Flow:
    if not isinstance(flow_id, str) or not flow_id:
        raise FlowNotFound(f"flow id must be a non-empty string, got {shown_id(flow_id)}")
    return u.require(
        s.FLOWS,
        flow_id,
        lambda: FlowNotFound(
            f"no flow {shown_id(flow_id)}: list them with `paycore flows list`",
            flow_id=shown_id(flow_id),
        ),
    )


def _state(state: object) -> FlowStatus | None:
    if state is None or isinstance(state, FlowStatus):
        return state
    try:
        if not isinstance(state, str):
            raise ValueError(state)
        return FlowStatus(state)
    except ValueError:
        names = ", ".join(f.value for f in FlowStatus)
        raise InvalidInput(
            f"flow state must be one of {names} (or none given: every state), got {shown(state)}"
        ) from None


def list_flows(u: Unit, state: object = None) -> list[Flow]:
    """Flows in ``state`` (a FlowStatus or its value; None for all), oldest first."""
    wanted = _state(state)
    rows = list(u.tx.scan(s.FLOWS)) if wanted is None else u.find(s.FLOWS, "status", wanted)
    return sorted(rows, key=lambda f: (f.created_at, f.id))


@attrs.frozen
class FlowPage:
    """The newest flows of a listing, newest first, and how many the listing has."""

    flows: list[Flow]
    total: int

    @property
    def more(self) -> bool:
        """Are there flows the page leaves out (older ones)?"""
        return self.total > len(self.flows)


def latest_flows(u: Unit, state: object, limit: object) -> FlowPage:
    """The ``limit`` newest flows in ``state`` (None for all), newest first.

    The store port has no newest-first read with a limit, so every flow of the state is
    read (the memory and SQL stores return them as one list); only ``limit`` of them are
    kept and sorted."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InvalidInput(f"limit must be a positive whole number, got {limit!r}")
    wanted = _state(state)
    rows = u.tx.scan(s.FLOWS) if wanted is None else iter(u.find(s.FLOWS, "status", wanted))
    total = 0
    newest: list[tuple[int, str, int, Flow]] = []  # a heap of the newest ``limit``
    for n, flow in enumerate(rows):
        total += 1
        item = (flow.created_at, flow.id, n, flow)
        if len(newest) < limit:
            heapq.heappush(newest, item)
        elif item[:2] > newest[0][:2]:
            heapq.heapreplace(newest, item)
    return FlowPage([i[3] for i in sorted(newest, reverse=True)], total)


#: The action of an orphan case the reconciler recorded for an intent this installation
#: did not make (``paycore.flows.reconcile.FOREIGN``, which imports this module).
FOREIGN = "foreign"


@attrs.frozen
class CasePage:
    """The newest orphan cases of a listing, newest found first, and how many it has."""

    cases: list[OrphanCase]
    total: int


def foreign_cases(u: Unit, limit: object) -> CasePage:
    """The ``limit`` intents found last of those the ``foreign_intent`` alert counts
    (orphan cases with action ``foreign``). Raises: InvalidInput for a bad limit."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InvalidInput(f"limit must be a positive whole number, got {limit!r}")
    rows: list[OrphanCase] = list(u.find(s.ORPHANS, "action", FOREIGN))
    rows.sort(key=lambda c: (c.found_at, c.provider_intent_id), reverse=True)
    return CasePage(rows[:limit], len(rows))


def revive(u: Unit, flow_id: object, by: str, *, automatic: bool = False) -> Flow:
    """Put a dead flow back to work at its recovery point, with a fresh retry budget.
    ``automatic``: a job revives it, which counts (``retry.REVIVED``); a person's
    revival clears that count, so the job may revive it again.

    A background job's dead run (``job:...``) may be revived: it is the only way to
    finish it. It repeats only reads, and may run beside the job's current run; where
    it ends, it moves the job's cursor to where it had got, so the next runs read some
    keys again (harmless: every job's apply is a sync that tolerates a repeat)."""
    flow = _flow(u, flow_id)
    if flow.status is not FlowStatus.DEAD:
        raise FlowNotRevivable(
            f"flow {flow.id} is {flow.status.value}; only a dead flow can be revived",
            flow_id=flow.id,
            status=flow.status.value,
        )
    data = retry.fresh(dict(flow.data))
    data.pop(retry.LEFT, None)
    if automatic:
        data[retry.REVIVED] = auto_revivals(flow) + 1
    else:
        data.pop(retry.REVIVED, None)
    return _restart(u, flow, flow.step, data, f"revived by {by}")


def abandon(
    u: Unit,
    defs: Mapping[str, FlowDef],
    flow_id: object,
    by: str,
    worker: str | None = None,
    running: Callable[[str], bool] | None = None,
) -> Flow:
    """Stop a dead or retrying flow's forward progress and run its compensation.

    A flow can be abandoned when it is dead, or when it is *retrying*: active, and it has
    failed at least once since it started or was last restarted (``attempts > 0``), and
    nobody runs it now. Another instance runs it while it holds the flow's lease live
    (``worker``: the id of the instance abandoning; None does not look at leases), and
    this instance while ``running(flow_id)`` says so. A flow that never failed is left to
    its worker, or to recovery if that worker died.

    Raises:
        FlowNotAbandonable: it ended, is a job's run, is of a kind this paycore does not
            know, has no compensation, is already compensating, is being run, or has
            not failed.
    """
    flow = _flow(u, flow_id)
    if flow.status not in (FlowStatus.DEAD, FlowStatus.ACTIVE):
        raise FlowNotAbandonable(
            f"flow {flow.id} has already ended ({flow.status.value})",
            flow_id=flow.id,
            status=flow.status.value,
        )
    fdef = _abandonable_kind(defs, flow)
    compensating = bool(flow.data.get("compensating"))
    if flow.status is FlowStatus.ACTIVE:
        if compensating:
            raise FlowNotAbandonable(
                f"flow {flow.id} is already running its compensation", flow_id=flow.id
            )
        _check_idle(u, flow, worker, running)
    data = retry.fresh(dict(flow.data))
    step = flow.step if compensating else str(fdef.give_up)
    if not compensating:
        data.update(compensating=True, step_at=u.now)
        # A checkout that reached its abort through a refusal keeps the refusal's code.
        data.setdefault("error", "abandoned")
    return _restart(u, flow, step, data, f"abandoned by {by}")


def _abandonable_kind(defs: Mapping[str, FlowDef], flow: Flow) -> FlowDef:
    """The flow's definition, if abandoning a flow of its kind means anything."""
    if is_job(flow.id):
        raise FlowNotAbandonable(
            f"flow {flow.id} is a background job's run: it has no compensation and needs "
            "none (it only reads, and the job's next run covers its work); revive it once "
            "the cause is fixed",
            flow_id=flow.id,
        )
    fdef = defs.get(flow.kind)
    if fdef is None:
        raise FlowNotAbandonable(
            f"flow {flow.id} is of kind {flow.kind!r}, and there is no flow kind "
            f"{flow.kind} in this paycore (a newer version's, or a renamed one): "
            "abandon it with the version that started it",
            flow_id=flow.id,
            flow_kind=flow.kind,
        )
    if fdef.give_up is None:
        raise FlowNotAbandonable(
            f"a {flow.kind} flow has no compensation: dropping it would leave money in the "
            "wrong place; fix the cause and revive it instead",
            flow_id=flow.id,
        )
    return fdef


def _check_idle(
    u: Unit, flow: Flow, worker: str | None, running: Callable[[str], bool] | None
) -> None:
    """Refuse an active flow somebody runs now, or one that never failed."""
    if worker is not None and flow.lease_owner not in (None, worker) and flow.lease_until > u.now:
        until = datetime.fromtimestamp(flow.lease_until / 1000, UTC).isoformat(timespec="seconds")
        raise FlowNotAbandonable(
            f"flow {flow.id} is being run by {flow.lease_owner}, which holds its lease until "
            f"{until} ({flow.lease_until}); retry after that",
            flow_id=flow.id,
            lease_owner=flow.lease_owner,
            lease_until=flow.lease_until,
        )
    if running is not None and running(flow.id):
        raise FlowNotAbandonable(
            f"flow {flow.id} is being run by this instance now; retry once its step ended",
            flow_id=flow.id,
        )
    if flow.attempts == 0:
        raise FlowNotAbandonable(
            f"flow {flow.id} has not failed: it is running, and its worker (or recovery, if "
            "that worker died) finishes it; only a dead flow, or an active one retrying after "
            "a failure, can be abandoned",
            flow_id=flow.id,
        )


def _restart(u: Unit, flow: Flow, step: str, data: dict[str, Any], why: str) -> Flow:
    changes: dict[str, Any] = {
        "step": step,
        "data": data,
        "attempts": 0,
        "next_run_at": 0,  # due now by any instance's clock, not once it reaches ours
        "lease_owner": None,
        "lease_until": 0,
        "last_error": f"{why} (was: {flow.last_error})",
    }
    if flow.status is FlowStatus.DEAD:
        flow = u.move(s.FLOWS, flow, FLOW, "revive", **changes)
    else:
        flow = u.save(s.FLOWS, flow, **changes)
    u.resolve_alert("flow_dead_lettered", flow.id, why)
    u.resolve_alert("flow_stalled", flow.id, why)
    return flow


def auto_revivals(flow: Flow) -> int:
    """How many times a job revived ``flow`` since a person last did."""
    return int(flow.data.get(retry.REVIVED, 0))


def died_of_outage(flow: Flow) -> bool:
    """Dead only because the provider stayed away past the retry horizon."""
    return flow.status is FlowStatus.DEAD and flow.data.get(retry.DEAD_OF) == "outage"


class Operator:
    """The operator's actions over one engine, each in one transaction.

    Example::

        op = Operator(engine)
        for item in op.attention():
            print(item.kind, item.subject, item.message)
        op.revive("refund:rf_000001")
    """

    def __init__(self, engine: Engine, who: str = "operator") -> None:
        self.engine = engine
        self.who = who

    def flows(self, state: object = None) -> list[Flow]:
        """Raises: InvalidInput for an unknown state."""
        return self.engine.transact(lambda u: list_flows(u, state))

    def latest(self, state: object = None, limit: object = 100) -> FlowPage:
        """The ``limit`` newest flows in ``state``. Raises: InvalidInput."""
        return self.engine.transact(lambda u: latest_flows(u, state, limit))

    def flow(self, flow_id: object) -> Flow:
        """Raises: FlowNotFound."""
        return self.engine.transact(lambda u: _flow(u, flow_id))

    def revive(self, flow_id: object) -> Flow:
        """Raises: FlowNotFound, FlowNotRevivable (nothing changed)."""
        return self.engine.transact(lambda u: revive(u, flow_id, self.who))

    def abandon(self, flow_id: object) -> Flow:
        """Raises: FlowNotFound, FlowNotAbandonable (nothing changed)."""
        eng = self.engine

        def busy(fid: str) -> bool:
            return eng.running(fid) or eng.has_inflight(fid)

        return eng.transact(lambda u: abandon(u, eng.defs, flow_id, self.who, eng.worker_id, busy))

    def attention(self) -> list[AttentionItem]:
        return self.engine.transact(attention)

    def foreign_intents(self, limit: object = 100) -> CasePage:
        """The intents not made by this installation, found last first. Raises:
        InvalidInput."""
        return self.engine.transact(lambda u: foreign_cases(u, limit))

    def resolve_alert(self, alert_id: object, resolution: object, force: bool = False) -> Alert:
        """Raises: AlertNotFound, InvalidInput (nothing changed)."""
        return self.engine.transact(lambda u: resolve_alert(u, alert_id, resolution, force))
