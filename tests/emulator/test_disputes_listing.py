"""The bare stripe SDK against the emulator's ``GET /v1/disputes``: Stripe's list object of
dispute objects, newest first, paged by cursor within a ``created[gte]`` window; a
parameter the route does not model is refused, never ignored."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from paycore_adapters.emulator import Emulator

from .conftest import create


def _disputed(emu: Emulator, client: stripe.StripeClient, n: int) -> tuple[str, str]:
    intent = create(client, f"k_du_{n}")
    client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    return intent.id, emu.model.open_dispute(intent.id)


def test_disputes_list_newest_first_and_page_by_cursor(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    clock: Any = emu.model.clock
    start_s = clock.now() // 1000
    made = []
    for n in range(3):
        made.append(_disputed(emu, client, n))
        clock.advance(1000)
    first = client.v1.disputes.list({"created": {"gte": start_s}, "limit": 2})
    assert first.object == "list" and first.url == "/v1/disputes" and first.has_more
    assert [d.id for d in first.data] == [du for _, du in made[::-1][:2]]
    top = first.data[0]
    assert (top.object, top.payment_intent, top.amount, top.currency) == (
        "dispute",
        made[-1][0],
        2500,
        "usd",
    )
    assert top.status == "needs_response" and top.created == start_s + 2
    rest = client.v1.disputes.list(
        {"created": {"gte": start_s}, "limit": 2, "starting_after": first.data[-1].id}
    )
    assert [d.id for d in rest.data] == [made[0][1]] and not rest.has_more
    later = client.v1.disputes.list({"created": {"gte": start_s + 2}})
    assert [d.id for d in later.data] == [made[-1][1]]


def test_a_parameter_the_route_does_not_model_is_refused(client: stripe.StripeClient) -> None:
    for bad in ({"created": {"lt": 1}}, {"payment_intent": "pi_x"}):
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.disputes.list(bad)  # type: ignore[arg-type]
        assert err.value.code == "parameter_unknown"
