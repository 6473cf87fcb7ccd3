"""The jobs a reconciler run starts after it: the payment sync and the reopening of
orphans waiting for the bank. A run follows the one still active rather than starting
another, and starts and runs both when neither is."""

from __future__ import annotations

from tests.support import made_here, make_shop

from paycore import jobs
from paycore import schema as s
from paycore.flows import orphans
from paycore.flows.checkout import CartItem
from paycore.flows.job_sync import PAYMENT_SYNC
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore.records import OrphanCase
from paycore.status import FlowStatus, PaymentStatus
from paycore_adapters.memory import Wiring


def settled_behind(w: Wiring) -> tuple[str, str]:
    """A processing payment and a waiting orphan case, both settled at the bank with
    their webhooks lost: (payment id, orphan intent id)."""
    res = w.service.create_payment_intent("cs_test_follow0001", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_successDelayed_de")
    mine = w.service.payment(res.payment_id).provider_intent_id
    assert mine is not None
    view = w.provider.create_intent(
        CreateIntent(Money(500, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_else")),
        idempotency_key="elsewhere",
    )
    orphan = w.provider.customer_confirm(view.id, "pm_successDelayed_de").id
    w.service.engine.transact(
        lambda u: u.create(
            s.ORPHANS, OrphanCase(orphan, u.now, "processing", "waiting", 500, "cs_else")
        )
    )
    w.provider.settle(mine)
    w.provider.settle(orphan)
    w.provider.take_events()
    return res.payment_id, orphan


def job_statuses(w: Wiring) -> dict[str, FlowStatus]:
    return {
        f.id: f.status
        for f in w.store.snapshot().rows(s.FLOWS)
        if f.id.startswith(("job:payment_sync", "job:reopen_orphans"))
    }


def test_a_run_starts_and_runs_both_the_payment_sync_and_the_reopening() -> None:
    w = make_shop()
    pid, orphan = settled_behind(w)
    assert jobs.reconcile(w.service.engine) == [f"orphan:{orphan}:1"]
    assert w.service.payment(pid).status is PaymentStatus.SUCCEEDED
    assert job_statuses(w) == {
        "job:payment_sync:1": FlowStatus.SUCCEEDED,
        "job:reopen_orphans:1": FlowStatus.SUCCEEDED,
    }


def test_a_run_follows_the_runs_still_active_instead_of_starting_others() -> None:
    """Both jobs have a run that another worker started and has not finished: the
    reconciler's run finishes those, and starts no second run of either."""
    w = make_shop()
    pid, orphan = settled_behind(w)
    eng = w.service.engine
    started = eng.transact(
        lambda u: (PAYMENT_SYNC.start(u, [pid]), orphans.REOPEN.start(u, [orphan]))
    )
    assert started == ("job:payment_sync:1", "job:reopen_orphans:1")
    assert jobs.reconcile(eng) == [f"orphan:{orphan}:1"]
    assert w.service.payment(pid).status is PaymentStatus.SUCCEEDED
    assert job_statuses(w) == {
        "job:payment_sync:1": FlowStatus.SUCCEEDED,
        "job:reopen_orphans:1": FlowStatus.SUCCEEDED,
    }
