"""The ``payment_disputed`` alert tells the operator about the most urgent dispute of the
payment (a lost one first, then the earliest due date, then any other open one), naming
the others, whichever dispute changed last; a known status is never blocked by an unknown
one; and the reconciler's disputes step tells a refused key (401) from a key without the
Disputes: Read permission (403)."""

from __future__ import annotations

from tests.unit.test_dispute_status_order import D, alert, apply, paid


def test_a_known_status_after_an_unknown_one_is_news_with_its_due_date() -> None:
    w, pid, pi = paid()
    apply(w, D("du_A", pi, 1250, "EUR", "fraudulent", "warning_new_kind", None))
    assert apply(w, D("du_A", pi, 1250, "EUR", "fraudulent", "needs_response", 1_900_000_000))
    row = alert(w, pid)
    assert row.open and row.fields["status"] == "needs_response"
    assert row.fields["due_by"] == 1_900_000_000 and "2030-03-17" in row.message
    assert row.fields["dispute:du_A"] == "needs_response"


def test_a_closed_inquiry_does_not_hide_an_open_chargeback_and_its_due_date() -> None:
    w, pid, pi = paid()
    apply(w, D("du_A", pi, 1250, "EUR", "fraudulent", "needs_response", 1_900_000_000))
    apply(w, D("du_B", pi, 1250, "EUR", "fraudulent", "warning_needs_response", None))
    row = alert(w, pid)
    assert row.fields["dispute_id"] == "du_A" and "du_B" in row.message
    apply(w, D("du_B", pi, 1250, "EUR", "fraudulent", "warning_closed", None))
    row = alert(w, pid)
    assert row.open and row.fields["dispute_id"] == "du_A"
    assert row.fields["status"] == "needs_response" and row.fields["due_by"] == 1_900_000_000
    assert row.message.index("du_A") < row.message.index("du_B")
    assert "2030-03-17" in row.message and "respond with evidence" in row.message
    assert row.fields["dispute:du_B"] == "warning_closed"


def test_a_lost_dispute_stays_in_the_message_when_another_is_won() -> None:
    w, pid, pi = paid()
    apply(w, D("du_A", pi, 1250, "EUR", "fraudulent", "lost", None))
    apply(w, D("du_B", pi, 700, "EUR", "general", "needs_response", 1_900_000_000))
    row = alert(w, pid)
    assert row.fields["dispute_id"] == "du_A" and "du_B" in row.message
    assert "2030-03-17" in row.message  # the other's due date is named too
    apply(w, D("du_B", pi, 700, "EUR", "general", "won", None))
    row = alert(w, pid)
    assert row.open and row.fields["dispute_id"] == "du_A" and row.fields["status"] == "lost"
    assert row.fields["amount"] == 1250 and "1250 EUR" in row.message
    assert "money is gone" in row.message and "du_B" in row.message


def test_the_earliest_due_date_leads_and_the_other_keeps_its_facts() -> None:
    w, pid, pi = paid()
    apply(w, D("du_A", pi, 1250, "EUR", "fraudulent", "needs_response", 1_900_000_000))
    apply(w, D("du_B", pi, 700, "EUR", "general", "needs_response", 1_800_000_000))
    row = alert(w, pid)
    assert row.fields["dispute_id"] == "du_B" and row.fields["due_by"] == 1_800_000_000
    apply(w, D("du_B", pi, 700, "EUR", "general", "won", None))
    row = alert(w, pid)  # A's amount and due date were kept while B led
    assert row.open and row.fields["dispute_id"] == "du_A" and row.fields["amount"] == 1250
    assert row.fields["due_by"] == 1_900_000_000 and "2030-03-17" in row.message
