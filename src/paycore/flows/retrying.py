"""Retrying and giving up: what the engine records when a step must wait or cannot go on.

:class:`Retrying` is part of :class:`paycore.flows.engine.Engine`: a retry is recorded
with deterministic backoff, or, past the budget of :mod:`paycore.flows.retry`, the flow
gives up into its compensation step or is dead-lettered with an alert.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from paycore import schema as s
from paycore.config import Config
from paycore.flows import logs, retry
from paycore.flows.defs import FlowDef
from paycore.machines import FLOW
from paycore.records import Flow
from paycore.unit import Unit

log = logging.getLogger("paycore.flows.engine")  # the engine's records, as before the split


class Retrying:
    """Part of the engine: recording retries, give-ups and dead letters."""

    config: Config
    defs: dict[str, FlowDef]

    def _retry(
        self,
        u: Unit,
        flow: Flow,
        why: str,
        transient: bool,
        step: str,
        data: dict[str, Any],
        lease: dict[str, Any],
    ) -> str:
        """Record a retry of ``flow`` at ``step`` with backoff, or give up."""
        # Strikes count every non-transient retry of the flow, across steps, so that
        # a cycle (create, find nothing, create again) also ends in bounded time;
        # transient ones go on until the retry horizon (paycore.flows.retry).
        attempts = flow.attempts + 1
        verdict = retry.judge(self.config, data, u.now, transient)
        if verdict.give_up:
            return self._give_up(u, flow, data, why, verdict.reason)
        self._log_after(
            u,
            logging.WARNING,
            f"flow {flow.id} ({flow.kind}) retries step {step} (attempt {attempts}): {why}",
            logs.flow_fields(flow, attempts=attempts, reason=why),
        )
        if verdict.stalled:
            minutes = (u.now - int(data[retry.SINCE])) // 60_000
            self._alert_after(
                u, "flow_stalled", flow, f"has been retrying for {minutes} min: {why}"
            )
        u.save(
            s.FLOWS,
            flow,
            step=step,
            data=data,
            attempts=attempts,
            last_error=why,
            next_run_at=u.now + self.backoff(flow.id, attempts),
            **lease,
        )
        return f"retry:{why}" + (f" -> {step}" if step != flow.step else "")

    def _give_up(
        self, u: Unit, flow: Flow, data: dict[str, Any], why: str, reason: str = "failures"
    ) -> str:
        fdef = self.defs[flow.kind]
        if retry.end_streak(data):
            u.resolve_alert("flow_stalled", flow.id, "the flow gave up")
        if fdef.give_up is not None and not data.get("compensating"):
            data = retry.fresh(data)
            data["compensating"] = True
            data["step_at"] = u.now
            u.save(
                s.FLOWS,
                flow,
                step=str(fdef.give_up),
                data=data,
                attempts=0,
                last_error=why,
                next_run_at=u.now,
            )
            self._log_after(
                u,
                logging.WARNING,
                f"flow {flow.id} ({flow.kind}) gave up at step {flow.step} ({why}); "
                f"compensating from {fdef.give_up}",
                logs.flow_fields(flow, reason=why, outcome="compensating"),
            )
            return f"-> {fdef.give_up} (compensating)"
        data[retry.DEAD_OF] = reason
        u.move(s.FLOWS, flow, FLOW, "dead_letter", data=data, last_error=why)
        after = f"{why}, past the retry horizon" if reason == "outage" else why
        self._alert_after(u, "flow_dead_lettered", flow, f"gave up at step {flow.step}: {after}")
        self._log_after(
            u,
            logging.ERROR,
            f"flow {flow.id} ({flow.kind}) dead-lettered at step {flow.step}: {after}",
            logs.flow_fields(flow, reason=why, outcome="dead"),
        )
        return "dead"

    def _alert_after(self, u: Unit, kind: str, flow: Flow, what: str) -> None:
        """Record an alert about ``flow``; the port hears of it once the transaction
        committed (never for a rolled-back one)."""
        message = f"flow {flow.id} ({flow.kind}) {what}"
        u.alert(kind, flow.id, message, flow_id=flow.id, flow_kind=flow.kind)

    @staticmethod
    def _log_after(u: Unit, level: int, message: str, fields: dict[str, Any]) -> None:
        """Log once the transaction committed (a rolled-back retry never happened)."""
        u.on_commit.append(lambda: log.log(level, "%s", message, extra=fields))

    def backoff(self, flow_id: str, attempts: int) -> int:
        """Exponential backoff with deterministic jitter (so runs replay exactly)."""
        base = self.config.backoff_base_ms * (1 << min(attempts - 1, 10))
        jitter = int(hashlib.sha256(f"{flow_id}:{attempts}".encode()).hexdigest()[:4], 16)
        return min(base + jitter % max(base // 4, 1), self.config.backoff_cap_ms)
