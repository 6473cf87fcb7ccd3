"""A refund's landing window is the shop's ``Config.create_landing_ms``.

A refund request whose answer is lost may land at the provider long after it was sent.
The refund flow draws a new key only once ``RefundParams.landing_ms`` passed with no
refund of its own listed (:mod:`paycore.flows.refund_recovery`). That window must be
the one the shop configured, as it is for checkouts: a shop that raised it because its
provider or network lands requests late would otherwise see a refund landing after the
5-minute default made twice. And when a late duplicate does land (the window was too
short), the alert says it is paycore's own second refund, naming both provider ids,
not a refund "made outside paycore".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import (
    SESSION,
    SESSION_2,
    converged,
    deliver_webhooks,
    flow_of,
    mug_shop,
)

from paycore import errors as err
from paycore import schema as s
from paycore.config import Config
from paycore.flows.checkout import CartItem
from paycore.flows.params import REFUND_LANDING_MS
from paycore.flows.refund_landing import refund_flow_id
from paycore.status import RefundStatus
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore

MINUTE = 60_000


def shop(kind: str, tmp_path: Path, config: Config, stock: int = 5) -> Wiring:
    store = SQLiteStore(tmp_path / "shop.db", migrate=True) if kind == "sqlite" else None
    w = in_memory(config, store=store)
    mug_shop(w, stock)
    return w


def paid(w: Wiring, session: str = SESSION) -> str:
    res = w.service.create_payment_intent(session, [CartItem("p_mug", 2)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    deliver_webhooks(w)
    return res.payment_id


def refund_landing_late(w: Wiring, payment_id: str, lands_after_ms: int) -> None:
    """A partial refund whose request is held on its way and lands by itself after
    ``lands_after_ms``; recovery and the jobs run each minute for 40 minutes, then the
    jobs three times more."""
    w.provider.hold_next("create_refund", lands_after_ms=lands_after_ms)
    with pytest.raises(err.FlowPending):
        w.service.create_refund(payment_id, 1000, None, "rma-1")
    for _ in range(40):
        w.clock.advance(MINUTE)
        w.service.run_recovery()
        deliver_webhooks(w)
    for _ in range(3):
        w.clock.advance(11 * MINUTE)
        w.service.run_jobs()
        deliver_webhooks(w)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_refund_landing_within_the_configured_window_is_made_once(
    kind: str, tmp_path: Path
) -> None:
    """create_landing_ms is 60 minutes and the lost request lands after 20: the flow
    waits for it and records it; it never sends under a new key."""
    w = shop(kind, tmp_path, Config(create_landing_ms=60 * MINUTE))
    pid = paid(w)
    refund_landing_late(w, pid, 20 * MINUTE)
    made = w.provider.refunds()
    assert [(r.amount, r.status) for r in made] == [(1000, "succeeded")]
    (refund,) = w.service.refunds_of(pid)
    assert (refund.status, refund.provider_refund_id) == (RefundStatus.SUCCEEDED, made[0].id)
    assert not [a for a in w.alerts.raised if a.kind in ("external_refund", "refund_made_twice")]
    converged(w)


def test_the_refund_flow_records_the_configured_window() -> None:
    """The caller's refund records the config's window in its params."""
    w = shop("memory", Path(), Config(create_landing_ms=45 * MINUTE))
    pid = paid(w)
    started = w.service.start_refund(pid, 500, None, "rma-2")
    assert flow_of(w, started).params["landing_ms"] == 45 * MINUTE


def test_a_retried_automatic_refund_keeps_the_window_of_the_one_it_retries() -> None:
    """An automatic refund (an out-of-stock order's) is opened by a flow, not by a caller:
    it takes the window the payment's checkout recorded from the config, and its retry
    after a failure keeps that window."""
    config = Config(create_landing_ms=45 * MINUTE, processing_hold_ms=60 * MINUTE)
    w = shop("memory", Path(), config, stock=1)
    late = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    assert w.service.confirm_payment(late.payment_id, "pm_successDelayed_de").status == (
        "processing"
    )
    deliver_webhooks(w)
    w.clock.advance(config.reservation_ttl_ms + (config.processing_hold_ms or 0))
    w.service.run_janitor()
    res = w.service.create_payment_intent(SESSION_2, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")  # the mug is sold again
    # The checkout's window is a past config's: the refund takes it, not the default.
    w.service.config = w.service.engine.config = Config(create_landing_ms=50 * MINUTE)
    intent = w.service.payment(late.payment_id).provider_intent_id
    assert intent is not None
    w.provider.settle(intent)
    deliver_webhooks(w)
    (auto,) = w.service.refunds_of(late.payment_id)
    assert auto.automatic
    assert flow_of(w, refund_flow_id(auto)).params["landing_ms"] == 45 * MINUTE
    w.service.run_recovery()  # the automatic refund's flow runs
    (auto,) = w.service.refunds_of(late.payment_id)
    assert auto.provider_refund_id is not None
    w.provider.fail_refund(auto.provider_refund_id)
    deliver_webhooks(w)
    retry = [r for r in w.service.refunds_of(late.payment_id) if r.id != auto.id]
    assert [r.automatic for r in retry] == [True]
    assert flow_of(w, refund_flow_id(retry[0])).params["landing_ms"] == 45 * MINUTE


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_late_duplicate_is_reported_as_paycores_own_second_refund(
    kind: str, tmp_path: Path
) -> None:
    """The window (the default, 5 minutes) is shorter than the request's delay (20
    minutes): the refund is made twice. The second is recorded (the money moved), and the
    alert names both provider refunds as one refund of paycore's made twice."""
    w = shop(kind, tmp_path, Config(create_landing_ms=REFUND_LANDING_MS))
    pid = paid(w)
    refund_landing_late(w, pid, 20 * MINUTE)
    first, second = w.provider.refunds()
    assert {first.status, second.status} == {"succeeded"}
    kinds = [a.kind for a in w.alerts.raised]
    assert "external_refund" not in kinds
    (alert,) = [a for a in w.alerts.raised if a.kind == "refund_made_twice"]
    own = [r for r in w.service.refunds_of(pid) if not r.external]
    assert [r.id for r in own] == ["rf_000001"]
    late = first if own[0].provider_refund_id == second.id else second
    again = own[0].provider_refund_id
    assert alert.fields["refund_id"] == "rf_000001"
    assert alert.fields["provider_refund_id"] == late.id
    assert alert.fields["also_made_as"] == again
    assert late.id in alert.message and str(again) in alert.message
    assert "outside paycore" not in alert.message
    row = w.store.snapshot().get(s.ALERTS, f"refund_made_twice:{late.id}")
    assert row is not None and row.open
