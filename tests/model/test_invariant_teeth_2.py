"""More teeth: violations with several parts are reported whole, a row the checker skips
does not stop it checking the rows after it, and a recorded external refund counts at the
provider as well as locally.

Each state is a clean shop driven through the real flows, then one copy of its durable
state or of the provider's ledger is corrupted, as in ``test_invariant_teeth``.
"""

from __future__ import annotations

from typing import Any

import attrs
from tests.support import SESSION, SESSION_2, make_shop

from paycore import invariants as inv
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.invariants import Ledger, Violation
from paycore.money import Money
from paycore.ports import RefundView, Snapshot
from paycore.records import Refund
from paycore.status import OrderStatus, RefundStatus
from paycore_adapters.memory import Wiring

PAY, PAY2 = "pay_000001", "pay_000002"
ORD, ORD2 = "ord_000001", "ord_000002"


def two_paid() -> Wiring:
    """Two paid one-mug orders, one per session."""
    w = make_shop()
    for n, session in enumerate((SESSION, SESSION_2), start=1):
        w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
        w.service.confirm_payment(f"pay_{n:06d}", "pm_card_visa")
    w.service.dispatch_notifications()
    return w


def clean(w: Wiring) -> tuple[Snapshot, Ledger]:
    snap, ledger = w.store.snapshot(), w.ledger()
    assert inv.check(snap, ledger, ("safety", "convergence")) == []
    return snap, ledger


def replaced(snap: Snapshot, *changes: tuple[s.Table[Any], str, dict[str, Any]]) -> Snapshot:
    """A copy of ``snap`` with each (table, key, fields) row evolved."""
    tables = {name: dict(rows) for name, rows in snap.tables.items()}
    for table, key, fields in changes:
        current = snap.get(table, key)
        assert current is not None, f"{table.name} {key} missing"
        tables[table.name][key] = attrs.evolve(current, **fields)
    return Snapshot(tables)


def fired(inv_id: str, snap: Snapshot, ledger: Ledger) -> list[Violation]:
    return [v for v in inv.check(snap, ledger, ("safety", "convergence")) if v.invariant == inv_id]


def intent_of(snap: Snapshot, payment_id: str) -> str:
    p = snap.get(s.PAYMENTS, payment_id)
    assert p is not None and p.provider_intent_id is not None
    return p.provider_intent_id


def with_metadata(ledger: Ledger, intent_id: str, **meta: str) -> Ledger:
    intents = [
        attrs.evolve(v, metadata={**v.metadata, **meta}) if v.id == intent_id else v
        for v in ledger.intents
    ]
    return attrs.evolve(ledger, intents=intents)


class TestIntentIsThePayments:
    def test_every_field_the_intent_gets_wrong_is_named(self) -> None:
        """An intent made for another payment of another order names both fields, in the
        order the check lists them."""
        snap, ledger = clean(two_paid())
        pi = intent_of(snap, PAY)
        bad = with_metadata(ledger, pi, payment_id=PAY2, order_id=ORD2)
        assert fired("intent-is-the-payments", snap, bad) == [
            Violation(
                "intent-is-the-payments",
                PAY,
                f"intent {pi} differs from the payment in payment_id, order_id",
            )
        ]

    def test_a_payment_without_an_intent_does_not_stop_the_check(self) -> None:
        """The first payment records no intent (it is skipped); the second one's intent is
        another payment's, and is still reported."""
        snap, ledger = clean(two_paid())
        pi2 = intent_of(snap, PAY2)
        bad_snap = replaced(snap, (s.PAYMENTS, PAY, {"provider_intent_id": None}))
        bad = with_metadata(ledger, pi2, payment_id=PAY)
        assert fired("intent-is-the-payments", bad_snap, bad) == [
            Violation(
                "intent-is-the-payments",
                PAY2,
                f"intent {pi2} differs from the payment in payment_id",
            )
        ]


class TestSessionsNeverShare:
    def test_an_intent_shared_by_two_sessions_names_both(self) -> None:
        snap, ledger = clean(two_paid())
        pi = intent_of(snap, PAY)
        bad = replaced(snap, (s.PAYMENTS, PAY2, {"provider_intent_id": pi}))
        found = [v for v in fired("sessions-never-share", bad, ledger) if v.subject == pi]
        assert found == [
            Violation("sessions-never-share", pi, f"intent shared by {SESSION}, {SESSION_2}")
        ]

    def test_a_secret_shared_by_two_sessions_names_both_payments_and_sessions(self) -> None:
        snap, ledger = clean(two_paid())
        first = snap.get(s.PAYMENTS, PAY)
        assert first is not None and first.client_secret is not None
        bad = replaced(snap, (s.PAYMENTS, PAY2, {"client_secret": first.client_secret}))
        assert fired("sessions-never-share", bad, ledger) == [
            Violation(
                "sessions-never-share",
                PAY,
                f"one client secret held by payments {PAY}, {PAY2} of sessions "
                f"{SESSION}, {SESSION_2}",
            )
        ]


