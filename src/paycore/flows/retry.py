"""How long a flow keeps retrying, and when it gives up.

Two kinds of retry, told apart by what caused them:

- **transient**: the provider did not answer, answered with a 5xx, rate-limited the
  call or had the key in use. Nothing is wrong with the request; the provider will
  come back. These are retried with capped exponential backoff for as long as the
  provider itself keeps retrying webhooks (``Config.retry_horizon_ms``, 3 days), and
  cost no strike. After ``Config.stall_alert_after_ms`` of uninterrupted transient
  failures the flow raises one ``flow_stalled`` alert, closed again once it moves on.
- **strikes**: anything else (the provider answered, but not what the step needs;
  an unexpected error in a step). Each costs a strike; ``Config.max_attempts``
  strikes end forward progress.

Past the horizon or out of strikes a flow runs its give-up compensation if it has
one (with a fresh horizon and fresh strikes), else it is dead-lettered with an
alert. A flow dead-lettered by the horizon records ``dead_of = "outage"``: nothing
was wrong but the provider's absence, as far as the engine can tell, so the jobs that
own such flows revive them (the janitor for a checkout, the reconciler for an orphan
or a refund). The reconciler counts its revivals of a flow (:data:`REVIVED`, kept
across a fresh start) and stops at ``paycore.flows.reconcile.REVIVE_MAX``: a streak
"transient" for a whole horizon may be an adapter's bug the engine could only take
as the provider unavailable.

The bookkeeping lives in the flow's ``data`` under the keys of :data:`STREAK`.
"""

from __future__ import annotations

from typing import Any

import attrs

from paycore.config import Config
from paycore.errors import PaycoreError

#: ``data`` keys of the current retry streak and strike count.
SINCE = "retrying_since"
STALLED = "stall_alerted"
STRIKES = "strikes"
DEAD_OF = "dead_of"
STREAK = (SINCE, STALLED, STRIKES, DEAD_OF)
#: ``data`` keys outside the streak: how many times the reconciler revived the flow, and
#: that it then left the flow for a person (its dead-letter alert says so). A person's
#: revival clears both.
REVIVED = "auto_revived"
LEFT = "left_for_person"


def is_transient(cause: PaycoreError | None) -> bool:
    """A failure the same request will get past once the provider is back."""
    if cause is None:
        return False
    return bool(cause.retryable) or getattr(cause, "outcome", None) == "ambiguous"


@attrs.frozen
class Verdict:
    """What a retry decided: wait and retry, or give up (and why)."""

    give_up: bool
    #: The transient streak just crossed the stall threshold: raise ``flow_stalled``.
    stalled: bool = False
    #: "outage" when the retry horizon ran out, "failures" when the strikes did.
    reason: str = ""


def judge(config: Config, data: dict[str, Any], now: int, transient: bool) -> Verdict:
    """Record one retry in ``data`` (changed in place) and decide."""
    if not transient:
        strikes = int(data.get(STRIKES, 0)) + 1
        data[STRIKES] = strikes
        if strikes >= config.max_attempts:
            return Verdict(give_up=True, reason="failures")
        return Verdict(give_up=False)
    since = int(data.setdefault(SINCE, now))
    if now - since >= config.retry_horizon_ms:
        return Verdict(give_up=True, reason="outage")
    stalled = now - since >= config.stall_alert_after_ms and not data.get(STALLED)
    if stalled:
        data[STALLED] = True
    return Verdict(give_up=False, stalled=stalled)


def end_streak(data: dict[str, Any]) -> bool:
    """The flow moved on without a failure: the transient streak is over. Returns
    whether a ``flow_stalled`` alert was raised for it (and should be closed)."""
    data.pop(SINCE, None)
    return bool(data.pop(STALLED, False))


def fresh(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` for a flow starting over (compensation, revival): no streak, no strikes."""
    return {k: v for k, v in data.items() if k not in STREAK}
