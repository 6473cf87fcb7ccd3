"""The provider contract's dispute cases: ``list_disputes`` as Stripe lists disputes.

Stripe's ``GET /v1/disputes`` (docs.stripe.com/api/disputes/list) lists the account's
disputes newest first, filtered by ``created[gte]`` (seconds), ``limit`` 1 to 100 (10
unless asked), paged with ``starting_after`` and ``has_more`` as every list
(docs.stripe.com/api/pagination); each is the dispute object
(docs.stripe.com/api/disputes/object): ``payment_intent``, ``amount``, lowercase
``currency``, ``reason``, ``status``, ``evidence_details.due_by``, ``created``.

A case needs a disputed payment, which only the far side makes (the customer's bank): the
driver's optional ``disputed_payment(provider, intent_id, key)`` confirms the intent so
that its charge is disputed, and returns once the dispute is listed. The fake's driver
pays and opens a dispute on the model; Stripe's test mode pays with its dispute test
card, ``pm_card_createDispute`` (docs.stripe.com/testing#disputes). A driver without it
ends these cases as expected failures, saying so.
"""

from __future__ import annotations

from typing import Any

import pytest

from paycore.errors import ProviderNotFound
from paycore.flows.disputes import CLOSED, read_object
from paycore.listing import walk
from paycore.ports import DisputeView

from .provider_case import ContractCase


def _disputed(c: ContractCase, order: str) -> str:
    """A paid intent of this run whose charge the bank disputes; its id."""
    pay: Any = getattr(c.driver, "disputed_payment", None)
    if pay is None:
        pytest.xfail("this backend's driver cannot have a charge disputed")
    intent = c.create(1000, order)
    pay(c.provider, intent.id, c.key(f"confirm-{order}"))
    return intent.id


def _listed(c: ContractCase, since_s: int, intents: set[str]) -> list[DisputeView]:
    """Every dispute of the window of ``intents``, newest first, read page by page."""
    found = walk(
        lambda after: c.provider.list_disputes(
            created_gte_s=since_s, limit=1, starting_after=after
        ),
        key=lambda d: d.id,
    )
    return [d for d in found if d.snapshot.get("payment_intent") in intents]


class DisputeCases:
    """Dispute cases, run with the rest of :class:`ProviderContract`."""

    def test_a_disputed_payment_s_dispute_is_listed_as_paycore_reads_it(
        self, c: ContractCase
    ) -> None:
        """The dispute object names its intent, its amount and currency, an open status
        (docs.stripe.com/api/disputes/object); paycore reads it as a dispute event's."""
        intent = _disputed(c, "d1")
        since = c.provider.retrieve_intent(intent).created // 1000
        listed = _listed(c, since, {intent})
        assert len(listed) == 1
        view = listed[0]
        assert view.created // 1000 >= since
        dispute = read_object(view.id, view.snapshot)
        assert dispute is not None and dispute.id == view.id
        assert (dispute.intent_id, dispute.amount, dispute.currency) == (intent, 1000, "EUR")
        assert dispute.status not in CLOSED

    def test_disputes_list_newest_first_a_page_at_a_time(self, c: ContractCase) -> None:
        """Two disputes, pages of one: the newer first, each once, ``has_more`` between
        them (docs.stripe.com/api/pagination)."""
        first = _disputed(c, "d1")
        passing = getattr(c.driver, "pass_seconds", None)
        if passing is not None:
            passing(1)
        second = _disputed(c, "d2")
        since = c.provider.retrieve_intent(first).created // 1000
        listed = _listed(c, since, {first, second})
        assert [d.snapshot.get("payment_intent") for d in listed] == [second, first]

    def test_a_dispute_before_the_window_is_not_listed(self, c: ContractCase) -> None:
        """``created[gte]`` leaves out older disputes (docs.stripe.com/api/disputes/list)."""
        intent = _disputed(c, "d1")
        after = c.provider.retrieve_intent(intent).created // 1000 + 3600
        assert _listed(c, after, {intent}) == []

    def test_a_cursor_naming_no_dispute_is_not_found(self, c: ContractCase) -> None:
        """A cursor naming no object is ``resource_missing`` (docs.stripe.com/api/errors)."""
        with pytest.raises(ProviderNotFound):
            c.provider.list_disputes(created_gte_s=0, limit=2, starting_after=f"du_none{c.run}")
