"""The provider contract's listing cases: the order, pages, cursors and ``created``
windows of ``list_intents`` and ``list_refunds``, as Stripe lists.

:class:`ProviderListing` is a mixin of :class:`~paycore_adapters.testing.ProviderContract`
(its ``c`` fixture gives each case its provider and driver). Cases that need intents
made in different seconds let time pass with the driver's ``pass_seconds(n)`` when it
has one (:class:`~paycore_adapters.testing.FakeDriver` moves the fake's clock) and
otherwise wait: Stripe's ``created`` is in whole seconds.
"""

from __future__ import annotations

import time

import pytest

from paycore.errors import ProviderInvalidRequest, ProviderNotFound
from paycore.listing import all_refunds, intents_between
from paycore.ports import IntentView

from .provider_case import ContractCase


def _second(view: IntentView) -> int:
    """The provider's ``created`` second of an intent (the port's ``created`` is in ms)."""
    return view.created // 1000


def _pass_a_second(c: ContractCase) -> None:
    passing = getattr(c.driver, "pass_seconds", None)
    if passing is not None:
        passing(1)
    else:
        time.sleep(1.0)


def _walk(c: ContractCase, since_s: int, limit: int, ids: list[str]) -> list[list[str]]:
    """The run's intents of ``ids`` on each page of a walk with ``starting_after``."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = c.provider.list_intents(created_gte_s=since_s, limit=limit, starting_after=cursor)
        assert len(page.data) <= limit
        pages.append([i.id for i in page.data if i.id in ids])
        if not page.has_more:
            return pages
        cursor = page.data[-1].id


class ProviderListing:
    """Listing cases, run with the rest of :class:`ProviderContract`."""

    def test_intents_list_newest_first(self, c: ContractCase) -> None:
        """The newest intent comes first (docs.stripe.com/api/pagination: "objects in
        reverse chronological order"; stripe-python ``stripe/_list_object.py``)."""
        ids = []
        for n in range(3):
            ids.append(c.create(order=f"o{n}").id)
            _pass_a_second(c)
        since = _second(c.provider.retrieve_intent(ids[0]))
        page = c.provider.list_intents(created_gte_s=since)
        assert [i.id for i in page.data if i.id in ids] == ids[::-1]
        assert [i.id for i in c.mine(c.provider.retrieve_intent(ids[0]).created)] == ids[::-1]

    def test_the_cursor_walks_back_in_time_over_pages(self, c: ContractCase) -> None:
        """``starting_after`` the last id of a page gives the next, older intents, and
        ``has_more`` says whether any are left (docs.stripe.com/api/pagination,
        stripe-python ``ListObject.auto_paging_iter``): five intents, pages of two, each
        intent once, newest first, on at least three pages."""
        ids = [c.create(order=f"o{n}").id for n in range(5)]
        since = _second(c.provider.retrieve_intent(ids[0]))
        pages = _walk(c, since, 2, ids)
        assert len(pages) >= 3
        walked = [i for p in pages for i in p]
        assert sorted(walked) == sorted(ids) and len(walked) == 5
        assert walked == [i.id for i in c.mine(c.provider.retrieve_intent(ids[0]).created)]

    def test_limit_defaults_to_ten_and_is_at_most_one_hundred(self, c: ContractCase) -> None:
        """``limit`` is 1 to 100, 10 when not given (docs.stripe.com/api/pagination)."""
        for n in range(11):
            c.create(order=f"o{n}")
        page = c.provider.list_intents(created_gte_s=0)
        assert len(page.data) == 10 and page.has_more
        for bad in (0, 101):
            with pytest.raises(ProviderInvalidRequest):
                c.provider.list_intents(created_gte_s=0, limit=bad)

    def test_created_window_bounds_are_whole_seconds(self, c: ContractCase) -> None:
        """``created[gte]`` keeps the intents of its second and later, ``created[lt]``
        drops those of its second and later; ``created`` is in seconds
        (docs.stripe.com/api/payment_intents/list)."""
        views = []
        for n in range(3):
            views.append(c.create(order=f"o{n}"))
            _pass_a_second(c)
        ids = [v.id for v in views]
        s0, s1, s2 = (_second(v) for v in views)
        assert s0 < s1 < s2

        def window(gte: int, lt: int | None) -> list[str]:
            return [i.id for i in intents_between(c.provider, gte, lt) if i.id in ids]

        assert window(s1, s2) == [ids[1]]
        assert window(s0, s1) == [ids[0]]
        assert window(s1, None) == [ids[2], ids[1]]
        assert window(s0, s2 + 1) == ids[::-1]
        assert window(s2 + 1, None) == []

    def test_intents_of_one_second_are_each_listed_once(self, c: ContractCase) -> None:
        """Intents sharing a ``created`` second: a walk one at a time lists each once
        (the cursor is an id, not a time: docs.stripe.com/api/pagination), and two
        windows that share that second, joined by id, hold each once."""
        ids = [c.create(order=f"o{n}").id for n in range(3)]
        views = [c.provider.retrieve_intent(i) for i in ids]
        first, last = _second(views[0]), _second(views[-1])
        pages = _walk(c, first, 1, ids)
        walked = [i for p in pages for i in p]
        assert sorted(walked) == sorted(ids) and len(walked) == 3
        earlier = intents_between(c.provider, first - 1, last + 1)
        later = intents_between(c.provider, last, last + 2)
        joined = {i.id for i in [*earlier, *later] if i.id in ids}
        assert joined == set(ids)
        assert {v.id for v in later} >= {v.id for v in views if _second(v) == last}

    def test_a_cursor_naming_no_intent_is_not_found(self, c: ContractCase) -> None:
        """A cursor naming no object is ``resource_missing`` (docs.stripe.com/api/errors)."""
        with pytest.raises(ProviderNotFound):
            c.provider.list_intents(created_gte_s=0, limit=2, starting_after=f"pi_none{c.run}")

    def test_more_than_ten_refunds_take_two_pages(self, c: ContractCase) -> None:
        """An intent's refunds list newest first, 10 a page by default with ``has_more``
        (docs.stripe.com/api/refunds/list, docs.stripe.com/api/pagination): twelve
        refunds, ten on the first page, two after it; reading every page finds all."""
        pi = c.paid(1200)
        made = [c.refund(pi.id, 100, f"r{n}").id for n in range(12)]
        first = c.provider.list_refunds(pi.id)
        assert [r.id for r in first.data] == made[::-1][:10] and first.has_more
        rest = c.provider.list_refunds(pi.id, starting_after=first.data[-1].id)
        assert [r.id for r in rest.data] == made[1::-1] and not rest.has_more
        assert [r.id for r in all_refunds(c.provider, pi.id)] == made[::-1]
