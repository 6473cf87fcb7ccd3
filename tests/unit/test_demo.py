"""`paycore demo`: the scripted shop day runs, reads as a timeline and checks every invariant."""

from __future__ import annotations

import io

import pytest

from paycore import invariants
from paycore.invariants import Invariant, Violation
from paycore_adapters.cli import main
from paycore_adapters.demo import shop_day


def test_shop_day_passes_every_invariant() -> None:
    """The day ends with every invariant holding and covers each scripted event."""
    out = io.StringIO()
    assert shop_day(out) == 0
    text = out.getvalue()
    n = len(invariants.INVARIANTS)
    assert f"{n} of {n} invariants hold." in text
    for expected in (
        "request 2: create_payment_intent(2 mugs)",  # concurrent duplicate checkout
        "intents at the provider for Ana's session  -> 1",
        "requires_action, next action",  # 3-D Secure
        "declined: card_declined",
        "cancel_payment  -> payment pay_000004 canceled",
        "same request retried (key ana-r1)  -> refund rf_000001",
        "RefundExceedsRefundable",
        "delivered again  -> duplicate",
        "late webhook payment_intent.created",
        "Eve's payment / order  -> canceled / canceled",
    ):
        assert expected in text, expected
    assert "Ana's payment after the late webhook  -> succeeded" in text


def test_demo_exits_1_when_an_invariant_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A violated invariant makes the demo say FAIL and exit 1."""

    def broken(_snap: object, _ledger: object) -> list[Violation]:
        return [Violation("always-broken", "x", "planted by the test")]

    planted = Invariant("always-broken", "Never holds.", "safety", (), broken)
    monkeypatch.setattr(invariants, "INVARIANTS", [*invariants.INVARIANTS, planted])
    monkeypatch.setattr("paycore_adapters.demo.INVARIANTS", invariants.INVARIANTS)
    assert main(["demo", "--store", "memory"]) == 1


def test_invariants_command_lists_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    """`paycore invariants --json` prints every invariant with id, kind and statement."""
    import json

    assert main(["invariants", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [i.id for i in invariants.INVARIANTS]
    assert all(r["kind"] in ("safety", "convergence") and r["statement"] for r in rows)
