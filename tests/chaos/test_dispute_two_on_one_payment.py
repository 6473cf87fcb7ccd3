"""A closed inquiry followed by a new chargeback dispute of the same payment, their
events lost: the reconciler lists both (newest first, so the closed inquiry is applied
last) and the payment's ``payment_disputed`` alert stays open, run after run."""

from __future__ import annotations

from tests.chaos.test_dispute_reconciliation import alert, paid, reconcile, w  # noqa: F401

from paycore_adapters.memory import Wiring


def test_a_closed_inquiry_does_not_resolve_a_newer_chargeback(w: Wiring) -> None:  # noqa: F811
    payment_id, intent = paid(w)
    inquiry = w.provider.open_dispute(intent, inquiry=True)
    w.provider.close_dispute(inquiry, won=True)  # warning_closed
    charge = w.provider.open_dispute(intent)
    w.provider.take_events()  # all lost
    assert charge != inquiry
    counts = []
    for _ in range(2):
        reconcile(w)
        row = alert(w, payment_id)
        assert row is not None and row.open
        assert charge in row.message
        counts.append(row.count)
    assert counts[0] == counts[1]  # the second run's listing is no news
    w.provider.close_dispute(charge, won=True)
    w.provider.take_events()
    reconcile(w)
    row = alert(w, payment_id)
    assert row is not None and not row.open
