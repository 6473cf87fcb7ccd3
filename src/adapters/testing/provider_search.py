"""The provider contract's search cases: search lags behind writes, the list does not.

Stripe's search is eventually consistent: "Don't use search for read-after-write flows
... Under normal operating conditions, data is searchable in under 1 minute", up to an
hour behind during outages, while the list endpoints are not subject to that delay
(docs.stripe.com/search, "Data freshness"; docs.stripe.com/api/payment_intents/search).
paycore therefore proves an intent absent only from a list by ``created`` window
(:func:`paycore.listing.intents_between`), never from an empty search.

:class:`SearchCases` is a mixin of :class:`~paycore_adapters.testing.ProviderContract`.
What holds on every provider: a new intent is in the list at once, and in search once the
driver's ``searchable()`` returned. That a new intent is *missing* from search is only
the model's promise (Stripe's lag is "under 1 minute", not a fixed minute): it is
asserted for a driver that says how long its provider lags (``search_lag_ms``, as
:class:`~paycore_adapters.testing.FakeDriver` does) and is an expected failure, with the
reason, for one that cannot.
"""

from __future__ import annotations

import pytest

from paycore.listing import intents_between
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView

from .provider_case import ContractCase


def _lag_ms(c: ContractCase) -> int:
    lag: int | None = getattr(c.driver, "search_lag_ms", None)
    if lag is None or lag <= 0:
        pytest.xfail("the driver cannot say how long its provider's search lags (search_lag_ms)")
    return lag


def _pass_time(c: ContractCase, ms: int) -> None:
    passing = getattr(c.driver, "pass_time", None)
    if passing is None:
        pytest.xfail("the driver cannot let time pass for the provider (pass_time)")
    passing(ms)


def _searched(c: ContractCase, order: str = "o1") -> list[str]:
    return [v.id for v in c.provider.search_intents(metadata_key="order_id", value=c.order(order))]


def _listed(c: ContractCase, view: IntentView) -> list[str]:
    """The run's intents in the list window from ``view``'s second on (no lag)."""
    return [v.id for v in intents_between(c.provider, view.created // 1000) if v.id == view.id]


class SearchCases:
    """Search cases, run with the rest of :class:`ProviderContract`."""

    def test_a_new_intent_is_listed_at_once_and_searchable_once_search_caught_up(
        self, c: ContractCase
    ) -> None:
        """A new intent is in the list by ``created`` window at once (the list does not
        lag), and in search once the search caught up (docs.stripe.com/search, "Data
        freshness": "For read-after-write flows that require immediate data availability,
        use the various list APIs")."""
        pi = c.create(order="o1")
        assert _listed(c, pi) == [pi.id]
        c.driver.searchable()
        assert _searched(c) == [pi.id]
        assert _listed(c, pi) == [pi.id]

    def test_search_does_not_show_a_new_intent_until_its_lag_passed(self, c: ContractCase) -> None:
        """Right after its creation, and until the search's lag passed, an intent is
        missing from search though the list has it: an empty search is no proof that
        nothing was created (docs.stripe.com/search: "Don't use search for
        read-after-write flows ... the data won't be immediately available to search")."""
        lag = _lag_ms(c)
        pi = c.create(order="o1")
        assert _searched(c) == [] and _listed(c, pi) == [pi.id]
        _pass_time(c, lag - 1)
        assert _searched(c) == [] and _listed(c, pi) == [pi.id]
        _pass_time(c, 1)
        assert _searched(c) == [pi.id]

    def test_the_lag_counts_from_each_intents_own_creation(self, c: ContractCase) -> None:
        """An intent made after others is missing from search while the older ones show:
        each write reaches the search on its own (docs.stripe.com/search, "Data
        freshness"); listing shows both at once."""
        lag = _lag_ms(c)
        old = c.create(order="o1")
        _pass_time(c, lag)
        req = CreateIntent(Money(700, "EUR"), c.driver.charging_account(), {"order_id": c.order()})
        new = c.provider.create_intent(req, idempotency_key=c.key("create-again"))
        assert _searched(c) == [old.id]
        assert {v.id for v in intents_between(c.provider, old.created // 1000)} >= {
            old.id,
            new.id,
        }
        c.driver.searchable()
        assert _searched(c) == [new.id, old.id]
