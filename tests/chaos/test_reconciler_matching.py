"""What the reconciler does with each intent it lists: a payment out of step with its
intent is synced, one in step is not asked about again, and an intent whose checkout is
still creating it is left to that checkout."""

from __future__ import annotations

import attrs
from tests.support import begin_checkout, made_here, make_shop

from paycore import jobs
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore.status import FlowStatus, PaymentStatus


def test_a_payment_whose_customer_completed_3ds_with_the_webhook_lost_is_synced() -> None:
    """The customer passed the bank's check at the provider; the webhook was lost. The
    reconciler sees the payment out of step with its intent and syncs it."""
    w = make_shop()
    res = w.service.create_payment_intent("cs_test_recon00001", [CartItem("p_mug", 1)])
    paid = w.service.confirm_payment(res.payment_id, "pm_card_threeDSecure2Required")
    assert paid.status == "requires_action"
    intent = w.service.payment(res.payment_id).provider_intent_id
    assert intent is not None
    w.provider.complete_action(intent)
    w.provider.take_events()
    w.service.run_reconciler()
    assert w.service.payment(res.payment_id).status is PaymentStatus.SUCCEEDED


def test_payments_in_step_with_their_intents_are_not_asked_about_again() -> None:
    """A quiet shop: the reconciler lists the intents, finds every payment in step, and
    starts no payment sync (no question per payment)."""
    w = make_shop()
    res = w.service.create_payment_intent("cs_test_recon00002", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    w.provider.take_events()
    asked = w.provider.calls["retrieve_intent"]
    eng = w.service.engine
    run = jobs.finish_job(eng, jobs.start_reconcile(eng))
    assert (run.status, run.result) == (
        FlowStatus.SUCCEEDED,
        {"found": [], "revived": [], "follow": []},
    )
    assert w.provider.calls["retrieve_intent"] == asked


def test_an_intent_its_checkout_is_still_creating_is_left_to_that_checkout() -> None:
    """The checkout's create call was made and its answer not yet recorded: the intent
    names a payment still creating, claimed by that checkout. The reconciler's run ends
    without opening a case; the checkout then adopts the intent."""
    w = make_shop()
    fid = begin_checkout(w, "cs_test_recon00003")
    eng = w.service.engine
    report = eng.step(fid)  # the seller check's yes goes straight on to the create
    assert report.effect == "call:retrieve_account+create_intent" and len(w.provider.intents()) == 1
    run = jobs.finish_job(eng, jobs.start_reconcile(eng))
    assert (run.status, run.result) == (
        FlowStatus.SUCCEEDED,
        {"found": [], "revived": [], "follow": []},
    )
    assert w.store.snapshot().rows(s.ORPHANS) == []
    assert w.service.run_flow(fid).status is FlowStatus.SUCCEEDED
    payment = w.store.snapshot().rows(s.PAYMENTS)[0]
    assert payment.provider_intent_id == w.provider.intents()[0].id


def test_a_run_takes_a_batch_and_the_next_goes_on_around_the_window() -> None:
    """Three intents made here that no payment records, a batch of two. The provider
    lists newest first: the first run lists the newest two (one page) and stops there; the
    second lists the oldest, which ends the window, goes around and takes one more,
    stopping on the newest intent."""
    w = make_shop()
    w.service.config = attrs.evolve(w.service.config, job_batch=2)
    w.service.engine.config = w.service.config
    a, b, c = (
        w.provider.create_intent(
            CreateIntent(Money(700, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_x")),
            idempotency_key=f"lost-create-{i}",
        ).id
        for i in range(3)
    )
    w.provider.take_events()
    eng = w.service.engine
    runs = []
    for _ in range(2):
        listed = w.provider.calls["list_intents"]
        started = jobs.reconcile(eng)
        cursor = w.store.snapshot().get(s.CURSORS, "reconcile")
        assert cursor is not None
        runs.append((started, cursor.value, w.provider.calls["list_intents"] - listed))
    assert runs == [
        ([f"orphan:{c}", f"orphan:{b}"], b, 1),
        ([f"orphan:{a}"], c, 2),
    ]


def test_a_run_over_a_window_that_fits_the_batch_lists_each_intent_once() -> None:
    """The second run starts after the last intent: the page after it is empty, the
    walk goes around to the window's start and ends on reaching that intent again."""
    w = make_shop()
    for i in range(3):
        w.provider.create_intent(
            CreateIntent(Money(700, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_y")),
            idempotency_key=f"lost-create-{i}",
        )
    w.provider.take_events()
    eng = w.service.engine
    jobs.reconcile(eng)
    listed = w.provider.calls["list_intents"]
    assert jobs.reconcile(eng) == []
    assert w.provider.calls["list_intents"] - listed == 2


def test_a_job_run_is_leased_to_the_worker_that_starts_it() -> None:
    """While a worker runs a job's flow, others keep off it until its lease lapses."""
    w = make_shop()
    res = w.service.create_payment_intent("cs_test_recon00009", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    w.provider.refunds_settle_immediately = False
    w.service.create_refund(res.payment_id, 100, idempotency_key="rma-1")
    eng = w.service.engine
    started = [
        jobs.start_reconcile(eng),
        jobs.start_refund_sync(eng),
        jobs.start_external_refunds(eng),
    ]
    snap = w.store.snapshot()
    leases = [(f, snap.get(s.FLOWS, f)) for f in started if f is not None]
    assert len(leases) == 3
    for fid, flow in leases:
        assert flow is not None, fid
        assert (flow.lease_owner, flow.lease_until) == (
            eng.worker_id,
            w.clock.now() + eng.config.lease_ms,
        ), fid