class TestOneCurrencyPerOrder:
    def test_every_part_in_another_currency_is_named(self) -> None:
        """An order in EUR whose payment and a refund are in USD names both; its intent in
        USD is the provider-comparing half's (intent-currency-matches-order)."""
        w = two_paid()
        w.service.create_refund(PAY, 100, idempotency_key="rk-usd")
        snap, ledger = clean(w)
        pi = intent_of(snap, PAY)
        (refund,) = snap.rows(s.REFUNDS)
        bad_snap = replaced(
            snap,
            (s.PAYMENTS, PAY, {"amount": Money(1250, "USD")}),
            (s.REFUNDS, refund.id, {"amount": Money(100, "USD")}),
        )
        intents = [attrs.evolve(v, currency="usd") if v.id == pi else v for v in ledger.intents]
        bad = attrs.evolve(ledger, intents=intents)
        assert fired("one-currency-per-order", bad_snap, bad) == [
            Violation(
                "one-currency-per-order", ORD, f"order in EUR: payment USD, refund {refund.id} USD"
            )
        ]
        assert fired("intent-currency-matches-order", bad_snap, bad) == [
            Violation("intent-currency-matches-order", ORD, "order in EUR: intent USD")
        ]


class TestRefundsWithinCaptured:
    def test_a_recorded_external_refund_counts_at_the_provider_too(self) -> None:
        """A dashboard refund paycore recorded (by its provider id) but holds as failed while
        the provider says it succeeded: the provider refunded more than paycore records."""
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        w.service.confirm_payment(PAY, "pm_card_visa")
        snap, ledger = clean(w)
        pi = intent_of(snap, PAY)
        external = Refund(
            "rf_e",
            PAY,
            ORD,
            Money(100, "EUR"),
            None,
            "external:re_dash",
            0,
            status=RefundStatus.FAILED,
            provider_refund_id="re_dash",
            external=True,
        )
        tables = {name: dict(rows) for name, rows in snap.tables.items()}
        tables[s.REFUNDS.name]["rf_e"] = external
        bad = attrs.evolve(
            ledger, refunds=[*ledger.refunds, RefundView("re_dash", pi, 100, "succeeded")]
        )
        assert fired("provider-refunds-within-captured", Snapshot(tables), bad) == [
            Violation(
                "provider-refunds-within-captured",
                pi,
                "provider refunds 100 > the 0 recorded locally",
            )
        ]


class TestStockBelongsToSeller:
    def test_a_reservation_past_its_orders_lines_is_skipped_and_the_next_still_checked(
        self,
    ) -> None:
        """The first reservation names a line its order does not have (left to another
        check); the second holds another quantity than its line, and is still reported."""
        snap, ledger = clean(two_paid())
        bad = replaced(
            snap,
            (s.RESERVATIONS, f"{ORD}/0", {"line": 1}),
            (s.RESERVATIONS, f"{ORD2}/0", {"quantity": 2}),
        )
        assert fired("stock-belongs-to-seller", bad, ledger) == [
            Violation(
                "stock-belongs-to-seller",
                f"{ORD2}/0",
                "holds 2 of SKU-MUG at seller s1 for line 0, which is 1 of SKU-MUG at seller s1",
            )
        ]


class TestDecidedRefundsCovered:
    def test_orders_after_one_not_refunded_or_one_covered_are_still_checked(self) -> None:
        """The first order is paid (nothing decided) or refunded in full (covered); the
        second is marked refunded with only 100 of its 1250 refunded: reported, with
        what is neither being refunded nor alerted."""
        for first_refunded in (False, True):
            w = two_paid()
            if first_refunded:
                w.service.create_refund(PAY, idempotency_key="rk-all")
            w.service.create_refund(PAY2, 100, idempotency_key="rk-part")
            snap, ledger = w.store.snapshot(), w.ledger()
            bad = replaced(snap, (s.ORDERS, ORD2, {"status": OrderStatus.REFUNDED}))
            assert fired("decided-refunds-covered", bad, ledger) == [
                Violation(
                    "decided-refunds-covered",
                    ORD2,
                    f"refunded: 1150 of payment {PAY2} is neither being refunded nor alerted",
                )
            ], first_refunded
