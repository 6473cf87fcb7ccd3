"""The provider contract's concurrency cases: requests that overlap, and saved 500s.

Stripe runs requests at once. A second request with the key of one still running is
refused with HTTP 409 ``idempotency_key_in_use`` and nothing is saved for it; the first
goes on, and once it finished the key replays its result
(docs.stripe.com/api/idempotent_requests, docs.stripe.com/error-codes). A request that
changes an object another request holds is refused with HTTP 429 ``lock_timeout`` having
done nothing (docs.stripe.com/error-codes#lock-timeout). A 500 is saved under its key
like any result begun: "Subsequent requests with the same key return the same result,
including 500 errors" (docs.stripe.com/api/idempotent_requests), and its effect is
indeterminate (docs.stripe.com/error-low-level, "Server errors").

:class:`ConcurrencyCases` is a mixin of :class:`~paycore_adapters.testing.ProviderContract`.
The cases need the far side to hold a request in flight and to end one in a 500, which
the port cannot ask for: the driver's optional ``hold_request()``,
``release_requests()`` and ``save_500_next(applied=)``
(:class:`~paycore_adapters.testing.provider_case.HoldingDriver`). A driver without them
makes these cases expected failures, with the reason.
"""

from __future__ import annotations

from typing import Any

import pytest

from paycore.errors import (
    ProviderIdempotencyInUse,
    ProviderInvalidRequest,
    ProviderLockTimeout,
    ProviderUnavailable,
)
from paycore.money import Money
from paycore.ports import CreateIntent

from .provider_case import VISA, ContractCase


def _driver(c: ContractCase, *names: str) -> Any:
    for name in names:
        if getattr(c.driver, name, None) is None:
            pytest.xfail(f"the driver cannot {name.replace('_', ' ')} (no {name}())")
    return c.driver


def _request(c: ContractCase, order: str = "o1") -> CreateIntent:
    return CreateIntent(
        Money(1000, "EUR"), c.driver.charging_account(), {"order_id": c.order(order)}
    )


def _now_ms(c: ContractCase) -> int:
    """A moment no later than the next intent's ``created`` (a throwaway intent's)."""
    return c.create(order="clock").created


class ConcurrencyCases:
    """Concurrency cases, run with the rest of :class:`ProviderContract`."""

    def test_a_key_in_flight_refuses_its_key_saves_nothing_then_replays_the_first(
        self, c: ContractCase
    ) -> None:
        """While a request runs, its key is in use (409 ``idempotency_key_in_use``): the
        refused request makes nothing and saves nothing. The first lands once it ends,
        and the key then replays its intent: one intent in all."""
        driver = _driver(c, "hold_request", "release_requests")
        since, key = _now_ms(c), c.key("create-held")
        driver.hold_request()
        with pytest.raises(ProviderUnavailable):
            c.provider.create_intent(_request(c), idempotency_key=key)
        with pytest.raises(ProviderIdempotencyInUse) as refused:
            c.provider.create_intent(_request(c), idempotency_key=key)
        assert refused.value.outcome == "ambiguous" and refused.value.retryable
        assert [v.metadata["order_id"] for v in c.mine(since)] == [c.order("clock")]
        driver.release_requests()
        landed = [v for v in c.mine(since) if v.metadata["order_id"] == c.order("o1")]
        assert len(landed) == 1
        assert c.provider.create_intent(_request(c), idempotency_key=key) == landed[0]
        assert len([v for v in c.mine(since) if v.metadata["order_id"] == c.order("o1")]) == 1

    def test_another_request_on_an_intent_in_flight_times_out_on_its_lock(
        self, c: ContractCase
    ) -> None:
        """A cancel of an intent whose confirmation is still running is refused with 429
        ``lock_timeout`` and does nothing: the confirmation lands and the intent is paid.
        Nothing was saved under the cancel's key: sent again, it is refused for the
        intent's state (succeeded), not replayed as a timeout."""
        driver = _driver(c, "hold_request", "release_requests")
        pi = c.create()
        driver.hold_request()
        with pytest.raises(ProviderUnavailable):
            c.confirm(pi.id, VISA, "confirm-held")
        cancel_key = c.key("cancel-locked")
        with pytest.raises(ProviderLockTimeout) as refused:
            c.provider.cancel_intent(pi.id, idempotency_key=cancel_key)
        assert refused.value.retryable and refused.value.outcome == "definite"
        assert c.provider.retrieve_intent(pi.id).status == "requires_payment_method"
        driver.release_requests()
        assert c.provider.retrieve_intent(pi.id).status == "succeeded"
        assert c.confirm(pi.id, VISA, "confirm-held").status == "succeeded"
        with pytest.raises(ProviderInvalidRequest):
            c.provider.cancel_intent(pi.id, idempotency_key=cancel_key)

    def test_a_refund_of_an_intent_in_flight_times_out_and_the_first_refund_lands_once(
        self, c: ContractCase
    ) -> None:
        """A refund still running holds its intent: a second refund of it (another key)
        gets 429 ``lock_timeout`` and makes nothing; the first lands once, and its key
        replays it."""
        driver = _driver(c, "hold_request", "release_requests")
        pi = c.paid()
        driver.hold_request()
        with pytest.raises(ProviderUnavailable):
            c.refund(pi.id, 400, "refund-held")
        with pytest.raises(ProviderLockTimeout):
            c.refund(pi.id, 400, "refund-other")
        assert list(c.provider.list_refunds(pi.id).data) == []
        driver.release_requests()
        listed = c.provider.list_refunds(pi.id).data
        assert [r.amount for r in listed] == [400]
        assert c.refund(pi.id, 400, "refund-held") == listed[0]

    def test_a_saved_500_is_replayed_on_its_key_while_a_new_key_works(
        self, c: ContractCase
    ) -> None:
        """A 500 whose request made nothing: the key answers 500 again, the list shows
        nothing, and a new key makes the intent."""
        driver = _driver(c, "save_500_next")
        since, key = _now_ms(c), c.key("create-500")
        driver.save_500_next(applied=False)
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                c.provider.create_intent(_request(c), idempotency_key=key)
        assert [v.metadata["order_id"] for v in c.mine(since)] == [c.order("clock")]
        made = c.provider.create_intent(_request(c), idempotency_key=c.key("create-500-new"))
        assert [v.metadata["order_id"] for v in c.mine(since)] == [c.order("o1"), c.order("clock")]
        assert c.mine(since)[0].id == made.id

    def test_a_saved_500_may_hide_what_its_request_made(self, c: ContractCase) -> None:
        """A 500 is indeterminate: here its request made the intent, the key still answers
        500, and only the list shows what exists (a new key at once would make a
        second intent)."""
        driver = _driver(c, "save_500_next")
        since, key = _now_ms(c), c.key("create-500-made")
        driver.save_500_next(applied=True)
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                c.provider.create_intent(_request(c), idempotency_key=key)
        made = [v for v in c.mine(since) if v.metadata["order_id"] == c.order("o1")]
        assert len(made) == 1 and made[0].status == "requires_payment_method"
