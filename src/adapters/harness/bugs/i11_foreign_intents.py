"""I11 (issue 7): the reconciler treats every intent on the account as its own.

It re-creates the reconciler that canceled or refunded every intent no payment owned,
whoever made it: ``reconcile.is_ours`` answers yes to anything. The harness's world starts
with foreign objects on its account (:data:`paycore_adapters.harness.foreign.CROWD`),
so it is caught.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from .catalog import seeded
from .support import patched


def _anyones(metadata: Mapping[str, str], installation: str | None) -> bool:
    return True


@seeded(
    "I11",
    "the reconciler cancels or refunds every intent no payment owns, invoices, payment "
    "links and another store's payments included",
    "foreign-left-alone",
)
@contextmanager
def _i11() -> Iterator[None]:
    with patched(("paycore.flows.reconcile.is_ours", _anyones)):
        yield
