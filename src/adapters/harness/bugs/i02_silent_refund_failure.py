"""I2 (issue 7): a refund that fails tells nobody and is never retried.

``refunds.refund_failed`` (what a failed refund does beyond its status: notify the
shop, alert, retry an automatic refund) is replaced by a function that does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paycore.records import Refund
from paycore.unit import Unit

from .catalog import seeded
from .support import patched


def _silent_failure(u: Unit, refund: Refund) -> None:
    """A failed refund changes its status and nothing else: nobody is told, nothing is
    retried (as a refund failing while pending, or refused, was handled before)."""


@seeded(
    "I2",
    "a refund that fails reaches no one: no notification, no alert, and the automatic "
    "refund of an out-of-stock order is never retried, so a customer stays charged",
    "decided-refunds-covered",
)
@contextmanager
def _i2() -> Iterator[None]:
    with patched(
        ("paycore.flows.refunds.refund_failed", _silent_failure),
    ):
        yield
