"""Each background job runs, fails and reports on its own.

:func:`run_job` runs one job and catches whatever it raises, so a provider
outage in the reconciler never keeps recovery or the outbox from running. Each
failure is recorded durably (:class:`paycore.records.JobHealth`); after
``Config.job_failures_before_alert`` failures in a row the job raises a
``job_failed`` alert, and its next successful run resolves it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Generic, TypeVar

import attrs

from paycore import schema as s
from paycore.errors import PaycoreError
from paycore.flows.engine import Engine
from paycore.records import JobHealth
from paycore.unit import Unit

T = TypeVar("T")

log = logging.getLogger(__name__)


@attrs.frozen
class JobOutcome(Generic[T]):
    """One run of one job: its result, or the error it ended with."""

    name: str
    value: T | None = None
    #: ``<ExceptionType>`` or ``<ExceptionType>(<code>)``; never the message, which
    #: may quote data.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_job(engine: Engine, name: str, fn: Callable[[], T]) -> JobOutcome[T]:
    """Run one job; a failure is caught, recorded and returned, never raised.

    Args:
        engine: whose store records the job's health and whose alerts port is told.
        name: a stable job name ("reconciler", "outbox", ...); the alert's subject.
        fn: the job's run.

    Example::

        outcome = run_job(engine, "reconciler", lambda: jobs.reconcile(engine))
        if not outcome.ok: ...
    """
    try:
        value = fn()
    except Exception as exc:  # one job's failure, whatever it is, is that job's alone
        return JobOutcome(name, None, failed(engine, name, exc))
    _record(engine, partial(succeeded, name=name))
    return JobOutcome(name, value, None)


def failed(engine: Engine, name: str, exc: Exception) -> str:
    """Record one failed run of ``name`` in a transaction of its own (``job_failed`` after
    repeated failures) and return the error as recorded. For a part of a job that fails
    on its own while the job goes on (the outbox job's sweep, ``outbox_sweep``)."""
    error = _describe(exc)
    log.warning("job %s failed: %s", name, error)
    _record(engine, partial(_failed, name=name, error=error, engine=engine))
    return error


def _describe(exc: Exception) -> str:
    if isinstance(exc, PaycoreError):
        return f"{type(exc).__name__}({exc.code})"
    return type(exc).__name__


def _record(engine: Engine, fn: Callable[[Unit], None]) -> None:
    try:
        engine.transact(fn)
    except PaycoreError as exc:  # the store is down too: the report still says it
        log.warning("job health not recorded: %s", _describe(exc))


def _failed(u: Unit, *, name: str, error: str, engine: Engine) -> None:
    current = u.get(s.JOB_HEALTH, name)
    if current is None:
        row = u.create(s.JOB_HEALTH, JobHealth(name, 1, error, u.now))
    else:
        row = u.save(
            s.JOB_HEALTH,
            current,
            failures=current.failures + 1,
            last_error=error,
            last_failed_at=u.now,
        )
    if row.failures >= engine.config.job_failures_before_alert:
        u.alert(
            "job_failed",
            name,
            f"background job {name} failed {row.failures} runs in a row (last: {error}); "
            "it is retried on every run, check the provider and the store",
            job=name,
            failures=row.failures,
            error=error,
        )


def succeeded(u: Unit, *, name: str) -> None:
    """Record a good run of ``name`` in ``u``: its failures count from nothing again and its
    ``job_failed`` alert is resolved."""
    current = u.get(s.JOB_HEALTH, name)
    if current is None or current.failures == 0:
        return
    u.save(s.JOB_HEALTH, current, failures=0)
    u.resolve_alert("job_failed", name, f"job {name} succeeded again")
