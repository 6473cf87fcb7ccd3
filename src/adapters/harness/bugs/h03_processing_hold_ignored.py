"""H3 (review of the harness's blind spots): the processing hold is not waited out.

``jobs._maybe_unhold`` puts the stock of a payment the provider is processing back on
sale once the order's expiry plus ``Config.processing_hold_ms`` has passed (never when
it is None). Here the janitor gives it back at the order's expiry, as if there were no
hold: a bank debit still processing loses its goods an hour early, or, in a shop that
holds them until the payment settles, at once. Re-created by calling the function with
a hold of nothing. ``stock-kept-for-live-payment`` excuses any expiry the processing
hold made (its trigger ``expire_processing``), whenever it came; only the world knows
the hold (``processing-hold-kept``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paycore import jobs
from paycore.unit import Unit

from .catalog import seeded
from .support import patched

_MAYBE_UNHOLD = jobs._maybe_unhold


def _no_hold(u: Unit, hold_ms: int | None, expired_at: int, order_id: str) -> None:
    _MAYBE_UNHOLD(u, 0, expired_at, order_id)


@seeded(
    "H3",
    "the janitor gives a processing payment's stock back at its order's expiry, not once "
    "the shop's processing hold has passed (nor keeps it when the shop holds it until the "
    "payment settles)",
    "processing-hold-kept",
)
@contextmanager
def _h3() -> Iterator[None]:
    with patched(("paycore.jobs._maybe_unhold", _no_hold)):
        yield
