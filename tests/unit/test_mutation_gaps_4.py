"""Paths the mutation round of 2026-12-05 (fourth) found no test for: each test pins what
a dispute, a listing refusal or an outside refund leads to, where a changed line would go
unnoticed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.chaos.test_job_errors import fail_first
from tests.chaos.test_refund_landing_config import MINUTE, refund_landing_late, shop
from tests.chaos.test_refund_landing_config import paid as paid_landing
from tests.chaos.test_seller_kept_refund import KEPT, dashboard_refund, paid_shop
from tests.support import deliver_webhooks
from tests.unit.test_dispute_status_order import D, alert, apply, paid
from tests.unit.test_flow_defs import Other, Two, _stay

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.errors import ProviderConfigurationError, ProviderNotFound
from paycore.flows.checkout import CartItem
from paycore.flows.defs import FlowDef, FlowDefinitionError, step
from paycore.flows.params import REFUND_LANDING_MS


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


def test_the_seller_kept_alert_says_who_paid_and_what_to_reverse() -> None:
    w, pid = paid_shop()
    dashboard_refund(w, pid, 2500, reverse=False)
    deliver_webhooks(w)
    (kept,) = [a for a in w.alerts.raised if a.kind == KEPT]
    said = "the platform's balance paid the customer. Reverse the transfer by that amount ("
    assert said in kept.message


def test_a_refund_made_twice_names_its_payment() -> None:
    w = shop("memory", Path(), Config(create_landing_ms=REFUND_LANDING_MS))
    pid = paid_landing(w)
    refund_landing_late(w, pid, 20 * MINUTE)
    (twice,) = [a for a in w.alerts.raised if a.kind == "refund_made_twice"]
    assert twice.fields["payment_id"] == pid
    assert twice.fields["order_id"] == w.service.payment(pid).order_id
    assert twice.message.endswith(
        "if the provider lands requests this late, raise Config.create_landing_ms"
    )


def test_an_open_dispute_without_a_due_date_names_none() -> None:
    w, pid, pi = paid()
    apply(w, D("du_A", pi, 1250, "EUR", "fraudulent", "needs_response", None))
    message = alert(w, pid).message
    assert message.endswith(
        "respond with evidence in the provider's dashboard; do not refund it (the dispute "
        "decides the money)"
    )
    assert " before " not in message


def test_an_unknown_status_after_a_known_open_one_is_news() -> None:
    """A status paycore does not know (a new one of the provider's) ranks between the
    open ones and the closed ones: after an open one it is news; after it, another
    unknown one is too."""
    w, pid, pi = paid()
    apply(w, D("du_A", pi, 1250, "EUR", "fraudulent", "needs_response", None))
    assert apply(w, D("du_A", pi, 1250, "EUR", "fraudulent", "some_new_status", None)) == pid
    assert alert(w, pid).fields["status"] == "some_new_status"
    assert apply(w, D("du_A", pi, 1250, "EUR", "fraudulent", "another_new_one", None)) == pid
    assert alert(w, pid).fields["status"] == "another_new_one"


@pytest.mark.parametrize("last", ["du_A", "du_B"])
def test_when_every_dispute_is_kept_the_alert_leads_with_the_one_closed_last(
    last: str,
) -> None:
    w, pid, pi = paid()
    apply(w, D("du_A", pi, 1250, "EUR", "fraudulent", "warning_needs_response", None))
    apply(w, D("du_B", pi, 700, "EUR", "general", "needs_response", 1_900_000_000))
    first = "du_B" if last == "du_A" else "du_A"
    closed = {"du_A": "warning_closed", "du_B": "won"}
    amount = {"du_A": 1250, "du_B": 700}
    for d in (first, last):
        apply(w, D(d, pi, amount[d], "EUR", "general", closed[d], None))
    row = alert(w, pid)
    assert not row.open and row.fields["dispute_id"] == last
    assert row.fields["status"] == closed[last]


def test_a_settled_entry_that_is_not_a_step_is_named_as_settled() -> None:
    steps = {Two.FIRST: step(_stay), Two.SECOND: step(_stay)}
    with pytest.raises(FlowDefinitionError, match=r"^flow 'two': settled names <Other.ELSEWHERE"):
        FlowDef("two", steps, settled={Other.ELSEWHERE: lambda *a: None})  # type: ignore[dict-item]


def test_a_raw_error_met_again_names_its_type(caplog: pytest.LogCaptureFixture) -> None:
    w, _, _ = paid()
    flow = next(iter(w.store.snapshot().rows(s.FLOWS)))
    with caplog.at_level(logging.WARNING):
        w.service.engine._raw_error(flow, TypeError("adapter bug"))
        w.service.engine._raw_error(flow, TypeError("adapter bug"))
    again = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert again == [
        f"flow {flow.id} ({flow.kind}): the provider adapter raised a raw error again (TypeError)"
    ]


def test_a_refund_refused_for_a_missing_permission_is_not_taken_for_one_short() -> None:
    """The provider refuses the refund itself (a key without the permission): the alert
    asks for the refund again, and names no refund made outside paycore."""
    w, pid = paid_shop()
    refusal = ProviderConfigurationError("This API key lacks the permission", http_status=403)
    fail_first(w, "create_refund", lambda: refusal)
    with pytest.raises(ProviderConfigurationError):
        w.service.create_refund(pid, idempotency_key="rma-1")
    (failed,) = [a for a in w.alerts.raised if a.kind == "refund_failed"]
    assert "outside paycore" not in failed.message
    assert failed.message.endswith("refund again with create_refund and a new key")


def test_the_missing_disputes_permission_alert_names_its_step_in_its_fields() -> None:
    w, _, _ = paid()

    def refuse() -> ProviderConfigurationError:
        return ProviderConfigurationError("The provided key does not have the permission")

    fail_first(w, "list_disputes", refuse)
    eng = w.service.engine
    jobs.finish_job(eng, jobs.start_reconcile(eng))
    row = w.store.snapshot().get(s.ALERTS, "provider_permission:disputes")
    assert row is not None and row.open
    assert row.fields["step"] == "disputes" and row.fields["permission"] == "Disputes: Read"
