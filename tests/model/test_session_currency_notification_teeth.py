"""Teeth of the invariants on sessions, currencies and notifications: each fires on the
smallest corruption of a clean shop that breaks it, and stays quiet on the clean shop."""

from __future__ import annotations

from typing import Any

import attrs
from tests.support import SESSION, SESSION_2, make_shop

from paycore import invariants as inv
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.invariants import Ledger, Violation
from paycore.money import Money
from paycore.ports import Snapshot
from paycore_adapters.memory import Wiring

PAY, PAY2, ORD = "pay_000001", "pay_000002", "ord_000001"


def two_paid() -> Wiring:
    w = make_shop()
    for n, session in enumerate((SESSION, SESSION_2), start=1):
        w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
        w.service.confirm_payment(f"pay_{n:06d}", "pm_card_visa")
    return w


def replaced(snap: Snapshot, table: s.Table[Any], key: str, **changes: Any) -> Snapshot:
    tables = {name: dict(rows) for name, rows in snap.tables.items()}
    current = snap.get(table, key)
    assert current is not None
    tables[table.name][key] = attrs.evolve(current, **changes)
    return Snapshot(tables)


def fired(inv_id: str, snap: Snapshot, ledger: Ledger) -> list[Violation]:
    return [v for v in inv.check(snap, ledger, ("safety", "convergence")) if v.invariant == inv_id]


def clean() -> tuple[Wiring, Snapshot, Ledger]:
    w = two_paid()
    w.service.dispatch_notifications()
    snap, ledger = w.store.snapshot(), w.ledger()
    assert inv.check(snap, ledger, ("safety", "convergence")) == []
    return w, snap, ledger


class TestSessionsNeverShare:
    def test_a_payment_pointing_at_another_sessions_order_fires(self) -> None:
        """A payment whose order was opened by another session is shared."""
        _, snap, ledger = clean()
        bad = replaced(snap, s.PAYMENTS, PAY2, order_id=ORD)
        found = fired("sessions-never-share", bad, ledger)
        assert [v.subject for v in found] == [PAY2]
        assert f"belongs to order {ORD} of session {SESSION}" in found[0].detail

    def test_one_intent_recorded_by_two_sessions_fires(self) -> None:
        """Two sessions' payments recording one provider intent share it."""
        _, snap, ledger = clean()
        first = snap.get(s.PAYMENTS, PAY)
        assert first is not None and first.provider_intent_id is not None
        bad = replaced(snap, s.PAYMENTS, PAY2, provider_intent_id=first.provider_intent_id)
        subjects = [v.subject for v in fired("sessions-never-share", bad, ledger)]
        assert first.provider_intent_id in subjects

    def test_one_client_secret_in_two_sessions_fires_without_printing_it(self) -> None:
        """A secret handed to two sessions fires, named by payments, never by the secret."""
        _, snap, ledger = clean()
        first = snap.get(s.PAYMENTS, PAY)
        assert first is not None and first.client_secret
        bad = replaced(snap, s.PAYMENTS, PAY2, client_secret=first.client_secret)
        (found,) = fired("sessions-never-share", bad, ledger)
        assert found.subject == PAY and PAY2 in found.detail
        assert first.client_secret not in str(found)


class TestOneCurrencyPerOrder:
    def test_a_payment_in_another_currency_fires(self) -> None:
        """An order in EUR whose payment is in USD breaks it."""
        _, snap, ledger = clean()
        bad = replaced(snap, s.PAYMENTS, PAY, amount=Money(1250, "USD"))
        (found,) = fired("one-currency-per-order", bad, ledger)
        assert found.subject == ORD and "payment USD" in found.detail

    def test_an_intent_in_another_currency_fires(self) -> None:
        """The provider intent the payment records is checked by the provider-comparing
        half; the store-only one does not read the provider's books."""
        _, snap, ledger = clean()
        intents = [attrs.evolve(v, currency="usd") for v in ledger.intents]
        bad = attrs.evolve(ledger, intents=intents)
        found = fired("intent-currency-matches-order", snap, bad)
        assert {v.subject for v in found} == {ORD, "ord_000002"}
        assert fired("one-currency-per-order", snap, bad) == []

    def test_a_refund_in_another_currency_fires(self) -> None:
        """A refund of the order in another currency breaks it."""
        w, _, _ = clean()
        w.service.create_refund(PAY, 100, idempotency_key="rk-currency")
        snap, ledger = w.store.snapshot(), w.ledger()
        (refund,) = snap.rows(s.REFUNDS)
        bad = replaced(snap, s.REFUNDS, refund.id, amount=Money(100, "JPY"))
        (found,) = fired("one-currency-per-order", bad, ledger)
        assert f"refund {refund.id} JPY" in found.detail


class TestNotificationsDelivered:
    def test_an_unsent_notification_fires_only_when_quiet(self) -> None:
        """A queued, unsent message is a convergence failure, never a safety one."""
        w = two_paid()
        snap, ledger = w.store.snapshot(), w.ledger()
        unsent = [m for m in snap.rows(s.OUTBOX) if not m.sent]
        if not unsent:  # the service sent them already: put one back in the queue
            m = snap.rows(s.OUTBOX)[0]
            snap = replaced(snap, s.OUTBOX, m.id, sent=False)
            unsent = [m]
        assert not [v for v in inv.check(snap, ledger) if v.invariant == "notifications-delivered"]
        found = fired("notifications-delivered", snap, ledger)
        assert sorted(v.subject for v in found) == sorted(m.id for m in unsent)

    def test_sent_notifications_are_clean(self) -> None:
        """Once dispatched, nothing fires."""
        _, snap, ledger = clean()
        assert fired("notifications-delivered", snap, ledger) == []
        assert snap.rows(s.OUTBOX)
