"""The reconciler's window reaches back to where its last whole walk began.

An orphan charge (this installation's intent, paid, no payment records it) is found only
by the reconciler: its webhooks answer ``ignored:not_ours``. The walk looked back a fixed
``reconcile_window_ms`` (48 h) from now, so when no walk finished for longer than that (a
provider outage inside the 72 h that flows ride out, or the job worker down), an orphan
made just before it fell out of every later window: never refunded, no alert. The window
now starts no later than the time the last whole walk began (less the clock tolerance),
so what happened during the gap is walked once the provider answers again."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.chaos.test_outages import DAY, HOUR, MINUTE, outage
from tests.support import SESSION, faultable, made_here, mug_shop, quiesce

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore


@pytest.fixture(params=["memory", "sqlite"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Wiring:
    store = SQLiteStore(tmp_path / "gap.db", migrate=True) if request.param == "sqlite" else None
    w = faultable(in_memory(None, store=store))  # type: ignore[arg-type]
    mug_shop(w, 5)
    w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.run_jobs()  # the reconciler has walked before: its cursor exists
    return w


def paid_orphan(w: Wiring) -> IntentView:
    """A paid intent made by this installation that no payment records (a lost create),
    whose webhooks are lost."""
    view = w.provider.create_intent(
        CreateIntent(Money(1250, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_x")),
        idempotency_key="elsewhere-gap",
    )
    view = w.provider.customer_confirm(view.id, "pm_card_visa")
    w.provider.take_events()
    return view


def jobs_for(w: Wiring, span_ms: int, tick_ms: int = HOUR) -> None:
    end = w.clock.now() + span_ms
    while w.clock.now() < end:
        w.clock.advance(tick_ms)
        w.service.run_jobs()


def refunded(w: Wiring, view: IntentView) -> list[tuple[int, str]]:
    return [(r.amount, r.status) for r in w.provider.refunds() if r.intent_id == view.id]


def assert_refunded_after_three_days(w: Wiring, orphan: IntentView) -> None:
    """Every job hourly for three days, then quiet: the orphan's money went back."""
    jobs_for(w, 3 * DAY)
    quiesce(w)
    assert refunded(w, orphan) == [(1250, "succeeded")]
    assert w.violations() == []


@pytest.mark.parametrize("hours", [47, 60, 100])
def test_an_orphan_made_before_an_outage_longer_than_the_window_is_refunded(
    shop: Wiring, hours: int
) -> None:
    w = shop
    w.clock.advance(MINUTE)
    orphan = paid_orphan(w)
    outage(w, hours * HOUR)
    jobs_for(w, hours * HOUR)
    w.provider.fault = None
    assert_refunded_after_three_days(w, orphan)


@pytest.mark.parametrize("hours", [49, 120])
def test_an_orphan_made_while_the_job_worker_was_down_longer_than_the_window_is_refunded(
    shop: Wiring, hours: int
) -> None:
    w = shop
    w.clock.advance(MINUTE)
    orphan = paid_orphan(w)
    w.clock.advance(hours * HOUR)  # no job ran
    assert_refunded_after_three_days(w, orphan)


def test_a_walk_that_keeps_finishing_keeps_the_window_as_configured(shop: Wiring) -> None:
    """Jobs every hour for 5 days: every run's window starts ``reconcile_window_ms`` (plus
    at most the tolerance and one walk) back, never at the first walk."""
    w = shop
    first = w.clock.now()
    jobs_for(w, 5 * DAY)
    w.service.run_jobs()
    runs = [f for f in w.store.snapshot().rows(s.FLOWS) if f.kind == "reconcile"]
    latest = max(runs, key=lambda f: f.created_at)
    since = latest.params["since"]
    assert since > first
    assert latest.created_at - since <= w.service.config.reconcile_window_ms + 2 * HOUR
