"""The bare stripe SDK against the emulator: a list's ``created`` window, newest first,
and its cursor; search results paged by ``limit`` and ``next_page``; Stripe's code for an
action the intent's status forbids."""

from __future__ import annotations

import pytest
import stripe

from paycore_adapters.emulator import Emulator

from .conftest import create


def test_lists_are_newest_first_and_paged_by_cursor(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    clock = emu.model.clock
    start_s = clock.now() // 1000
    ids = []
    for n in range(5):
        ids.append(create(client, f"k_list_{n}").id)
        clock.advance(1000)  # type: ignore[attr-defined]
    first = client.v1.payment_intents.list({"created": {"gte": start_s}, "limit": 2})
    assert first.object == "list" and first.url == "/v1/payment_intents"
    assert [p.id for p in first.data] == ids[::-1][:2] and first.has_more
    second = client.v1.payment_intents.list(
        {"created": {"gte": start_s}, "limit": 2, "starting_after": first.data[-1].id}
    )
    assert [p.id for p in second.data] == ids[::-1][2:4]
    window = client.v1.payment_intents.list({"created": {"gte": start_s + 1, "lt": start_s + 3}})
    assert [p.id for p in window.data] == [ids[2], ids[1]] and not window.has_more


def test_search_pages_by_limit_and_next_page(emu: Emulator, client: stripe.StripeClient) -> None:
    made = [create(client, f"k_s{n}", metadata={"order_id": "ord_s"}).id for n in range(3)]
    create(client, "k_other", metadata={"order_id": "ord_other"})
    query = "metadata['order_id']:'ord_s'"
    emu.model.clock.advance(emu.model.search_lag_ms)  # type: ignore[attr-defined]
    first = client.v1.payment_intents.search({"query": query, "limit": 2})
    assert first.object == "search_result" and first.has_more and first.next_page
    assert len(first.data) == 2
    rest = client.v1.payment_intents.search({"query": query, "limit": 2, "page": first.next_page})
    assert not rest.has_more and rest.next_page is None
    assert [p.id for p in [*first.data, *rest.data]] == made[::-1]
    for bad in ({"limit": 0}, {"limit": 101}, {"page": "nonsense"}):
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.payment_intents.search({"query": query, **bad})  # type: ignore[arg-type]


def test_an_action_the_status_forbids_names_stripes_code(client: stripe.StripeClient) -> None:
    pi = create(client, "k_c1")
    client.v1.payment_intents.cancel(pi.id, None, {"idempotency_key": "k_c2"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.capture(pi.id, None, {"idempotency_key": "k_c3"})
    assert caught.value.http_status == 400
    assert caught.value.code == "payment_intent_unexpected_state"
