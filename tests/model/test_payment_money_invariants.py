"""The money a payment holds, checked from the payment's side: it has its order, the
intent it records exists at the provider, it never received more than it asked, and
its refunds, paycore's and those made outside it, never return more than it received.

Each breach is written into a copy of a clean shop's state (the smallest one that
breaks it); the clean states, and the legitimate moments the checks must let pass (a
refund of paycore's still pending beside a dashboard refund, a refund the bank
reversed before paycore heard of it), hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import attrs
import pytest
from tests.support import SESSION, deliver_webhooks, make_shop

from paycore import invariants as inv
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.invariants import Kind, Ledger, Violation
from paycore.money import Money
from paycore.ports import IntentView, RefundView, Snapshot
from paycore.records import Payment, Refund
from paycore.status import OrderStatus, RefundStatus
from paycore_adapters.memory import Wiring

BOTH: tuple[Kind, Kind] = ("safety", "convergence")
PAY, ORD, PI = "pay_000001", "ord_000001", "pi_000001"
PAID = 2500  # two mugs
HOUR = 3_600_000


def paid(quantity: int = 2) -> Wiring:
    w = make_shop()
    w.service.create_payment_intent(SESSION, [CartItem("p_mug", quantity)])
    w.service.confirm_payment(PAY, "pm_card_visa")
    deliver_webhooks(w)
    return w


def clean(w: Wiring) -> tuple[Snapshot, Ledger]:
    snap, ledger = w.store.snapshot(), w.ledger()
    assert inv.check(snap, ledger, BOTH) == [], "the uncorrupted state must be clean"
    return snap, ledger


def patched(snap: Snapshot, *records: Any, drop: Sequence[tuple[str, str]] = ()) -> Snapshot:
    tables = {name: dict(rows) for name, rows in snap.tables.items()}
    by_type = {t.type: t for t in s.TABLES}
    for rec in records:
        table = by_type[type(rec)]
        tables[table.name][table.key_of(rec)] = rec
    for name, key in drop:
        del tables[name][key]
    return Snapshot(tables)


def payment(snap: Snapshot, **changes: Any) -> Payment:
    p = snap.get(s.PAYMENTS, PAY)
    assert p is not None
    return attrs.evolve(p, **changes)


def fired(invariant_id: str, snap: Snapshot, ledger: Ledger) -> list[Violation]:
    return [v for v in inv.check(snap, ledger, BOTH) if v.invariant == invariant_id]


def external(snap: Snapshot, amount: int, status: RefundStatus, n: int = 9) -> Refund:
    """A refund made outside paycore, as paycore records it."""
    return Refund(
        f"rf_00000{n}",
        PAY,
        ORD,
        Money(amount, "EUR"),
        None,
        f"external:re_00000{n}",
        0,
        status=status,
        provider_refund_id=f"re_00000{n}",
        external=True,
    )


def within_captured(snap: Snapshot, ledger: object) -> list[Violation]:
    """local-refunds-within-captured alone (the others may need books ``ledger`` lacks)."""
    return inv.local_refunds_within_captured(snap, cast(Ledger, ledger))


class _NoBooks:
    """A ledger without the provider's books (a store-only check): reading them raises."""

    now = 0

    @property
    def intents(self) -> Sequence[IntentView]:
        raise inv.BooksUnavailable

    @property
    def refunds(self) -> Sequence[RefundView]:
        raise inv.BooksUnavailable


# --- payment-has-its-order ----------------------------------------------------------


