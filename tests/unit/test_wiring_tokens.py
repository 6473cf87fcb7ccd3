"""The local wiring's seeded tokens replay a run from an empty store, and are never drawn
again on a store an earlier run left: that run's references would come back, and two
objects of two runs would share the identity meant to be unique across time."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import mug_shop

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.tokens import RandomTokens, SeededTokens
from paycore_adapters.memory import SeededTokensReused, Wiring, in_memory
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.sql.sqlite_store import SQLiteStore


def reference(w: Wiring, session: str) -> str | None:
    made = w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
    return w.service.payment(made.payment_id).reference


def later(w: Wiring, first: Wiring) -> Wiring:
    """``w`` on ``first``'s provider: the next process of the same shop."""
    w.provider = first.provider
    w.service.engine.provider = first.provider
    return w


def test_a_seeded_wiring_replays_from_an_empty_store() -> None:
    one, two = mug_shop(in_memory()), mug_shop(in_memory(store=MemoryStore()))
    assert reference(one, "cs_one_0000000001") == reference(two, "cs_one_0000000001")
    assert one.service.installation_id() == two.service.installation_id()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_seeded_wiring_on_a_store_an_earlier_run_left_is_refused(
    kind: str, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "shop.db", migrate=True) if kind == "sqlite" else MemoryStore()
    first = mug_shop(in_memory(store=store))
    drawn = reference(first, "cs_one_0000000001")
    with pytest.raises(SeededTokensReused) as raised:
        in_memory(store=store)
    assert raised.value.code == "seeded_tokens_reused" and "give tokens" in raised.value.message
    with pytest.raises(SeededTokensReused):
        in_memory(store=store, seed=0)
    second = later(in_memory(store=store, tokens=RandomTokens()), first)
    assert reference(second, "cs_two_0000000001") != drawn
    again = later(in_memory(store=store, tokens=SeededTokens(1)), first)  # new to the store
    assert reference(again, "cs_three_00000001") not in {drawn, None}
    references = [p.reference for p in store.snapshot().rows(s.PAYMENTS)]
    assert len(set(references)) == len(references) == 3
