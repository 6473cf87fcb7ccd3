"""I1 (issue 7): a provider outage counts as failures, and the flows give up.

``I1`` re-creates the retry policy paycore had before outages were told apart from
failures: every failed attempt, a 503 or a timeout included, cost a strike, so a flow
gave up (or was dead-lettered) after ``max_attempts`` tries, about two and a half minutes
of backoff, and a flow dead-lettered that way was never revived. The harness's world
has outages of up to days (:mod:`paycore_adapters.harness.outages`) and rides them out
in its quiet phase, so the flows left dead or stuck are caught.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from paycore.config import Config
from paycore.flows import retry

from .catalog import seeded
from .support import patched

_judge = retry.judge


def _every_failure_a_strike(
    config: Config, data: dict[str, Any], now: int, transient: bool
) -> retry.Verdict:
    """A transient failure judged like any other: a strike, and no retry horizon."""
    return _judge(config, data, now, False)


@seeded(
    "I1",
    "a provider outage of a few minutes makes damage permanent: transient failures count "
    "as strikes, a flow is dead-lettered after max_attempts tries, nothing revives it, and "
    "its payment, stock or refund stays stuck",
    "flows-finished",
    "no-stale-hold",
    "decided-refunds-covered",
)
@contextmanager
def _i1() -> Iterator[None]:
    with patched(("paycore.flows.retry.judge", _every_failure_a_strike)):
        yield
