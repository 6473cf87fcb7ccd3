"""When a provider step must ask the provider before it sends: the engine's part.

A step in a flow's ``ask_first`` sends a request under an idempotency key. It asks
first (goes to its ask step, which reads what exists) instead of sending when:

- its key may be forgotten: Stripe keeps keys for at least 24 hours and may prune them
  after that (docs.stripe.com/api/idempotent_requests). The key's age is a time one
  instance's clock wrote (``step_at``) read against another's now, so it is only as
  good as the two clocks: a step resumed from half the retention on
  (:func:`asks_first_from_ms`, 12 hours of Stripe's 24) asks, which covers a clock
  error of hours, far beyond the tolerance PostgreSQL checks (``Config.max_clock_skew_ms``;
  SQLite checks none); and a ``step_at`` further ahead of now than that tolerance was
  written by a clock that ran ahead, so its age cannot be known: the step asks too.
  Asking is always safe (the ask step lists what exists, and lists do not lag) and
  costs one list call, paid only by the steps resumed that late;
- the provider ignores keys (``Config.provider_honours_keys`` False) and the step would
  send again a request whose answer was lost: a step in ``FlowDef.resends``, or a step
  whose last request was sent and never answered here (a worker crash, a store failure
  while its answer was applied). To know that, the engine records the send
  (``Flow.data["sent"]``) before each such call on such a provider: one more
  transaction per call, paid only there. On Stripe the same key replays the first
  request's answer, so neither is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paycore import schema as s
from paycore.config import Config, clock_tolerance_ms
from paycore.flows.defs import Advance, FlowDef, StepReport
from paycore.ports import Clock
from paycore.records import Flow
from paycore.status import FlowStatus
from paycore.unit import Unit

#: ``Flow.data`` key: the step that sent a request under its key on a provider that
#: ignores keys; dropped when the flow moves to another step.
SENT = "sent"


def asks_first_from_ms(config: Config) -> int:
    """The age of a step's key from which a resumed step asks first: half the provider's
    retention (at most the retention less ``lease_ms``, as it was before clocks were
    allowed for)."""
    retention = config.provider_key_retention_ms
    return min(retention // 2, retention - config.lease_ms)


class Asking:
    """Part of the engine: deciding that a step asks first, recording sends."""

    config: Config
    clock: Clock
    defs: dict[str, FlowDef]
    transact: Callable[..., Any]
    _advance: Callable[[Unit, Flow, Advance], str]
    leased_elsewhere: Callable[[Flow, int], bool]

    def _asks_first(self, fdef: FlowDef, flow: Flow, step: str) -> bool:
        """Must ``step`` ask the provider before it sends (see the module's text)?"""
        if step not in fdef.ask_first:
            return False
        if not self.config.provider_honours_keys and (
            step in fdef.resends or flow.data.get(SENT) == step
        ):
            return True
        return self._key_may_be_forgotten(flow)

    def _key_may_be_forgotten(self, flow: Flow) -> bool:
        """May the provider have forgotten the step's key (see the module's text)? Its
        age is this clock's now less a time another instance's clock may have written."""
        since = int(flow.data.get("step_at", flow.created_at))
        now = self.clock.now()
        if since - now > clock_tolerance_ms(self.config):
            return True  # written by a clock that ran ahead: the key's age is unknown
        return now - since >= asks_first_from_ms(self.config)

    def _settle(self, u: Unit, flow: Flow) -> str | None:
        """End (or move) ``flow`` in ``u`` when its send step's result is recorded already
        (``FlowDef.settled``): the step's result, or None when the step may send."""
        check = self.defs[flow.kind].settled.get(flow.step)
        adv = None if check is None else check(u, flow)
        return None if adv is None else self._advance(u, flow, adv)

    def _load_settling(self, flow_id: str) -> tuple[Flow | None, StepReport | None]:
        """The flow as committed (as ``load`` reads it), in a transaction that also ends
        it when its send step's result is recorded already: then the report of that
        step too. A flow another worker holds live is only read."""

        def body(u: Unit) -> tuple[Flow | None, StepReport | None]:
            flow = u.get(s.FLOWS, flow_id)
            if flow is None or flow.status is not FlowStatus.ACTIVE:
                return flow, None
            if self.leased_elsewhere(flow, u.now):
                return flow, None
            result = self._settle(u, flow)
            if result is None:
                return flow, None
            after = u.get(s.FLOWS, flow_id)
            return after, StepReport(flow_id, flow.kind, flow.step, "tx", result, after)

        loaded: tuple[Flow | None, StepReport | None] = self.transact(body, flow_id)
        return loaded

    def _records_sends(self, fdef: FlowDef, step: str) -> bool:
        """Is a send from ``step`` recorded before it goes out?"""
        return not self.config.provider_honours_keys and step in fdef.ask_first

    def _record_send(self, flow: Flow) -> Flow | None:
        """Record that ``flow`` sends from its step; the flow as recorded, or None when it
        moved on under this worker (its step is then dropped: nothing is sent)."""

        def body(u: Unit) -> Flow | None:
            current = u.get(s.FLOWS, flow.id)
            if current is None or current.version != flow.version:
                return None
            return u.save(s.FLOWS, current, data={**current.data, SENT: current.step})

        recorded: Flow | None = self.transact(body)
        return recorded
