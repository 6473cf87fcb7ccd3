"""The Stripe adapter's ``list_disputes`` over the real SDK with a stub in place of the
network (:mod:`tests.stripe_wire`): what goes on the wire, and what paycore reads of each
listed dispute (its object as sent; one paycore cannot read spoils that one, not the
page)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.stripe_wire import KEY, Wire, page

from paycore import errors as E
from paycore.flows.disputes import read_object
from paycore_adapters.stripe_provider import StripeProvider


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def provider(wire: Wire) -> StripeProvider:
    return StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)


def dispute(**fields: Any) -> dict[str, Any]:
    return {
        "id": "du_1",
        "object": "dispute",
        "amount": 1250,
        "currency": "eur",
        "charge": "ch_1",
        "payment_intent": "pi_1",
        "reason": "fraudulent",
        "status": "needs_response",
        "created": 1_767_225_600,
        "evidence_details": {"due_by": 1_767_830_400, "has_evidence": False},
        **fields,
    }


def test_disputes_are_listed_by_created_window_a_page_at_a_time(
    wire: Wire, provider: StripeProvider
) -> None:
    wire.answer(200, page(dispute(id="du_2"), dispute(id="du_1", reason=None), has_more=True))
    got = provider.list_disputes(created_gte_s=1_767_225_600, limit=2, starting_after="du_3")
    ((method, path, _, query),) = wire.sent
    assert (method, path) == ("GET", "/v1/disputes")
    assert query == {"created[gte]": "1767225600", "limit": "2", "starting_after": "du_3"}
    assert ([d.id for d in got.data], got.has_more) == (["du_2", "du_1"], True)
    assert got.data[0].created == 1_767_225_600_000
    first = read_object(got.data[0].id, got.data[0].snapshot)
    assert first is not None
    assert (first.intent_id, first.amount, first.currency, first.due_by) == (
        "pi_1",
        1250,
        "EUR",
        1_767_830_400,
    )
    assert read_object(got.data[1].id, got.data[1].snapshot) is None  # no reason: unusable


def test_a_list_of_something_else_is_not_understood(wire: Wire, provider: StripeProvider) -> None:
    wire.answer(200, page({"id": "pi_1", "object": "payment_intent"}))
    with pytest.raises(E.ProviderError):
        provider.list_disputes(created_gte_s=0)
