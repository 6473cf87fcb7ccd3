"""The reconciler sees a dispute's decision although the bank decides weeks after the
dispute was opened (its ``closed`` and ``funds_reinstated`` events lost): it lists the
disputes created over a dispute's whole life, not only the intents' window."""

from __future__ import annotations

import pytest
from tests.chaos.test_dispute_reconciliation import alert, paid, reconcile, w  # noqa: F401

from paycore.flows.reconcile_disputes import DISPUTE_LIFE_MS
from paycore_adapters.memory import Wiring

DAY = 24 * 3600 * 1000


@pytest.mark.parametrize("days", [3, 80])
def test_a_dispute_won_weeks_later_with_its_events_lost_resolves_its_alert(
    w: Wiring,  # noqa: F811
    days: int,
) -> None:
    payment_id, intent = paid(w)
    du = w.provider.open_dispute(intent)
    for e in w.provider.take_events():  # opened: its events delivered, the alert open
        w.service.handle_webhook(e)
    first = alert(w, payment_id)
    assert first is not None and first.open
    w.clock.advance(days * DAY)
    w.provider.close_dispute(du, won=True)
    w.provider.take_events()  # closed, funds_reinstated: lost
    assert reconcile(w)["disputed"] == [payment_id]
    row = alert(w, payment_id)
    assert row is not None and not row.open and row.fields["status"] == "won"


def test_a_dispute_life_covers_the_response_and_the_banks_decision() -> None:
    # up to 21 days to respond, then 60-75 days for the bank (support.stripe.com)
    assert DISPUTE_LIFE_MS >= (21 + 75) * DAY
