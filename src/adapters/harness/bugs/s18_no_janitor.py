"""S18: no cleanup of stale payments.

``jobs.janitor`` is replaced by one that does nothing, so abandoned checkouts keep
their stock held and their intents chargeable forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paycore.flows.engine import Engine

from .catalog import seeded
from .support import patched


def _no_janitor(engine: Engine) -> list[str]:
    """There is no cleanup job."""
    return []


@seeded(
    "S18",
    "no cleanup of stale payments: abandoned checkouts keep their stock held and their "
    "intents chargeable forever",
    "no-stale-hold",
)
@contextmanager
def _s18() -> Iterator[None]:
    with patched(("paycore.jobs.janitor", _no_janitor)):
        yield
