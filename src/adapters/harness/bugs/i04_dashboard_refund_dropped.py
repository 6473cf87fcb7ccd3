"""I4 (issue 7): a refund made in the provider's dashboard is dropped.

``I4`` re-creates paycore as it was before such refunds were recorded: the refund's
webhook matched no local refund and was let go, and nothing looked for refunds whose
webhook was lost, so the order stayed paid (it could ship) and the money returned at the
provider appeared nowhere in paycore's books. The harness's merchant refunds payments
in the dashboard (:meth:`paycore_adapters.harness.world.World.dashboard_refund`), so it
is caught.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paycore.ports import RefundView
from paycore.records import Payment, Refund
from paycore.unit import Unit

from .catalog import seeded
from .support import patched


def _matched_nothing(u: Unit, payment: Payment, view: RefundView) -> Refund | None:
    """A refund paycore did not make is not recorded: nothing changes, nobody is told."""
    return None


@seeded(
    "I4",
    "a refund made in the provider's dashboard matches no local refund and is dropped: "
    "the order stays paid and the returned money is in no book, webhook or scan",
    "refunds-recorded",
    "provider-refunds-within-captured",
)
@contextmanager
def _i4() -> Iterator[None]:
    with patched(
        ("paycore.flows.webhooks.record_external_refund", _matched_nothing),
        ("paycore.flows.external.record_external_refund", _matched_nothing),
    ):
        yield
