"""L2 (review of provider listing): only the first page of an intent's refunds is read.

Stripe lists an intent's refunds ten a page unless asked for more, newest first, with
``has_more`` when older ones follow (docs.stripe.com/api/refunds/list). Here every flow
that lists refunds reads one page and stops (``listing.all_refunds``): a refund flow
whose answer was lost does not find its refund once newer refunds pushed it off the
first page and refunds again. When what is left covers it, the money goes back twice;
when not, the provider refuses and paycore records as failed a refund the provider
made. The scan for refunds made outside paycore never sees the older ones either. The
harness lists refunds one a page, in its quiet phase too
(:data:`paycore_adapters.harness.world_core.REFUND_PAGE`), so the random actions catch it
without a story: a refund made in the dashboard with its webhook lost, then any newer
refund of the payment, and the scan misses it for good. Its story
``refund_answer_lost_behind_newer_refunds`` pushes a lost refund off the first page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paycore.ports import PaymentProvider, RefundView

from .catalog import seeded
from .support import patched


def _first_page(p: PaymentProvider, intent_id: str) -> list[RefundView]:
    return list(p.list_refunds(intent_id).data)


@seeded(
    "L2",
    "only the first page of an intent's refunds is read: a refund whose answer was lost is "
    "not found once newer ones push it off that page and is made again (twice, or refused "
    "and recorded as failed though the provider made it), and older refunds made outside "
    "paycore are never recorded",
    "provider-refunds-within-captured",
    "statuses-agree",
    "refunds-recorded",
)
@contextmanager
def _l2() -> Iterator[None]:
    with patched(("paycore.listing.all_refunds", _first_page)):
        yield