class TestPaymentHasItsOrder:
    def test_a_payment_whose_order_is_gone_fires(self) -> None:
        """The review's forged charge: a succeeded payment naming no order."""
        snap, ledger = clean(paid())
        bad = patched(snap, payment(snap, id="pay_000099", order_id="ord_000999"))
        assert fired("payment-has-its-order", bad, ledger) == [
            Violation("payment-has-its-order", "pay_000099", "its order ord_000999 does not exist")
        ]

    def test_a_payment_its_order_does_not_name_fires(self) -> None:
        """Two payments naming one order: the order names one of them, the other is stray."""
        snap, ledger = clean(paid())
        bad = patched(snap, payment(snap, id="pay_000099"))
        assert fired("payment-has-its-order", bad, ledger) == [
            Violation(
                "payment-has-its-order",
                "pay_000099",
                f"its order {ORD} names payment {PAY}, not this one",
            )
        ]

    def test_every_payment_of_a_clean_shop_has_its_order(self) -> None:
        w = paid()
        w.service.create_payment_intent("cs_test_0000000002", [CartItem("p_mug", 1)])
        w.service.cancel_payment("pay_000002")
        assert fired("payment-has-its-order", *clean(w)) == []


# --- recorded-intent-exists ---------------------------------------------------------


class TestRecordedIntentExists:
    def test_an_intent_the_provider_does_not_know_fires_with_the_full_books(self) -> None:
        snap, ledger = clean(paid())
        bad = patched(snap, payment(snap, provider_intent_id="pi_999999"))
        assert fired("recorded-intent-exists", bad, ledger) == [
            Violation(
                "recorded-intent-exists",
                PAY,
                "records provider intent pi_999999, which the provider's books do not hold",
            )
        ]

    def test_over_a_window_an_older_payment_is_not_looked_for(self) -> None:
        """`paycore check --provider stripe` reads the intents of a window: an intent made
        before it is not in the books, and its payment is not reported."""
        w = paid()
        snap, ledger = clean(w)
        created = payment(snap).created_at
        window = attrs.evolve(ledger, intents=[], refunds=[], since=created + 1)
        assert fired("recorded-intent-exists", snap, window) == []
        # made well inside the window (past its margin for clocks): it must be found
        inside = attrs.evolve(window, since=created - inv.WINDOW_MARGIN_MS)
        assert [v.subject for v in fired("recorded-intent-exists", snap, inside)] == [PAY]
        at_margin = attrs.evolve(window, since=created - inv.WINDOW_MARGIN_MS + 1)
        assert fired("recorded-intent-exists", snap, at_margin) == []

    def test_a_payment_without_an_intent_yet_is_not_looked_for(self) -> None:
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        snap, ledger = clean(w)
        creating = patched(snap, payment(snap, provider_intent_id=None))
        assert fired("recorded-intent-exists", creating, attrs.evolve(ledger, intents=[])) == []


# --- amount-received-within-amount --------------------------------------------------


@pytest.mark.parametrize(("received", "fires"), [(PAID, False), (PAID + 1, True)])
def test_amount_received_within_amount_fires_one_cent_over(received: int, fires: bool) -> None:
    snap, ledger = clean(paid())
    bad = patched(snap, payment(snap, amount_received=received))
    want = Violation(
        "amount-received-within-amount", PAY, f"received {received} of an amount of {PAID}"
    )
    assert fired("amount-received-within-amount", bad, ledger) == ([want] if fires else [])


def test_the_reviews_received_twice_the_amount_state_fires() -> None:
    """amount_received 5000 on a 2500 payment, all of it refunded, the order refunded:
    every refund check measured against the inflated amount and held."""
    w = paid()
    w.service.create_refund(PAY, 1000, idempotency_key="r1")
    snap, ledger = clean(w)
    refund = snap.get(s.REFUNDS, "rf_000001")
    order = snap.get(s.ORDERS, ORD)
    assert refund is not None and order is not None
    bad = patched(
        snap,
        payment(snap, amount_received=5000, amount_refunded=5000),
        attrs.evolve(refund, amount=Money(5000, "EUR"), requested_amount=5000),
        attrs.evolve(order, status=OrderStatus.REFUNDED),
    )
    found = [v.invariant for v in inv.check(bad, ledger)]
    # the order's status was changed without its audit entry: audit-replays sees that
    assert found == ["amount-received-within-amount", "audit-replays"]


# --- local-refunds-within-captured: refunds made outside paycore count -----------------


