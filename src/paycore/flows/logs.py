"""What the flow engine logs, and how, without ever logging a secret.

Each module has its own logger (``logging.getLogger(__name__)``); records carry
structured fields (``extra=``): ``flow_id``, ``flow_kind``, ``step``, and what
happened. A step is logged at DEBUG, a retry at WARNING, a give-up at WARNING and
a dead letter at ERROR.

An exception that is not paycore's may quote data in its message (a key, a card's
details, a connection string), so it is logged by its type and its stack only: the
frames say where it happened, which is what an engineer needs, and never what it
said. paycore's own errors quote no secret, so their message is logged too; a provider
error's message is the adapter's, and the engine redacts the well-known secret shapes
from it where it takes the error in (:mod:`paycore.redaction`).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from paycore.errors import PaycoreError
from paycore.flows.defs import StepReport
from paycore.records import Flow


def step(log: logging.Logger, report: StepReport) -> None:
    """A step at DEBUG: which flow, which step, what it did and what came of it."""
    fields = {
        "flow_id": report.flow_id,
        "flow_kind": report.kind,
        "step": report.step,
        "effect": report.effect,
        "result": report.result,
    }
    log.debug(
        "flow %s (%s) %s %s -> %s",
        report.flow_id,
        report.kind,
        report.step,
        report.effect,
        report.result,
        extra=fields,
    )


def flow_fields(flow: Flow, **more: Any) -> dict[str, Any]:
    """The structured fields of a record about ``flow``."""
    return {"flow_id": flow.id, "flow_kind": flow.kind, "step": flow.step, **more}


def stack(exc: BaseException) -> str:
    """``exc``'s traceback without its message: the type and the frames."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    said = f": {exc.code}: {exc.message}" if isinstance(exc, PaycoreError) else ""
    return f"Traceback (most recent call last):\n{frames}{type(exc).__name__}{said}"


def failure(log: logging.Logger, what: str, exc: BaseException, **fields: Any) -> None:
    """Log an exception a flow met at WARNING, with its stack (never its message, unless
    it is paycore's own)."""
    log.warning(
        "%s\n%s",
        what,
        stack(exc),
        extra={**fields, "error_type": type(exc).__name__},
    )
