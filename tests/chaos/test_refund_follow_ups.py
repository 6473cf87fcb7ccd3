"""A refund the bank reverses days after it succeeded is found even when its webhook is
lost: the refund sync asks about each succeeded refund again at set ages (1 and 7 days
and ``Config.refund_follow_up_ms`` after it was made), not only within the reconcile
window; each through a due moment on the refund row, so a run reads only the refunds
that are due, never every refund of the window."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import deliver_webhooks, mug_shop
from tests.unit.test_job_scan_bounds import BATCH, WAITING, _shop

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.errors import InvalidInput
from paycore.flows.checkout import CartItem
from paycore.flows.job_sync import follow_up_ages, next_follow_up
from paycore.records import Refund
from paycore.status import RefundStatus
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore

DAY = 24 * 3_600_000


def shop(kind: str, tmp_path: Path, config: Config | None = None) -> Wiring:
    store = SQLiteStore(tmp_path / "shop.db", migrate=True) if kind == "sqlite" else None
    w = in_memory(config, store=store)
    mug_shop(w, 100)
    return w


def refunded(w: Wiring, n: int = 1) -> tuple[str, Refund]:
    """A paid order of two mugs refunded in full (succeeded at once, webhooks delivered)."""
    res = w.service.create_payment_intent(f"cs_test_{n:016d}", [CartItem("p_mug", 2)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    deliver_webhooks(w)
    w.service.create_refund(res.payment_id, None, None, f"rma-{n}", restock=False)
    deliver_webhooks(w)
    (rf,) = w.service.refunds_of(res.payment_id)
    assert rf.status is RefundStatus.SUCCEEDED and rf.provider_refund_id is not None
    return res.payment_id, rf


def refund_failed_alerts(w: Wiring) -> dict[str, bool]:
    return {
        a.subject: a.open for a in w.store.snapshot().rows(s.ALERTS) if a.kind == "refund_failed"
    }


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("fails_after_days", [3, 20])
def test_a_refund_reversed_days_later_with_its_webhook_lost_is_found(
    kind: str, fails_after_days: int, tmp_path: Path
) -> None:
    """The refund succeeds; the bank fails it days later (past the reconcile window) and
    the webhook never arrives. Daily job rounds find it, as the webhook would have: the
    refund is failed locally, the payment's refunded amount back to 0, a
    ``refund_failed`` alert is open and the shop told (the order still says refunded,
    as after the webhook: the alert stays open until the money is returned)."""
    w = shop(kind, tmp_path)
    pid, rf = refunded(w)
    w.clock.advance(fails_after_days * DAY)
    assert rf.provider_refund_id is not None
    w.provider.fail_refund(rf.provider_refund_id)
    w.provider.take_events()  # the refund's failure webhook is lost
    for _ in range(12):
        w.clock.advance(DAY)
        w.service.run_jobs()
    (now,) = w.service.refunds_of(pid)
    assert now.status is RefundStatus.FAILED
    assert refund_failed_alerts(w) == {rf.id: True}
    assert w.service.payment(pid).amount_refunded == 0
    assert w.store.snapshot().get(s.OUTBOX, f"{rf.order_id}:refund_failed_{rf.id}") is not None
    assert not w.violations()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_succeeded_refund_is_asked_about_only_at_its_ages(kind: str, tmp_path: Path) -> None:
    """Past the reconcile window a succeeded refund costs a provider read only at its
    set ages (1, 7 and 30 days by default), then none: the job's reads follow the
    refunds that are due, not every refund it still watches."""
    w = shop(kind, tmp_path)
    _, rf = refunded(w)
    asked: list[int] = []  # the refund's age at each read of it
    read = w.provider.retrieve_refund

    def counting(refund_id: str) -> object:
        asked.append(w.clock.now() - rf.created_at)
        return read(refund_id)

    w.provider.retrieve_refund = counting  # type: ignore[method-assign,assignment]
    for _ in range(70):  # twice a day for 35 days
        w.clock.advance(DAY // 2)
        w.service.run_jobs()
    window = w.service.config.reconcile_window_ms
    assert [age for age in asked if age > window] == [7 * DAY, 30 * DAY]
    assert [age for age in asked if age <= window] == [age * DAY // 2 for age in range(1, 5)]
    assert w.store.snapshot().get(s.REFUNDS, rf.id).follow_up_at > 2**62  # followed no more


def test_the_ages_and_their_bound() -> None:
    """1 and 7 days, then the setting (ages beyond it dropped); its range is checked."""
    assert follow_up_ages(Config()) == (DAY, 7 * DAY, 30 * DAY)
    assert follow_up_ages(Config(refund_follow_up_ms=3 * DAY)) == (DAY, 3 * DAY)
    assert follow_up_ages(Config(refund_follow_up_ms=DAY // 2)) == (DAY // 2,)
    ages = (DAY, 7 * DAY, 30 * DAY)
    assert next_follow_up(1_000, 1_000, ages) == 1_000 + DAY
    assert next_follow_up(1_000, 1_000 + DAY, ages) == 1_000 + 7 * DAY
    assert next_follow_up(1_000, 1_000 + 8 * DAY, ages) == 1_000 + 30 * DAY
    assert next_follow_up(1_000, 1_000 + 30 * DAY, ages) > 2**62
    for bad in (0, -1, 10 * 365 * DAY + 1, True, "30d"):
        with pytest.raises(InvalidInput, match="refund_follow_up_ms"):
            Config(refund_follow_up_ms=bad)  # type: ignore[arg-type]


def test_a_run_reads_the_refunds_due_not_the_ones_it_still_follows() -> None:
    """Ten batches of succeeded refunds past the reconcile window: between their ages no
    run reads any of them (nothing to ask), at an age a start reads about its batch, and
    run after run each is asked about once."""
    w, store = _shop(WAITING, WAITING)
    for _ in range(WAITING // BATCH + 1):  # each asked about once within the window
        jobs.sync_pending_refunds(w.service.engine)
    followed = w.store.snapshot().rows(s.REFUNDS)
    assert {r.follow_up_at - r.created_at for r in followed} == {DAY}
    w.clock.advance(DAY)
    for _ in range(WAITING // BATCH + 1):  # a day old: asked about again, next at 7 days
        jobs.sync_pending_refunds(w.service.engine)
    assert {r.follow_up_at - r.created_at for r in w.store.snapshot().rows(s.REFUNDS)} == {7 * DAY}
    w.clock.advance(2 * DAY)
    store.rows.clear()
    assert jobs.start_refund_sync(w.service.engine) is None
    assert store.rows[s.REFUNDS.name] == 0
    w.clock.advance(4 * DAY)
    store.rows.clear()
    fid = jobs.start_refund_sync(w.service.engine)
    assert fid is not None and store.rows[s.REFUNDS.name] <= 2 * BATCH
    asked: list[str] = []
    read = w.provider.retrieve_refund

    def counting(refund_id: str) -> object:
        asked.append(refund_id)
        return read(refund_id)

    w.provider.retrieve_refund = counting  # type: ignore[method-assign,assignment]
    for _ in range(WAITING // BATCH + 2):
        jobs.sync_pending_refunds(w.service.engine)
    assert sorted(asked) == sorted(r.provider_refund_id for r in followed)
    assert {r.follow_up_at - r.created_at for r in w.store.snapshot().rows(s.REFUNDS)} == {30 * DAY}
