"""How the fake provider pages a list, as Stripe does.

Sources: the pagination reference (docs.stripe.com/api/pagination): lists are newest
first, ``limit`` is 1 to 100 and defaults to 10, ``starting_after`` (older objects) and
``ending_before`` (newer ones) take an object id and exclude each other, ``has_more``
says more objects lie beyond the page; the list endpoints
(docs.stripe.com/api/payment_intents/list, docs.stripe.com/api/refunds/list): ``created``
is in seconds, filtered by ``gt``/``gte``/``lt``/``lte``; stripe-python 16.x
(``stripe/_list_object.py``, ``stripe/params/_payment_intent_list_params.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import islice
from typing import TypeVar

from paycore.errors import ProviderInvalidRequest, ProviderNotFound
from paycore.ports import DisputeView, IntentView, ListPage, RefundView

V = TypeVar("V", IntentView, RefundView, DisputeView)

#: Stripe's page size when ``limit`` is not given, and the largest it gives.
DEFAULT_LIMIT = 10
MAX_LIMIT = 100


def check_limit(limit: int) -> None:
    """Stripe refuses a ``limit`` outside 1..100 (docs.stripe.com/api/pagination)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ProviderInvalidRequest(
            f"Invalid limit {limit!r}: must be an integer from 1 to {MAX_LIMIT}.", param="limit"
        )


def in_window(
    created_s: int,
    *,
    gt: int | None = None,
    gte: int | None = None,
    lt: int | None = None,
    lte: int | None = None,
) -> bool:
    """Whether a ``created`` second passes Stripe's ``created[gt|gte|lt|lte]`` filters."""
    return (
        (gt is None or created_s > gt)
        and (gte is None or created_s >= gte)
        and (lt is None or created_s < lt)
        and (lte is None or created_s <= lte)
    )


def page(
    ordered: Sequence[V],
    keep: Callable[[V], bool],
    *,
    kind: str,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
) -> ListPage[V]:
    """One page of ``ordered`` (the whole list, newest first), filtered by ``keep``.

    A cursor is a place in the whole list, so it may name an object the filters leave
    out; an id not in the list at all is Stripe's ``resource_missing``."""
    check_limit(limit)
    if starting_after is not None and ending_before is not None:
        raise ProviderInvalidRequest(
            "starting_after and ending_before cannot be used together.", param="ending_before"
        )
    ids = [obj.id for obj in ordered]
    param, cursor = (
        ("starting_after", starting_after)
        if starting_after is not None
        else ("ending_before", ending_before)
    )
    if cursor is not None and cursor not in ids:
        raise ProviderNotFound(f"No such {kind}: '{cursor}'", param=param)
    if ending_before is not None:
        # the ``limit`` objects just newer than the cursor, still newest first
        newer = [obj for obj in ordered[: ids.index(ending_before)] if keep(obj)]
        return ListPage(tuple(newer[-limit:]), len(newer) > limit)
    start = 0 if starting_after is None else ids.index(starting_after) + 1
    # The page and one more, which says whether there are more: the filter stops there.
    kept = list(islice(filter(keep, ordered[start:]), limit + 1))
    return ListPage(tuple(kept[:limit]), len(kept) > limit)
