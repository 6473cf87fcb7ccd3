"""Events about another integration's intents on a shared account: the signed snapshot's
metadata shows the intent is not this installation's, and no local payment has it, so the
event is acknowledged as ``ignored:not_ours`` with no provider read, no inbox row and no
flow. Our own intents, an intent a payment already holds whatever its snapshot says, and
refunds (a dashboard refund of our payment carries no paycore metadata) still go through."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from tests.support import make_shop

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.identity import INSTALLATION_KEY
from paycore.money import Money
from paycore.ports import CreateIntent, ProviderEvent
from paycore_adapters import signing
from paycore_adapters.memory import Wiring
from paycore_adapters.stripe_webhooks import StripeWebhookIntake, sign_for_test

SECRET = "whsec_foreign_0123456789"


def shop() -> tuple[Wiring, str, list[str]]:
    """A shop with one paid checkout; its intent id; a log of the provider's reads."""
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_foreign01", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    w.provider.take_events()
    reads: list[str] = []
    real = w.provider.retrieve_intent

    def counting(intent_id: str) -> Any:
        reads.append(intent_id)
        return real(intent_id)

    w.provider.retrieve_intent = counting  # type: ignore[method-assign]
    pi = str(w.service.payment(r.payment_id).provider_intent_id)
    return w, pi, reads


def deliver(w: Wiring, ev: ProviderEvent, metadata: dict[str, str] | None) -> tuple[int, str]:
    doc = json.loads(signing.to_payload(ev))
    if metadata is not None:
        doc["data"]["object"]["metadata"] = metadata
    body = json.dumps(doc).encode()
    answer = StripeWebhookIntake(w.service, [SECRET]).receive(
        body, sign_for_test(body, SECRET, int(time.time()))
    )
    return answer.status, answer.outcome


def rows(w: Wiring) -> tuple[int, int]:
    snap = w.store.snapshot()
    return len(snap.rows(s.INBOX)), len(snap.rows(s.FLOWS))


def foreign_intent(w: Wiring, metadata: dict[str, str]) -> str:
    view = w.provider.create_intent(
        CreateIntent(Money(999, "EUR"), "acct_1", metadata), idempotency_key="other-app-1"
    )
    return view.id


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"order": "other-app-7"},
        {INSTALLATION_KEY: "inst_someone_else", "payment_id": "pay_000001"},
    ],
    ids=["none", "another-integration", "another-installation"],
)
def test_an_event_about_a_foreign_intent_costs_no_read_and_no_row(
    metadata: dict[str, str],
) -> None:
    w, _, reads = shop()
    pi = foreign_intent(w, metadata)
    before = rows(w)
    ev = ProviderEvent("evt_foreign_1", "payment_intent.created", 1, "payment_intent", pi)
    assert deliver(w, ev, metadata) == (200, "ignored:not_ours")
    assert reads == []
    assert rows(w) == before


def test_an_event_about_our_own_intent_is_still_processed() -> None:
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_foreign02", [CartItem("p_mug", 1)])
    pi = str(w.service.payment(r.payment_id).provider_intent_id)
    meta = dict(w.provider.retrieve_intent(pi).metadata)
    assert INSTALLATION_KEY in meta
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    ev = ProviderEvent("evt_ours_1", "payment_intent.requires_action", 1, "payment_intent", pi)
    before = rows(w)
    assert deliver(w, ev, meta) == (200, "processed")
    assert rows(w)[0] == before[0] + 1


def test_an_intent_a_payment_holds_is_processed_whatever_its_snapshot_says() -> None:
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_foreign03", [CartItem("p_mug", 1)])
    pi = str(w.service.payment(r.payment_id).provider_intent_id)
    ev = ProviderEvent("evt_edited_1", "payment_intent.created", 1, "payment_intent", pi)
    before = rows(w)
    # Its metadata edited on the dashboard: the payment that holds it still follows it.
    assert deliver(w, ev, {}) == (200, "processed")
    assert rows(w)[0] == before[0] + 1


def test_a_refund_event_without_paycore_metadata_is_not_filtered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, _, _ = shop()
    taken: list[str] = []
    monkeypatch.setattr(w.service, "handle_webhook", lambda e: taken.append(e.id) or "processed")
    ev = ProviderEvent("evt_refund_1", "refund.created", 1, "refund", "re_dashboard_1")
    assert deliver(w, ev, {})[0] == 200
    assert taken == ["evt_refund_1"]  # a dashboard refund of our payment: the flow decides


def test_a_snapshot_without_metadata_is_not_filtered() -> None:
    w, _, reads = shop()
    pi = foreign_intent(w, {})
    ev = ProviderEvent("evt_nometa_1", "payment_intent.created", 1, "payment_intent", pi)
    assert deliver(w, ev, None) == (200, "ignored:not_ours")  # decided after the read
    assert reads == [pi]
