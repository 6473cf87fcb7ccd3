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
