"""A dispute's status only moves forward, and a payment's ``payment_disputed`` alert
keeps the status of each of its disputes: it is resolved only when every dispute known
for the payment closed in the shop's favour (``won`` or ``warning_closed``)."""

from __future__ import annotations

from tests.support import make_shop

from paycore import schema as s
from paycore.flows import disputes
from paycore.flows.checkout import CartItem
from paycore.records import Alert
from paycore_adapters.memory import Wiring

D = disputes.Dispute


def paid() -> tuple[Wiring, str, str]:
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_dispute_order1", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    for e in w.provider.take_events():
        w.service.handle_webhook(e)
    return w, r.payment_id, str(w.service.payment(r.payment_id).provider_intent_id)


def apply(w: Wiring, d: disputes.Dispute) -> str | None:
    return w.service.engine.transact(lambda u: disputes.apply(u, d))


def alert(w: Wiring, payment_id: str) -> Alert:
    row: Alert | None = w.store.snapshot().get(s.ALERTS, f"payment_disputed:{payment_id}")
    assert row is not None
    return row


def test_a_late_older_status_does_not_reopen_a_resolved_alert() -> None:
    w, pid, pi = paid()
    apply(w, D("du_1", pi, 1250, "EUR", "fraudulent", "under_review", None))
    w.service.resolve_alert(f"payment_disputed:{pid}", "evidence submitted, order held")
    late = D("du_1", pi, 1250, "EUR", "fraudulent", "needs_response", 1_900_000_000)
    assert apply(w, late) is None
    row = alert(w, pid)
    assert not row.open and row.count == 1 and row.fields["status"] == "under_review"


def test_a_late_inquiry_status_does_not_undo_a_chargeback() -> None:
    w, pid, pi = paid()
    apply(w, D("du_1", pi, 1250, "EUR", "fraudulent", "needs_response", None))
    late = D("du_1", pi, 1250, "EUR", "fraudulent", "warning_needs_response", None)
    assert apply(w, late) is None
    assert alert(w, pid).fields["status"] == "needs_response"


def test_an_inquiry_that_becomes_a_chargeback_moves_forward() -> None:
    w, pid, pi = paid()
    apply(w, D("du_1", pi, 1250, "EUR", "fraudulent", "warning_closed", None))
    assert not alert(w, pid).open
    assert apply(w, D("du_1", pi, 1250, "EUR", "fraudulent", "needs_response", None)) == pid
    assert alert(w, pid).open


def test_a_closed_inquiry_and_an_open_chargeback_of_one_payment_leave_it_open() -> None:
    for order in ((0, 1), (1, 0)):
        w, pid, pi = paid()
        inquiry = D("du_1", pi, 1250, "EUR", "fraudulent", "warning_closed", None)
        charge = D("du_2", pi, 1250, "EUR", "fraudulent", "needs_response", 1_900_000_000)
        pair = (charge, inquiry)
        counts = []
        for _run in range(2):  # a listing, then the next run's again
            for i in order:
                apply(w, pair[i])
            counts.append(alert(w, pid).count)
        row = alert(w, pid)
        assert row.open, order
        assert counts[0] == counts[1], order  # the next run's listing is no news
        assert "du_2" in row.message and "needs_response" in row.message
        assert row.fields["dispute:du_1"] == "warning_closed"
        assert row.fields["dispute:du_2"] == "needs_response"


def test_the_alert_is_resolved_once_every_dispute_of_the_payment_is_kept() -> None:
    w, pid, pi = paid()
    apply(w, D("du_2", pi, 1250, "EUR", "fraudulent", "needs_response", None))
    apply(w, D("du_1", pi, 1250, "EUR", "fraudulent", "won", None))
    assert alert(w, pid).open
    apply(w, D("du_2", pi, 1250, "EUR", "fraudulent", "won", None))
    row = alert(w, pid)
    assert not row.open and row.resolution is not None and "du_2" in row.resolution
