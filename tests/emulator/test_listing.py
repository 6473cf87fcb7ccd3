"""The bare stripe SDK against the emulator: a list's ``created`` window, newest first,
and its cursor."""

from __future__ import annotations

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
