"""A webhook flow the provider's absence killed is revived by the reconciler, as orphan
and refund flows are: its one step fetches the object and applies what the provider says
now, so running it again once the provider answers is safe. Before, it stayed dead (a
``flow_dead_lettered`` alert open, ``flows-finished`` broken) until a person revived it,
although nothing about it needed a person."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.chaos.test_outages import DAY, HOUR, outage
from tests.support import SESSION, faultable, mug_shop, quiesce

from paycore.errors import FlowPending
from paycore.flows.checkout import CartItem
from paycore.status import FlowStatus
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore


@pytest.fixture(params=["memory", "sqlite"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Wiring:
    store = SQLiteStore(tmp_path / "wh.db", migrate=True) if request.param == "sqlite" else None
    w = faultable(in_memory(None, store=store))  # type: ignore[arg-type]
    return mug_shop(w, 5)


def test_a_webhook_flow_dead_of_a_four_day_outage_is_revived_and_finishes(shop: Wiring) -> None:
    w = shop
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.provider.take_events()
    intent = w.service.payment(res.payment_id).provider_intent_id
    assert intent is not None
    w.provider.customer_confirm(intent, "pm_card_visa")  # paid on the provider's page
    until = outage(w, 4 * DAY)
    pending = 0
    for event in w.provider.take_events():
        try:
            w.service.handle_webhook(event)
        except FlowPending:  # recorded; the recovery worker goes on with it
            pending += 1
    assert pending >= 1
    while w.clock.now() + HOUR < until:  # every job runs, and fails, through the outage
        w.clock.advance(HOUR)
        w.service.run_jobs()
    dead = [f.id for f in w.service.flows("dead") if f.kind == "webhook"]
    assert dead, "the outage outlasts the retry horizon: the webhook flows die"
    w.provider.fault = None
    for _ in range(3):
        w.clock.advance(HOUR)
        w.service.run_jobs()
    assert [w.service.flow(fid).status for fid in dead] == [FlowStatus.SUCCEEDED] * len(dead)
    assert not [a for a in w.service.attention() if a.kind == "flow_dead_lettered"]
    quiesce(w)
    assert w.violations() == []