class TestExternalRefundsCount:
    def test_an_external_refund_past_what_was_received_fires(self) -> None:
        """The review's state: paycore refunded 1000, the dashboard 2000, of 2500."""
        w = paid()
        w.service.create_refund(PAY, 1000, idempotency_key="r1")
        snap, ledger = clean(w)
        bad = patched(
            snap,
            external(snap, 2000, RefundStatus.SUCCEEDED),
            payment(snap, amount_refunded=3000),
        )
        want = Violation(
            "local-refunds-within-captured",
            PAY,
            f"refunds the provider took, paycore's and external, 3000 > captured {PAID}",
        )
        assert fired("local-refunds-within-captured", bad, ledger) == [want]
        assert fired("local-refunds-within-captured", bad, Ledger()) == [want]
        # The store alone cannot tell this from a refund the bank reversed since (below):
        # not judged without the books.
        assert within_captured(bad, _NoBooks()) == []

    @pytest.mark.parametrize(
        ("status", "fires"),
        [
            (RefundStatus.PENDING, True),
            (RefundStatus.FAILED, False),
            (RefundStatus.CANCELED, False),
        ],
    )
    def test_a_pending_external_refund_counts_an_ended_one_does_not(
        self, status: RefundStatus, fires: bool
    ) -> None:
        w = paid()
        w.service.create_refund(PAY, 1000, idempotency_key="r1")
        snap, _ = clean(w)
        bad = patched(snap, external(snap, 1501, status))
        assert bool(fired("local-refunds-within-captured", bad, Ledger())) is fires
        exact = patched(snap, external(snap, 1500, status))
        assert fired("local-refunds-within-captured", exact, Ledger()) == []

    def test_paycores_pending_refund_beside_a_dashboard_refund_is_let_pass(self) -> None:
        """paycore's refund not yet answered, a dashboard refund of everything taken
        meanwhile: the provider will refuse paycore's (nothing is left), so the two
        together are not money returned twice."""
        w = paid()
        snap, ledger = clean(w)
        own = Refund("rf_000001", PAY, ORD, Money(PAID, "EUR"), None, "r1", 0)
        bad = patched(
            snap,
            own,
            external(snap, PAID, RefundStatus.SUCCEEDED, n=2),
            payment(snap, amount_refunded=PAID),
        )
        assert fired("local-refunds-within-captured", bad, ledger) == []

    def test_a_refund_the_bank_reversed_before_paycore_heard_is_let_pass(self) -> None:
        """paycore's refund succeeded, the bank sent it back (the provider's refund is
        failed, its event not delivered yet), and the dashboard refunded the whole again:
        locally both look succeeded until the reversal arrives. The provider's books
        show the first one failed; without them (a check of the store alone, or a
        window that began after the payment) the sum is not judged: no false alarm."""
        w = paid()
        w.service.create_refund(PAY, None, idempotency_key="r1")
        deliver_webhooks(w)
        (first,) = w.provider.refunds()
        w.provider.fail_refund(first.id)
        reversal = w.provider.take_events()
        intent = w.service.payment(PAY).provider_intent_id
        assert intent is not None
        w.provider.create_refund(
            intent, amount=PAID, reason=None, metadata={}, idempotency_key="dash-1"
        )
        deliver_webhooks(w)  # the dashboard refund's events, not the reversal's
        snap = w.store.snapshot()
        assert [r.status for r in snap.rows(s.REFUNDS)] == [RefundStatus.SUCCEEDED] * 2
        assert fired("local-refunds-within-captured", snap, w.ledger()) == []
        assert inv.check(snap, w.ledger()) == []
        assert within_captured(snap, _NoBooks()) == []
        # A window that began after the payment: none of its refunds in the books.
        after = attrs.evolve(w.ledger(), since=w.clock.now() + 1, refunds=())
        assert within_captured(snap, after) == []
        for event in reversal:
            w.service.handle_webhook(event)
        assert inv.check(w.store.snapshot(), w.ledger()) == []
