"""``handle_webhook`` screens an event once: ``begin_webhook`` screens the same event again
in its transaction, and gets the first answer (an event is a frozen record of strings).
A dispute's answer reads its snapshot, a mapping, so it is screened each time."""

from __future__ import annotations

import pytest
from tests.support import SESSION, make_shop

from paycore.errors import InvalidInput
from paycore.flows import webhooks
from paycore.flows.checkout import CartItem
from paycore.ports import ProviderEvent


def count_screens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    inner = webhooks._screened

    def counting(event: object) -> object:
        seen.append(getattr(event, "id", "?"))
        return inner(event)

    monkeypatch.setattr(webhooks, "_screened", counting)
    return seen


def test_an_event_is_screened_once_per_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    events = [e for e in w.provider.take_events() if e.type in webhooks.ACTED_ON]
    seen = count_screens(monkeypatch)
    outcomes = [w.service.handle_webhook(e) for e in events]
    assert outcomes == ["processed"] * len(events)
    assert seen == [e.id for e in events]
    assert [w.service.handle_webhook(e) for e in events] == ["duplicate"] * len(events)


def test_a_dispute_is_screened_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    w = make_shop()
    event = ProviderEvent("evt_d1", "charge.dispute.created", 0, "dispute", "dp_1", None, {})
    seen = count_screens(monkeypatch)
    first = webhooks.screen(event)
    assert webhooks.screen(event) == first
    assert seen == ["evt_d1", "evt_d1"]
    w.service.handle_webhook(event)
    assert seen == ["evt_d1"] * 4


def test_a_refused_event_is_refused_again() -> None:
    event = ProviderEvent("evt\x00", "payment_intent.succeeded", 0, "payment_intent", "pi_1")
    for _ in range(2):
        with pytest.raises(InvalidInput):
            webhooks.screen(event)


def test_another_event_with_the_same_values_is_screened_anew(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make = lambda: ProviderEvent("evt_1", "payment_intent.created", 0, "payment_intent", "pi_1")  # noqa: E731
    seen = count_screens(monkeypatch)
    webhooks.screen(make())
    webhooks.screen(make())
    assert seen == ["evt_1", "evt_1"]


def test_none_is_refused_before_any_event_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "_passed", (object(), None))  # as at import
    with pytest.raises(InvalidInput):
        webhooks.screen(None)
