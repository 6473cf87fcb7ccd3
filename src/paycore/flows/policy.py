"""The engine's error policy: what a provider error does to the step that met it.

One policy for every flow, instead of a copy in every step:

- **transient** (the provider refused for now: rate limited, key in use): retry;
- **ambiguous** (no answer: timeout, dropped connection, 5xx): go to the step's
  ``ask`` step, which asks the provider what happened; retry when it has none;
- **definite** (the provider answered no): the step's own ``refused`` handler when it
  needs one; else retry as a strike, so a refusal that persists ends in the flow's
  give-up (:mod:`paycore.flows.retry`).

A ``best_effort`` step (a compensation that ends whatever the provider says) hands
every error to its handler.
"""

from __future__ import annotations

from typing import Any

import attrs

from paycore.errors import ProviderError
from paycore.flows import retry
from paycore.flows.defs import Advance, Outcome, Remote
from paycore.records import Flow
from paycore.unit import Unit


def apply(remote: Remote[Any], u: Unit, flow: Flow, outcome: Outcome[Any]) -> Advance:
    """Apply a provider call's outcome: its answer through ``remote.apply``, its error
    through the policy."""
    err = outcome.error
    u.asked_at = outcome.asked_at
    if err is None:
        return remote.apply(u, flow, outcome.value)
    return classified(route(remote, u, flow, err), err)


def route(remote: Remote[Any], u: Unit, flow: Flow, err: ProviderError) -> Advance:
    """Where a provider error sends the step (before transient classification)."""
    if remote.best_effort and remote.refused is not None:
        return remote.refused(u, flow, err)
    if err.outcome == "ambiguous":
        if remote.ask is None:
            return Advance(retry=err.code)
        return Advance(to=remote.ask, data={"last_error": err.code})
    if err.retryable or remote.refused is None:
        return Advance(retry=err.code)
    return remote.refused(u, flow, err)


def classified(adv: Advance, cause: ProviderError | None) -> Advance:
    """Say whether the provider error behind a step's decision was transient."""
    if adv.transient is not None or cause is None:
        return adv
    return attrs.evolve(adv, transient=retry.is_transient(cause))
