"""Reading a provider list whole: every page, each object once.

The provider pages its lists newest first, 10 objects a page unless asked for more,
and says ``has_more`` while older objects follow (Stripe: docs.stripe.com/api/pagination;
stripe-python's ``ListObject.auto_paging_iter`` in ``stripe/_list_object.py`` walks the
same way, ``starting_after`` the last id of each page). A flow that reads only the first
page misses objects: an intent's eleventh refund, or an orphaned charge made before the
newest ten intents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from paycore.ports import DisputeView, IntentView, ListPage, PaymentProvider, RefundView

V = TypeVar("V", IntentView, RefundView, DisputeView)

#: The largest page the provider gives (Stripe: ``limit`` from 1 to 100).
MAX_PAGE = 100


def seconds_from(ms: int) -> int:
    """The provider's ``created`` bound (seconds) for a window starting at ``ms``: rounded
    down, so the window starts a little early and never misses the second ``ms`` is in."""
    return ms // 1000


def seconds_until(ms: int) -> int:
    """The provider's ``created`` bound (seconds, exclusive) for a window ending at ``ms``:
    the second after the one ``ms`` is in, so an object made in that second, stamped with
    its whole second, is still inside."""
    return ms // 1000 + 1


def walk(read: Callable[[str | None], ListPage[V]], *, key: Callable[[V], str]) -> list[V]:
    """Every object of a list, newest first, each id once: ``read(cursor)`` gives the page
    after ``cursor`` (``None``: the first page). A page shorter than asked for does not end
    the walk; only ``has_more`` does."""
    seen: dict[str, V] = {}
    cursor: str | None = None
    while True:
        page = read(cursor)
        for obj in page.data:
            seen.setdefault(key(obj), obj)
        if not page.has_more or not page.data:
            return list(seen.values())
        cursor = key(page.data[-1])


def all_refunds(p: PaymentProvider, intent_id: str) -> list[RefundView]:
    """Every refund of the intent, newest first, read page by page."""
    return walk(
        lambda after: p.list_refunds(intent_id, limit=MAX_PAGE, starting_after=after),
        key=lambda r: r.id,
    )


def intents_between(
    p: PaymentProvider, created_gte_s: int, created_lt_s: int | None = None
) -> list[IntentView]:
    """Every intent created in ``[created_gte_s, created_lt_s)`` (seconds), newest first,
    each once. Successive windows that share their boundary second, read this way and
    de-duplicated by id, miss no intent made in that second."""
    return walk(
        lambda after: p.list_intents(
            created_gte_s=created_gte_s,
            created_lt_s=created_lt_s,
            limit=MAX_PAGE,
            starting_after=after,
        ),
        key=lambda i: i.id,
    )
