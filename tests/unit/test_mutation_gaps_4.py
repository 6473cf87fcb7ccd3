"""Paths the mutation round of 2026-12-05 (fourth) found no test for: each test pins what
a dispute, a listing refusal or an outside refund leads to, where a changed line would go
unnoticed."""

from __future__ import annotations

from tests.chaos.test_job_errors import fail_first
from tests.chaos.test_seller_kept_refund import KEPT, dashboard_refund, paid_shop
from tests.support import deliver_webhooks
from tests.unit.test_dispute_status_order import D, alert, apply, paid

from paycore import jobs
from paycore.errors import ProviderNotFound
from paycore.flows.checkout import CartItem


def test_a_won_dispute_beside_a_lost_one_updates_the_alert_without_raising_it_again() -> None:
    """The alert names the won dispute now, but it is not news for the operator: not
    counted again, not sent to the alerts port, and not reopened once resolved."""
    w, pid, pi = paid()
    apply(w, D("du_A", pi, 1250, "EUR", "fraudulent", "lost", None))
    apply(w, D("du_B", pi, 700, "EUR", "general", "needs_response", 1_900_000_000))
    before = alert(w, pid)
    sent = len(w.alerts.raised)
    assert apply(w, D("du_B", pi, 700, "EUR", "general", "won", None)) == pid
    row = alert(w, pid)
    assert row.count == before.count and len(w.alerts.raised) == sent
    assert row.fields["dispute:du_B"] == "won" and row.message != before.message
    w.service.resolve_alert(f"payment_disputed:{pid}", "order taken back, settled")
    apply(w, D("du_C", pi, 300, "EUR", "general", "warning_needs_response", None))
    w.service.resolve_alert(f"payment_disputed:{pid}", "answered the inquiry")
    apply(w, D("du_C", pi, 300, "EUR", "general", "warning_closed", None))
    assert not alert(w, pid).open  # du_A is still lost: not resolved anew, not reopened


def test_a_dispute_of_unknown_amount_says_so() -> None:
    w, pid, pi = paid()
    apply(w, D("du_A", pi, -1, "EUR", "fraudulent", "needs_response", None))
    assert "amount unknown EUR" in alert(w, pid).message
    apply(w, D("du_B", pi, 0, "EUR", "general", "lost", None))
    assert "(dispute du_B, 0 EUR" in alert(w, pid).message


def test_a_dispute_cursor_that_left_the_window_starts_the_walk_over() -> None:
    """The walk's cursor names a dispute the provider no longer lists (404): the run
    starts over from the newest dispute, finds the new one, and ends where it began."""
    w, _, pi = paid()
    w.provider.open_dispute(pi)
    w.provider.take_events()
    eng = w.service.engine
    jobs.finish_job(eng, jobs.start_reconcile(eng))
    r = w.service.create_payment_intent("cs_test_dispute_order2", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    for e in w.provider.take_events():
        w.service.handle_webhook(e)
    w.provider.open_dispute(str(w.service.payment(r.payment_id).provider_intent_id))
    w.provider.take_events()
    fail_first(w, "list_disputes", lambda: ProviderNotFound("no such dispute"))
    run = jobs.finish_job(eng, jobs.start_reconcile(eng))
    assert dict(run.result or {})["disputed"] == [r.payment_id]
    assert alert(w, r.payment_id).open


def test_the_seller_kept_alert_names_the_reversal_request() -> None:
    """The operator is told the provider's request that gives the seller's share back."""
    w, pid = paid_shop()
    dashboard_refund(w, pid, 2500, reverse=False)
    deliver_webhooks(w)
    (kept,) = [a for a in w.alerts.raised if a.kind == KEPT]
    assert "or POST /v1/transfers/<transfer>/reversals)" in kept.message
