"""Every invariant fires on the smallest store state that breaks it, and only then.

Each state starts from a clean shop driven through the real flows; the corruption is
applied to a copy of the durable state (a snapshot with rows replaced by ``attrs.evolve``,
added or dropped) or to the provider's ledger. A checker that cannot fire would let the
harness pass every run, and one that always fires would fail every clean run; both are
pinned here, with the boundary of each comparison.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import attrs
import pytest
from tests.support import SESSION, SESSION_2, begin_checkout, make_shop

from paycore import invariants as inv
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.identity import INSTALLATION_KEY as INST_KEY
from paycore.flows.identity import REFERENCE_KEY as REF_KEY
from paycore.invariants import Kind, Ledger, Violation
from paycore.money import Money
from paycore.ports import IntentView, RefundView, Snapshot
from paycore.records import (
    AuditEntry,
    Order,
    OutboxMessage,
    Payment,
    Refund,
    Reservation,
    Stock,
)
from paycore.status import (
    FlowStatus,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ReservationStatus,
)
from paycore_adapters.memory import Wiring, in_memory

T = TypeVar("T")
BOTH: tuple[Kind, Kind] = ("safety", "convergence")
TABLE_OF: dict[type, s.Table[Any]] = {t.type: t for t in s.TABLES}
ORD, PAY, RES, PI = "ord_000001", "pay_000001", "ord_000001/0", "pi_000001"
ORD2, PAY2, RES2, PI2 = "ord_000002", "pay_000002", "ord_000002/0", "pi_000002"
CHECKOUT_FLOW = f"checkout:{SESSION}"
MUG = 1250  # the mug's price in cents: every one-mug order's total


# --- states ------------------------------------------------------------------------


def open_shop(*sessions: str) -> Wiring:
    """One one-mug checkout per session (in that order): orders pending, stock held."""
    w = make_shop()
    for session in sessions or (SESSION,):
        w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
    return w


def paid_shop(*sessions: str) -> Wiring:
    """One paid one-mug order per session: payment succeeded, stock committed."""
    w = open_shop(*sessions)
    for n in range(1, len(sessions or (SESSION,)) + 1):
        w.service.confirm_payment(f"pay_{n:06d}", "pm_card_visa")
    return w


def patched(
    snap: Snapshot, *records: Any, drop: Iterable[tuple[s.Table[Any], str]] = ()
) -> Snapshot:
    """A copy of ``snap`` with ``records`` written (added or replaced) and ``drop`` removed."""
    tables = {name: dict(rows) for name, rows in snap.tables.items()}
    for rec in records:
        table = TABLE_OF[type(rec)]
        tables[table.name][table.key_of(rec)] = rec
    for table, key in drop:
        del tables[table.name][key]
    return Snapshot(tables)


def stored(snap: Snapshot, table: s.Table[T], key: str) -> T:
    found = snap.get(table, key)
    assert found is not None, f"{table.name} {key} missing"
    return found


def row(snap: Snapshot, table: s.Table[Any], key: str, **changes: Any) -> Any:
    """The stored row, evolved with ``changes``."""
    return attrs.evolve(stored(snap, table, key), **changes)


def with_intents(ledger: Ledger, *intents: IntentView) -> Ledger:
    """The ledger with ``intents`` replacing (same id) or added to the provider's."""
    by_id = {v.id: v for v in ledger.intents}
    by_id.update({v.id: v for v in intents})
    return attrs.evolve(ledger, intents=list(by_id.values()))


def with_refunds(ledger: Ledger, *refunds: RefundView) -> Ledger:
    return attrs.evolve(ledger, refunds=[*ledger.refunds, *refunds])


def intent(ledger: Ledger, intent_id: str, **changes: Any) -> IntentView:
    (found,) = [v for v in ledger.intents if v.id == intent_id]
    return attrs.evolve(found, **changes)


#: The installation id of every shop built here (its tokens are seeded).
INSTALLATION = in_memory().service.installation_id()


def extra_intent(
    id: str = "pi_extra", status: str = "succeeded", received: int = MUG, **meta: str
) -> IntentView:
    """An intent this installation made that no payment records (amount = the mug's price)."""
    return IntentView(id, status, MUG, "EUR", received, 0, {INST_KEY: INSTALLATION, **meta})


def fired(invariant_id: str, snap: Snapshot, ledger: Ledger) -> list[Violation]:
    """What the checker reports for one invariant (through ``check``, every kind)."""
    return [v for v in inv.check(snap, ledger, BOTH) if v.invariant == invariant_id]


def clean(w: Wiring) -> tuple[Snapshot, Ledger]:
    snap, ledger = w.store.snapshot(), w.ledger()
    assert inv.check(snap, ledger, BOTH) == [], "the uncorrupted state must be clean"
    return snap, ledger


# --- the checker itself ---------------------------------------------------------------


def test_clean_states_from_every_flow_violate_nothing() -> None:
    """Open, paid, refunded and canceled checkouts are clean: no invariant always fires."""
    w = open_shop(SESSION, SESSION_2, "cs_test_0000000003")
    w.service.confirm_payment(PAY, "pm_card_visa")
    w.service.create_refund(PAY, 500, idempotency_key="rk-1")
    w.service.confirm_payment(PAY2, "pm_card_visa")
    w.service.create_refund(PAY2, idempotency_key="rk-2")
    w.service.cancel_payment("pay_000003")
    snap, ledger = w.store.snapshot(), w.ledger()
    assert stored(snap, s.ORDERS, ORD).status is OrderStatus.PARTIALLY_REFUNDED
    assert stored(snap, s.ORDERS, ORD2).status is OrderStatus.REFUNDED
    assert stored(snap, s.ORDERS, "ord_000003").status is OrderStatus.CANCELED
    assert inv.check(snap, ledger, BOTH) == []


def test_check_returns_only_the_kinds_asked_for() -> None:
    """Safety checks run after every step; convergence ones only when quiet (default: safety)."""
    w = open_shop()
    w.clock.advance(w.service.config.reservation_ttl_ms)
    snap, ledger = w.store.snapshot(), w.ledger()
    stale = Violation("no-stale-hold", RES, "held past expiry, payment open")
    assert inv.check(snap, ledger) == []
    assert inv.check(snap, ledger, ("safety",)) == []
    assert inv.check(snap, ledger, ("convergence",)) == [stale]
    assert w.violations() == [stale]


def test_violation_prints_id_subject_and_detail() -> None:
    """Failing runs print violations: the id, the subject and the detail must all show."""
    assert str(Violation("no-oversell", "SKU-MUG", "held 2")) == "[no-oversell] SKU-MUG: held 2"


def test_every_invariant_is_registered_once_with_its_kind() -> None:
    """The harness checks convergence invariants only when quiet: each id once, kind as stated."""
    ids = [i.id for i in inv.INVARIANTS]
    assert len(set(ids)) == len(ids)
    kinds = {i.id: i.kind for i in inv.INVARIANTS}
    quiet = ["statuses-agree", "no-orphaned-intent", "no-stale-hold", "flows-finished"]
    assert [kinds[i] for i in quiet] == ["convergence"] * 4
    always = ["stock-conserved", "no-oversell", "one-order-per-session", "no-double-charge"]
    assert [kinds[i] for i in always] == ["safety"] * 4


# --- stock ---------------------------------------------------------------------------


def test_stock_conserved_fires_on_held_stock_the_counter_lost() -> None:
    """A SKU with one held reservation and no committed stock must count it as held."""
    snap, ledger = clean(open_shop())
    bad = patched(snap, row(snap, s.STOCK, "s1/SKU-MUG", held=0))
    assert fired("stock-conserved", bad, ledger) == [
        Violation(
            "stock-conserved",
            "s1/SKU-MUG",
            "(on hand, held, committed) is (5, 0, 0) but the reservations and movements "
            "say (5, 1, 0)",
        )
    ]


def test_stock_conserved_fires_on_committed_stock_counted_as_held() -> None:
    """A committed reservation counts as committed, not held."""
    snap, ledger = clean(paid_shop())
    bad = patched(snap, row(snap, s.STOCK, "s1/SKU-MUG", held=1, committed=0))
    assert fired("stock-conserved", bad, ledger) == [
        Violation(
            "stock-conserved",
            "s1/SKU-MUG",
            "(on hand, held, committed) is (5, 1, 0) but the reservations and movements "
            "say (5, 0, 1)",
        )
    ]


def test_stock_conserved_ignores_released_reservations() -> None:
    """A released (canceled) reservation holds nothing: counting it would be a false alarm."""
    w = open_shop()
    w.service.cancel_payment(PAY)
    snap, ledger = clean(w)
    assert stored(snap, s.RESERVATIONS, RES).status is ReservationStatus.RELEASED
    bad = patched(snap, row(snap, s.STOCK, "s1/SKU-MUG", held=1))
    assert [v.detail for v in fired("stock-conserved", bad, ledger)] == [
        "(on hand, held, committed) is (5, 1, 0) but the reservations and movements say (5, 0, 0)"
    ]


def test_stock_conserved_fires_on_on_hand_without_movement_and_on_missing_stock_row() -> None:
    """On-hand is the sum of movements; a SKU with reservations needs its counters row."""
    w = open_shop()
    w.service.create_payment_intent(SESSION_2, [CartItem("p_tee", 2)])
    snap, ledger = clean(w)
    bad = patched(snap, row(snap, s.STOCK, "s1/SKU-TEE", on_hand=6), drop=[(s.STOCK, "s1/SKU-MUG")])
    assert fired("stock-conserved", bad, ledger) == [
        Violation(
            "stock-conserved",
            "s1/SKU-MUG",
            "(on hand, held, committed) is (0, 0, 0) but the reservations and movements "
            "say (5, 1, 0)",
        ),
        Violation(
            "stock-conserved",
            "s1/SKU-TEE",
            "(on hand, held, committed) is (6, 2, 0) but the reservations and movements "
            "say (5, 2, 0)",
        ),
    ]


def test_stock_conserved_sums_every_movement_of_a_sku() -> None:
    """On-hand is the sum of all movements (restock, breakage), not the last one."""
    w = open_shop()
    w.service.restock("s1", "SKU-MUG", 3)
    w.service.adjust_stock("s1", "SKU-MUG", -2, "broken")
    snap, ledger = clean(w)
    assert stored(snap, s.STOCK, "s1/SKU-MUG").on_hand == 6
    bad = patched(snap, row(snap, s.STOCK, "s1/SKU-MUG", on_hand=5))
    assert [v.detail for v in fired("stock-conserved", bad, ledger)] == [
        "(on hand, held, committed) is (5, 1, 0) but the reservations and movements say (6, 1, 0)"
    ]


def without_movements(snap: Snapshot, sku: str) -> list[tuple[s.Table[Any], str]]:
    return [(s.STOCK_MOVEMENTS, str(m.seq)) for m in snap.rows(s.STOCK_MOVEMENTS) if m.sku == sku]


@pytest.mark.parametrize("paid", [False, True])
def test_stock_conserved_checks_a_sku_known_only_from_its_reservations(paid: bool) -> None:
    """Stock held or sold for a SKU with no counters and no movements is still checked."""
    snap, ledger = clean(paid_shop() if paid else open_shop())
    bad = patched(snap, drop=[(s.STOCK, "s1/SKU-MUG"), *without_movements(snap, "SKU-MUG")])
    want = "(0, 0, 1)" if paid else "(0, 1, 0)"
    assert fired("stock-conserved", bad, ledger) == [
        Violation(
            "stock-conserved",
            "s1/SKU-MUG",
            "(on hand, held, committed) is (0, 0, 0) but the reservations and movements "
            f"say {want}",
        )
    ]


def test_stock_conserved_checks_a_sku_known_only_from_its_counters() -> None:
    """Counters for a SKU no movement ever stocked are checked too."""
    snap, ledger = clean(open_shop())
    bad = patched(snap, Stock("s1", "SKU-GHOST", on_hand=3))
    assert fired("stock-conserved", bad, ledger) == [
        Violation(
            "stock-conserved",
            "s1/SKU-GHOST",
            "(on hand, held, committed) is (3, 0, 0) but the reservations and movements "
            "say (0, 0, 0)",
        )
    ]


@pytest.mark.parametrize(
    ("held", "committed", "on_hand", "fires"),
    [(2, 3, 5, False), (2, 3, 4, True), (0, 0, 0, False), (1, 0, 0, True), (0, 1, 0, True)],
)
def test_no_oversell_fires_only_past_on_hand(
    held: int, committed: int, on_hand: int, fires: bool
) -> None:
    """Held plus committed may reach on-hand exactly, never one more."""
    snap, ledger = clean(open_shop())
    bad = patched(
        snap, row(snap, s.STOCK, "s1/SKU-TEE", held=held, committed=committed, on_hand=on_hand)
    )
    want = Violation(
        "no-oversell", "s1/SKU-TEE", f"held {held} + committed {committed} > on hand {on_hand}"
    )
    assert fired("no-oversell", bad, ledger) == ([want] if fires else [])


def second_seller(w: Wiring, units: int) -> Wiring:
    """Seller s2 also lists SKU-MUG, with ``units`` of its own."""
    w.provider.set_account("acct_2")
    w.service.add_seller("s2", "Other Mugs", "acct_2")
    w.service.add_product("p_mug_b", "s2", "SKU-MUG", "Mug (s2)", Money(1100, "EUR"))
    w.service.restock("s2", "SKU-MUG", units)
    return w


def test_stock_belongs_to_seller_fires_on_a_hold_of_another_sellers_units() -> None:
    """s1's order holding s2's mug (counters moved along, so stock is conserved) is caught."""
    snap, ledger = clean(second_seller(open_shop(), 1))
    bad = patched(
        snap,
        row(snap, s.RESERVATIONS, RES, seller_id="s2"),
        row(snap, s.STOCK, "s1/SKU-MUG", held=0),
        row(snap, s.STOCK, "s2/SKU-MUG", held=1),
    )
    assert inv.check(bad, ledger, BOTH) == [
        Violation(
            "stock-belongs-to-seller",
            RES,
            "holds 1 of SKU-MUG at seller s2 for line 0, which is 1 of SKU-MUG at seller s1",
        )
    ]


@pytest.mark.parametrize(
    ("field", "value"), [("sku", "SKU-TEE"), ("quantity", 2), ("seller_id", "s2")]
)
def test_stock_belongs_to_seller_compares_sku_quantity_and_seller(field: str, value: Any) -> None:
    """Each of the reservation's seller, SKU and quantity must be its line's."""
    snap, ledger = clean(second_seller(paid_shop(), 1))
    bad = patched(snap, row(snap, s.RESERVATIONS, RES, **{field: value}))
    assert [v.subject for v in fired("stock-belongs-to-seller", bad, ledger)] == [RES]


def test_stock_belongs_to_seller_fires_on_stock_no_product_of_its_seller_carries() -> None:
    """Counters for s2's SKU-TEE (only s1 sells tees) are stock nobody can sell."""
    snap, ledger = clean(second_seller(open_shop(), 1))
    bad = patched(snap, Stock("s2", "SKU-TEE"))
    assert fired("stock-belongs-to-seller", bad, ledger) == [
        Violation(
            "stock-belongs-to-seller",
            "s2/SKU-TEE",
            "stock of SKU-TEE at seller s2, who has no product with it",
        )
    ]


@pytest.mark.parametrize("status", list(PaymentStatus))
def test_hold_tied_to_payment_held_only_while_payment_can_succeed(status: PaymentStatus) -> None:
    """Stock stays held only for a payment that is creating, open, in action or processing."""
    snap, ledger = clean(open_shop())
    bad = patched(snap, row(snap, s.PAYMENTS, PAY, status=status))
    live = status in ("creating", "open", "requires_action", "processing")
    want = Violation("hold-tied-to-payment", RES, f"held while payment is {status.value}")
    assert fired("hold-tied-to-payment", bad, ledger) == ([] if live else [want])


@pytest.mark.parametrize("status", list(PaymentStatus))
def test_hold_tied_to_payment_committed_only_when_payment_succeeded(
    status: PaymentStatus,
) -> None:
    """Committed stock is sold stock: only a succeeded payment may have it."""
    snap, ledger = clean(paid_shop())
    bad = patched(snap, row(snap, s.PAYMENTS, PAY, status=status))
    want = Violation("hold-tied-to-payment", RES, f"committed while payment is {status.value}")
    assert fired("hold-tied-to-payment", bad, ledger) == (
        [] if status is PaymentStatus.SUCCEEDED else [want]
    )


def test_hold_tied_to_payment_fires_for_reservations_without_order_or_payment() -> None:
    """A reservation whose order or payment is gone holds stock nobody can release; checking
    goes on past it (a held reservation with a canceled payment after it is reported too)."""
    w = open_shop(SESSION, SESSION_2)
    snap, ledger = clean(w)
    stray = Reservation("ord_gone/0", "ord_gone", "SKU-MUG", 1, 0, seller_id="s1")
    bad = patched(
        snap,
        row(snap, s.PAYMENTS, PAY2, status=PaymentStatus.CANCELED),
        stray,
        drop=[(s.PAYMENTS, PAY)],
    )
    assert fired("hold-tied-to-payment", bad, ledger) == [
        Violation("hold-tied-to-payment", RES, "reservation without order or payment"),
        Violation("hold-tied-to-payment", RES2, "held while payment is canceled"),
        Violation("hold-tied-to-payment", "ord_gone/0", "reservation without order or payment"),
    ]


def given_back_cases() -> list[tuple[ReservationStatus, PaymentStatus, bool]]:
    """Every settled reservation status against every payment status, and whether it fires
    (these states have no audit showing the payment processing when its stock expired)."""
    live = ("creating", "open", "requires_action", "processing")
    return [
        (r, p, p in live)
        for r in ReservationStatus
        if r is not ReservationStatus.HELD
        for p in PaymentStatus
    ]


@pytest.mark.parametrize(("reservation", "payment", "fires"), given_back_cases())
def test_stock_kept_for_live_payment_fires_on_stock_given_back_too_early(
    reservation: ReservationStatus, payment: PaymentStatus, fires: bool
) -> None:
    """S5, S14: a payment that can still succeed keeps its stock (the processing hold's
    case is in test_stock_kept_invariant.py). Held reservations before it are skipped."""
    snap, ledger = clean(open_shop(SESSION, SESSION_2))
    bad = patched(
        snap,
        row(snap, s.RESERVATIONS, RES2, status=reservation),
        row(snap, s.PAYMENTS, PAY2, status=payment),
    )
    want = Violation(
        "stock-kept-for-live-payment",
        RES2,
        f"{reservation.value} while payment {PAY2} is {payment.value}",
    )
    assert fired("stock-kept-for-live-payment", bad, ledger) == ([want] if fires else [])


def test_stock_kept_for_live_payment_leaves_missing_payments_to_another_check() -> None:
    """A reservation without order or payment is hold-tied-to-payment's; the next is checked."""
    snap, ledger = clean(open_shop(SESSION, SESSION_2))
    released = ReservationStatus.RELEASED
    bad = patched(
        snap,
        row(snap, s.RESERVATIONS, RES, status=released),
        row(snap, s.RESERVATIONS, RES2, status=released),
        drop=[(s.PAYMENTS, PAY)],
    )
    assert fired("stock-kept-for-live-payment", bad, ledger) == [
        Violation("stock-kept-for-live-payment", RES2, f"released while payment {PAY2} is open")
    ]
    no_order = patched(bad, drop=[(s.ORDERS, ORD)])
    assert fired("stock-kept-for-live-payment", no_order, ledger) == [
        Violation("stock-kept-for-live-payment", RES2, f"released while payment {PAY2} is open")
    ]


# --- orders, sessions, intents -------------------------------------------------------


def second_order(snap: Snapshot, order_id: str, session: str) -> tuple[Order, Payment]:
    """A copy of the first order (and its payment) under another id, for ``session``."""
    order = row(snap, s.ORDERS, ORD, id=order_id, checkout_session_id=session)
    payment = row(snap, s.PAYMENTS, PAY, id=f"pay_{order_id}", order_id=order_id)
    return attrs.evolve(order, payment_id=payment.id), payment


def test_one_order_per_session_fires_on_exactly_two_orders() -> None:
    """Two orders for one session is the smallest double checkout; one is fine."""
    snap, ledger = clean(open_shop())
    assert fired("one-order-per-session", snap, ledger) == []
    bad = patched(snap, *second_order(snap, "ord_dup", SESSION))
    assert fired("one-order-per-session", bad, ledger) == [
        Violation("one-order-per-session", SESSION, "2 orders")
    ]


def test_one_order_per_session_reports_sessions_in_order() -> None:
    """Each session with duplicates is reported once, sorted by session id."""
    snap, ledger = clean(open_shop(SESSION_2, SESSION))
    bad = patched(
        snap,
        *second_order(snap, "ord_a", SESSION_2),
        *second_order(snap, "ord_b", SESSION_2),
        *second_order(snap, "ord_c", SESSION),
    )
    assert fired("one-order-per-session", bad, ledger) == [
        Violation("one-order-per-session", SESSION, "2 orders"),
        Violation("one-order-per-session", SESSION_2, "3 orders"),
    ]


def test_one_order_per_session_fires_on_order_without_its_payment() -> None:
    """An order needs a payment, and that payment must point back at it."""
    snap, ledger = clean(open_shop(SESSION, SESSION_2))
    bad = patched(snap, row(snap, s.PAYMENTS, PAY2, order_id=ORD), drop=[(s.PAYMENTS, PAY)])
    assert fired("one-order-per-session", bad, ledger) == [
        Violation("one-order-per-session", ORD, "order without its payment"),
        Violation("one-order-per-session", ORD2, "order without its payment"),
    ]


LIVE_STATUSES = [
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "requires_capture",
    "processing",
]


@pytest.mark.parametrize("status", [*LIVE_STATUSES, "succeeded", "canceled"])
def test_one_live_intent_fires_on_a_second_intent_that_can_take_money(status: str) -> None:
    """A session may not have two intents that can still be charged or kept money."""
    snap, ledger = clean(open_shop())
    second = extra_intent(status=status, checkout_session_id=SESSION)
    got = fired("one-live-intent-per-session", snap, with_intents(ledger, second))
    want = Violation("one-live-intent-per-session", SESSION, f"live intents {PI}, pi_extra")
    assert got == ([] if status == "canceled" else [want])


@pytest.mark.parametrize(
    ("refunds", "live"),
    [
        ([("succeeded", MUG)], False),
        ([("pending", MUG)], False),
        ([("succeeded", 600), ("pending", MUG - 600)], False),
        ([("succeeded", MUG - 1)], True),
        ([("failed", MUG)], True),
        ([("canceled", MUG)], True),
        ([], True),
    ],
)
def test_one_live_intent_counts_a_succeeded_intent_live_until_refunded(
    refunds: list[tuple[str, int]], live: bool
) -> None:
    """A succeeded intent keeps money until pending or succeeded refunds cover all of it."""
    snap, ledger = clean(open_shop())
    ledger = with_refunds(
        with_intents(ledger, extra_intent(checkout_session_id=SESSION)),
        *(RefundView(f"re_{n}", "pi_extra", a, st) for n, (st, a) in enumerate(refunds)),
    )
    want = Violation("one-live-intent-per-session", SESSION, f"live intents {PI}, pi_extra")
    assert fired("one-live-intent-per-session", snap, ledger) == ([want] if live else [])


def test_one_live_intent_groups_by_session_and_sorts() -> None:
    """Intents of other sessions or with no session never pair up; sessions come sorted."""
    snap, ledger = clean(open_shop(SESSION_2, SESSION))
    ledger = with_intents(
        ledger,
        extra_intent("pi_a", checkout_session_id=SESSION_2),
        extra_intent("pi_b", checkout_session_id=SESSION),
        extra_intent("pi_c", order_id=ORD),
        extra_intent("pi_d", checkout_session_id=""),
    )
    assert fired("one-live-intent-per-session", snap, ledger) == [
        Violation("one-live-intent-per-session", SESSION, f"live intents {PI2}, pi_b"),
        Violation("one-live-intent-per-session", SESSION_2, f"live intents {PI}, pi_a"),
    ]


@pytest.mark.parametrize(
    ("refund", "net"),
    [
        (("succeeded", MUG), None),
        (("succeeded", MUG - 1), MUG + 1),
        (("pending", MUG), 2 * MUG),
        (("failed", MUG), 2 * MUG),
    ],
)
def test_no_double_charge_fires_when_net_capture_exceeds_total(
    refund: tuple[str, int], net: int | None
) -> None:
    """A second capture for a paid order is a double charge unless a refund gave it back."""
    snap, ledger = clean(paid_shop())
    ledger = with_refunds(
        with_intents(ledger, extra_intent(order_id=ORD)),
        RefundView("re_x", "pi_extra", refund[1], refund[0]),
    )
    want = Violation("no-double-charge", ORD, f"net captured {net} > order total {MUG}")
    assert fired("no-double-charge", snap, ledger) == ([] if net is None else [want])


def test_no_double_charge_counts_captures_for_unknown_orders_against_zero() -> None:
    """Money taken for an order that does not exist is over a total of 0; sorted by order."""
    snap, ledger = clean(paid_shop())
    ledger = with_intents(
        ledger,
        extra_intent("pi_z", order_id="ord_zzz", received=1),
        extra_intent("pi_a", order_id="ord_aaa", received=2),
        extra_intent("pi_none", received=5),
    )
    assert fired("no-double-charge", snap, ledger) == [
        Violation("no-double-charge", "ord_aaa", "net captured 2 > order total 0"),
        Violation("no-double-charge", "ord_zzz", "net captured 1 > order total 0"),
    ]


@pytest.mark.parametrize(
    ("status", "refunded", "holds"),
    [
        ("processing", 0, True),
        ("requires_capture", 0, True),
        ("succeeded", 0, True),
        ("succeeded", MUG - 1, True),
        ("succeeded", MUG, False),
        ("requires_payment_method", 0, False),
        ("requires_action", 0, False),
        ("canceled", 0, False),
    ],
)
def test_no_orphaned_charge_fires_on_unowned_intent_holding_money(
    status: str, refunded: int, holds: bool
) -> None:
    """An intent that holds or kept money must belong to a recorded payment."""
    snap, ledger = clean(open_shop())
    ledger = with_refunds(
        with_intents(ledger, extra_intent(status=status)),
        RefundView("re_x", "pi_extra", refunded, "succeeded"),
        RefundView("re_y", "pi_extra", MUG, "pending"),  # pending gives nothing back yet
    )
    want = Violation("no-orphaned-charge", "pi_extra", f"{status} with no local payment")
    assert fired("no-orphaned-charge", snap, ledger) == ([want] if holds else [])


def test_no_orphaned_charge_fires_when_the_payment_has_lost_its_order() -> None:
    """A recorded payment is not enough: the money must belong to an order."""
    snap, ledger = clean(paid_shop())
    bad = patched(snap, drop=[(s.ORDERS, ORD)])
    assert fired("no-orphaned-charge", bad, ledger) == [
        Violation("no-orphaned-charge", PI, "succeeded with no local payment")
    ]


def canceled_shop() -> Wiring:
    w = open_shop()
    w.service.cancel_payment(PAY)
    return w


@pytest.mark.parametrize(
    ("status", "received", "refunded", "fires"),
    [
        ("canceled", 0, 0, False),
        ("requires_payment_method", 0, 0, True),
        ("requires_capture", 0, 0, True),
        ("processing", 0, 0, True),
        ("succeeded", MUG, 0, True),
        ("succeeded", MUG, MUG - 1, True),
        ("succeeded", MUG, MUG, False),
    ],
)
def test_closed_order_not_chargeable_fires_on_live_intent_of_canceled_order(
    status: str, received: int, refunded: int, fires: bool
) -> None:
    """A canceled order's recorded intent must be canceled, or refunded in full."""
    snap, ledger = clean(canceled_shop())
    ledger = with_refunds(
        with_intents(ledger, intent(ledger, PI, status=status, amount_received=received)),
        RefundView("re_x", PI, refunded, "succeeded"),
    )
    want = Violation("closed-order-not-chargeable", ORD, f"intent {PI} is {status}")
    assert fired("closed-order-not-chargeable", snap, ledger) == ([want] if fires else [])


def test_closed_order_not_chargeable_ignores_unrecorded_intents() -> None:
    """An unrecorded live intent of a canceled order is an orphan, not this invariant's."""
    snap, ledger = clean(canceled_shop())
    ledger = with_intents(ledger, extra_intent(status="requires_payment_method", order_id=ORD))
    assert fired("closed-order-not-chargeable", snap, ledger) == []


PAID_LIKE = [
    OrderStatus.PAID,
    OrderStatus.PARTIALLY_REFUNDED,
    OrderStatus.REFUNDED,
    OrderStatus.OUT_OF_STOCK,
]


def order_payment_cases() -> list[tuple[OrderStatus, PaymentStatus, list[str]]]:
    """Every (order, payment) status pair and the details it must report."""
    cases = []
    for o in OrderStatus:
        for p in PaymentStatus:
            want = []
            if o in PAID_LIKE and p is not PaymentStatus.SUCCEEDED:
                want.append(f"{o.value} but payment {p.value}")
            if o is OrderStatus.CANCELED and p not in ("canceled", "failed"):
                want.append(f"canceled but payment {p.value}")
            if o is OrderStatus.PENDING and p in ("canceled", "failed"):
                want.append(f"pending but payment {p.value}")
            if o is OrderStatus.PENDING and p is PaymentStatus.SUCCEEDED:
                want.append("payment succeeded but order pending")
            cases.append((o, p, want))
    return cases


@pytest.mark.parametrize(("order", "payment", "details"), order_payment_cases())
def test_order_matches_payment_for_every_status_pair(
    order: OrderStatus, payment: PaymentStatus, details: list[str]
) -> None:
    """Paid-like orders need a succeeded payment, canceled ones a dead one, pending a live one."""
    snap, ledger = clean(open_shop())
    bad = patched(
        snap, row(snap, s.ORDERS, ORD, status=order), row(snap, s.PAYMENTS, PAY, status=payment)
    )
    assert fired("order-matches-payment", bad, ledger) == [
        Violation("order-matches-payment", ORD, d) for d in details
    ]


def test_order_matches_payment_skips_orders_without_payment_and_goes_on() -> None:
    """An order without payment is another invariant's; the orders after it are still checked."""
    snap, ledger = clean(open_shop(SESSION, SESSION_2))
    bad = patched(
        snap, row(snap, s.ORDERS, ORD2, status=OrderStatus.PAID), drop=[(s.PAYMENTS, PAY)]
    )
    assert fired("order-matches-payment", bad, ledger) == [
        Violation("order-matches-payment", ORD2, "paid but payment open")
    ]


def test_amount_matches_order_fires_on_payment_amount_differing_from_total() -> None:
    """The payment must ask exactly the order's total (S12: a price change cannot leak in)."""
    snap, ledger = clean(open_shop())
    bad = patched(snap, row(snap, s.PAYMENTS, PAY, amount=Money(MUG - 1, "EUR")))
    ledger = with_intents(ledger, intent(ledger, PI, amount=MUG - 1))
    assert fired("amount-matches-order", bad, ledger) == [
        Violation("amount-matches-order", PAY, "payment 12.49 EUR, order 12.50 EUR")
    ]


@pytest.mark.parametrize(("amount", "currency"), [(MUG + 1, "EUR"), (MUG, "USD")])
def test_intent_amount_matches_payment_fires_on_intent_asking_another_amount(
    amount: int, currency: str
) -> None:
    """The provider intent must ask the payment's amount in the payment's currency."""
    snap, ledger = clean(open_shop())
    ledger = with_intents(ledger, intent(ledger, PI, amount=amount, currency=currency))
    assert fired("intent-amount-matches-payment", snap, ledger) == [
        Violation(
            "intent-amount-matches-payment",
            PAY,
            f"intent {PI} asks {amount} {currency}, payment is 12.50 EUR",
        )
    ]


def test_amount_matches_order_skips_missing_orders_and_unrecorded_intents() -> None:
    """Without an order or a recorded intent there is nothing to compare."""
    w = make_shop()
    fid = begin_checkout(w)  # payment creating: no intent recorded yet
    snap, ledger = w.store.snapshot(), w.ledger()
    assert stored(snap, s.PAYMENTS, PAY).provider_intent_id is None
    bad = patched(snap, drop=[(s.ORDERS, ORD)])
    assert fired("amount-matches-order", bad, ledger) == []
    assert fired("intent-amount-matches-payment", snap, ledger) == []
    assert fid == CHECKOUT_FLOW


def test_success_is_durable_fires_when_a_succeeded_checkout_lost_its_payment() -> None:
    """A checkout reported as succeeded must leave its payment behind."""
    snap, ledger = clean(open_shop())
    bad = patched(snap, drop=[(s.PAYMENTS, PAY)])
    assert fired("success-is-durable", bad, ledger) == [
        Violation("success-is-durable", CHECKOUT_FLOW, "succeeded but payment missing")
    ]


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"status": PaymentStatus.CREATING}, f"creating, intent {PI}"),
        ({"provider_intent_id": None}, "open, intent None"),
    ],
)
def test_success_is_durable_fires_when_the_payment_has_no_intent(
    changes: dict[str, Any], shown: str
) -> None:
    """Succeeded means the intent is recorded: not still creating, not without an intent id."""
    snap, ledger = clean(open_shop())
    bad = patched(snap, row(snap, s.PAYMENTS, PAY, **changes))
    assert fired("success-is-durable", bad, ledger) == [
        Violation("success-is-durable", CHECKOUT_FLOW, f"succeeded but payment {shown}")
    ]


def test_success_is_durable_checks_checkouts_after_other_flows() -> None:
    """A confirm flow is skipped, and the checkouts recorded after it are still checked."""
    w = paid_shop()
    w.service.create_payment_intent(SESSION_2, [CartItem("p_mug", 1)])
    snap, ledger = clean(w)
    assert [f.kind for f in snap.rows(s.FLOWS)] == ["checkout", "confirm", "checkout"]
    bad = patched(snap, drop=[(s.PAYMENTS, PAY2)])
    assert fired("success-is-durable", bad, ledger) == [
        Violation("success-is-durable", f"checkout:{SESSION_2}", "succeeded but payment missing")
    ]


def test_success_is_durable_holds_for_running_checkouts_and_other_flows() -> None:
    """A checkout still running has no intent yet; a refund flow has no payment param."""
    w = paid_shop()
    w.service.create_refund(PAY, 100, idempotency_key="rk-3")
    begin_checkout(w, SESSION_2)
    snap, ledger = w.store.snapshot(), w.ledger()
    assert stored(snap, s.PAYMENTS, PAY2).status is PaymentStatus.CREATING
    assert fired("success-is-durable", snap, ledger) == []


# --- refunds -----------------------------------------------------------------------


def extra_refund(snap: Snapshot, amount: int, status: RefundStatus) -> Refund:
    """A second local refund of the first payment (not sent to the provider)."""
    first: Refund = row(snap, s.REFUNDS, "rf_000001")
    return attrs.evolve(
        first, id="rf_extra", amount=Money(amount, "EUR"), status=status, provider_refund_id=None
    )


@pytest.mark.parametrize(
    ("amount", "status", "total"),
    [
        (0, RefundStatus.PENDING, None),
        (1, RefundStatus.PENDING, MUG + 1),
        (1, RefundStatus.SUCCEEDED, MUG + 1),
        (5, RefundStatus.FAILED, None),
        (5, RefundStatus.CANCELED, None),
    ],
)
def test_local_refunds_within_captured_fires_one_cent_over_captured_locally(
    amount: int, status: RefundStatus, total: int | None
) -> None:
    """Pending and succeeded refunds may reach the captured amount exactly, never one cent
    more; failed or canceled ones count for nothing."""
    w = paid_shop()
    w.service.create_refund(PAY, idempotency_key="rk-4")
    snap, ledger = clean(w)
    bad = patched(snap, extra_refund(snap, amount, status))
    want = Violation(
        "local-refunds-within-captured", PAY, f"local refunds {total} > captured {MUG}"
    )
    assert fired("local-refunds-within-captured", bad, ledger) == ([] if total is None else [want])


def test_local_refunds_within_captured_counts_a_missing_payment_as_nothing_captured() -> None:
    """Refunds of a payment that is gone exceed what it captured: zero."""
    w = paid_shop()
    w.service.create_refund(PAY, 300, idempotency_key="rk-5")
    snap, _ = clean(w)
    bad = patched(snap, drop=[(s.PAYMENTS, PAY)])
    assert fired("local-refunds-within-captured", bad, Ledger()) == [
        Violation("local-refunds-within-captured", PAY, "local refunds 300 > captured 0")
    ]


@pytest.mark.parametrize(
    ("status", "over"), [("pending", True), ("succeeded", True), ("failed", False)]
)
def test_provider_refunds_within_captured_fires_on_provider_refunds_not_recorded(
    status: str, over: bool
) -> None:
    """The provider may never refund more than paycore recorded (S13: no unrecorded refund)."""
    w = paid_shop()
    w.service.create_refund(PAY, 300, idempotency_key="rk-6")
    snap, ledger = clean(w)
    ledger = with_refunds(ledger, RefundView("re_x", PI, 1, status, {"refund_id": "rf_x"}))
    want = Violation(
        "provider-refunds-within-captured", PI, "provider refunds 301 > the 300 recorded locally"
    )
    assert fired("provider-refunds-within-captured", snap, ledger) == ([want] if over else [])


def test_provider_refunds_within_captured_fires_on_a_refund_of_a_payment_never_refunded() -> None:
    """S13: a refund paycore made at the provider for a payment with no local refund at all."""
    snap, ledger = clean(paid_shop())
    ledger = with_refunds(ledger, RefundView("re_x", PI, 1, "succeeded", {"refund_id": "rf_x"}))
    assert fired("provider-refunds-within-captured", snap, ledger) == [
        Violation(
            "provider-refunds-within-captured", PI, "provider refunds 1 > the 0 recorded locally"
        )
    ]


def test_provider_refunds_within_captured_leaves_an_unseen_external_refund_alone() -> None:
    """A refund made outside paycore (no paycore metadata) and not seen yet is no safety
    violation; refunds-recorded requires it recorded once quiet."""
    snap, ledger = clean(paid_shop())
    ledger = with_refunds(ledger, RefundView("re_dash", PI, 1, "succeeded"))
    assert fired("provider-refunds-within-captured", snap, ledger) == []
    assert fired("refunds-recorded", snap, ledger) == [
        Violation(
            "refunds-recorded",
            "re_dash",
            f"succeeded refund of 1 on {PI} (payment {PAY}) is not recorded",
        )
    ]


def test_provider_refunds_within_captured_counts_recorded_external_refunds() -> None:
    """Once recorded, an external refund counts on the local side of the comparison."""
    w = paid_shop()
    snap, ledger = clean(w)
    external = Refund(
        "rf_e",
        PAY,
        ORD,
        Money(1, "EUR"),
        None,
        "external:re_dash",
        0,
        status=RefundStatus.SUCCEEDED,
        provider_refund_id="re_dash",
        external=True,
    )
    ledger = with_refunds(ledger, RefundView("re_dash", PI, 1, "succeeded"))
    assert fired("provider-refunds-within-captured", patched(snap, external), ledger) == []
    assert fired("refunds-recorded", patched(snap, external), ledger) == []


@pytest.mark.parametrize(("refunded", "fires"), [(MUG, False), (MUG + 1, True)])
def test_provider_refunds_within_captured_fires_on_provider_refunding_past_capture(
    refunded: int, fires: bool
) -> None:
    """At the provider too, an intent's refunds may reach what it captured, never exceed it."""
    snap, ledger = clean(open_shop())
    ledger = with_refunds(
        with_intents(ledger, extra_intent()), RefundView("re_x", "pi_extra", refunded, "succeeded")
    )
    want = Violation(
        "provider-refunds-within-captured",
        "pi_extra",
        f"provider refunds {refunded} > captured {MUG}",
    )
    assert fired("provider-refunds-within-captured", snap, ledger) == ([want] if fires else [])


def test_local_refunds_within_captured_reports_payments_in_order() -> None:
    """Several payments over their capture are each reported, sorted by payment id."""
    w = paid_shop(SESSION, SESSION_2)
    snap, _ = clean(w)
    bad = patched(
        snap,
        Refund("rf_b", PAY2, ORD2, Money(MUG + 2, "EUR"), None, "k2", 0),
        Refund("rf_a", PAY, ORD, Money(MUG + 1, "EUR"), None, "k1", 0),
    )
    assert fired("local-refunds-within-captured", bad, Ledger()) == [
        Violation(
            "local-refunds-within-captured", PAY, f"local refunds {MUG + 1} > captured {MUG}"
        ),
        Violation(
            "local-refunds-within-captured", PAY2, f"local refunds {MUG + 2} > captured {MUG}"
        ),
    ]


# --- exactly once ----------------------------------------------------------------


def audit(
    seq: int, aggregate: str, aggregate_id: str, frm: str | None, to: str, trig: str
) -> AuditEntry:
    return AuditEntry(seq, 0, aggregate, aggregate_id, frm, to, trig, None)


@pytest.mark.parametrize(("commits", "fires"), [(1, False), (2, True), (3, True)])
def test_effects_once_fires_on_a_reservation_committed_twice(commits: int, fires: bool) -> None:
    """Committing a reservation twice would count its stock sold twice."""
    snap, ledger = clean(paid_shop())
    again = [
        audit(100 + n, "reservation", RES, "held", "committed", "commit") for n in range(1, commits)
    ]
    other = [
        audit(200, "order", ORD, "pending", "paid", "commit"),
        audit(201, "reservation", RES, "held", "committed", "give_back"),
    ]
    bad = patched(snap, *again, *other)
    want = Violation("effects-once", RES, f"committed {commits} times")
    assert fired("effects-once", bad, ledger) == ([want] if fires else [])


def test_effects_once_reports_double_commits_sorted_by_reservation() -> None:
    """Each reservation committed twice is reported once, in id order."""
    snap, ledger = clean(paid_shop(SESSION, SESSION_2))
    bad = patched(
        snap,
        audit(100, "reservation", RES2, "held", "committed", "commit"),
        audit(101, "reservation", RES, "held", "committed", "commit"),
    )
    assert fired("effects-once", bad, ledger) == [
        Violation("effects-once", RES, "committed 2 times"),
        Violation("effects-once", RES2, "committed 2 times"),
    ]


def paid_message(order_id: str, n: int = 0) -> OutboxMessage:
    return OutboxMessage(f"{order_id}:order_paid:{n}", order_id, "order_paid", 0)


@pytest.mark.parametrize(
    ("status", "messages", "fires"),
    [
        (OrderStatus.PAID, 0, True),
        (OrderStatus.PAID, 1, False),
        (OrderStatus.PAID, 2, True),
        (OrderStatus.PARTIALLY_REFUNDED, 1, False),
        (OrderStatus.PARTIALLY_REFUNDED, 0, True),
        (OrderStatus.REFUNDED, 1, False),
        (OrderStatus.REFUNDED, 2, True),
        (OrderStatus.PENDING, 0, False),
        (OrderStatus.PENDING, 1, True),
        (OrderStatus.CANCELED, 1, True),
        (OrderStatus.OUT_OF_STOCK, 0, False),
        (OrderStatus.OUT_OF_STOCK, 1, True),
    ],
)
def test_effects_once_wants_one_paid_notification_exactly_for_paid_orders(
    status: OrderStatus, messages: int, fires: bool
) -> None:
    """The customer hears 'paid' once for a paid (or since refunded) order, never otherwise."""
    snap, ledger = clean(open_shop())
    others = OutboxMessage(f"{ORD}:refund", ORD, "refund_rf_000001", 0)
    bad = patched(
        snap,
        row(snap, s.ORDERS, ORD, status=status),
        others,
        *(paid_message(ORD, n) for n in range(messages)),
    )
    want = Violation(
        "effects-once", ORD, f"{messages} paid notifications for a {status.value} order"
    )
    assert fired("effects-once", bad, ledger) == ([want] if fires else [])


# --- state machines and audit ------------------------------------------------------


@pytest.mark.parametrize(
    ("frm", "trigger", "to"),
    [
        (None, "create", "paid"),  # created, but not in the initial state
        (None, "pay", "pending"),  # initial state, but not by creation
        ("paid", "pay", "paid"),  # trigger not allowed from the source
        ("pending", "pay", "canceled"),  # allowed trigger, wrong destination
    ],
)
def test_legal_transitions_fires_on_a_change_the_machine_forbids(
    frm: str | None, trigger: str, to: str
) -> None:
    """Every audited status change must be an edge of the order's state machine."""
    snap, ledger = clean(paid_shop())
    bad = patched(snap, audit(100, "order", ORD, frm, to, trigger))
    assert fired("legal-transitions", bad, ledger) == [
        Violation(
            "legal-transitions", f"order {ORD}", f"{frm} -{trigger}-> {to} is not in the machine"
        )
    ]


def test_audit_replays_fires_on_a_status_changed_without_audit() -> None:
    """Each audited aggregate's status must be where its audit trail leads."""
    w = paid_shop()
    w.service.create_refund(PAY, 100, idempotency_key="rk-7")
    snap, ledger = clean(w)
    bad = patched(
        snap,
        row(snap, s.ORDERS, ORD, status=OrderStatus.REFUNDED),
        row(snap, s.PAYMENTS, PAY, status=PaymentStatus.CANCELED),
        row(snap, s.RESERVATIONS, RES, status=ReservationStatus.RETURNED),
        row(snap, s.REFUNDS, "rf_000001", status=RefundStatus.FAILED),
        row(snap, s.FLOWS, CHECKOUT_FLOW, status=FlowStatus.DEAD),
    )
    assert fired("audit-replays", bad, ledger) == [
        Violation(
            "audit-replays",
            f"order {ORD}",
            "audit replays to partially_refunded, record says refunded",
        ),
        Violation(
            "audit-replays", f"payment {PAY}", "audit replays to succeeded, record says canceled"
        ),
        Violation(
            "audit-replays",
            f"reservation {RES}",
            "audit replays to committed, record says returned",
        ),
        Violation(
            "audit-replays", "refund rf_000001", "audit replays to succeeded, record says failed"
        ),
        Violation(
            "audit-replays", f"flow {CHECKOUT_FLOW}", "audit replays to succeeded, record says dead"
        ),
    ]


def test_audit_replays_fires_on_a_gap_in_the_trail_and_on_an_unaudited_row() -> None:
    """A lost audit entry breaks the chain; a row with no audit at all replays to nothing."""
    snap, ledger = clean(paid_shop())
    (pay_entry,) = [a for a in snap.rows(s.AUDIT) if a.aggregate == "order" and a.trigger == "pay"]
    stray = Reservation("ord_gone/0", ORD, "SKU-MUG", 1, 0, seller_id="s1")
    bad = patched(snap, stray, drop=[(s.AUDIT, str(pay_entry.seq))])
    assert fired("audit-replays", bad, ledger) == [
        Violation("audit-replays", f"order {ORD}", "audit replays to pending, record says paid"),
        Violation(
            "audit-replays", "reservation ord_gone/0", "audit replays to None, record says held"
        ),
    ]
    gap = patched(snap, audit(100, "order", ORD, "partially_refunded", "refunded", "refund_rest"))
    assert fired("audit-replays", gap, ledger) == [
        Violation(
            "audit-replays",
            f"order {ORD}",
            "entry 100 starts from partially_refunded, last was paid",
        ),
        Violation("audit-replays", f"order {ORD}", "audit replays to refunded, record says paid"),
    ]


def test_audit_replays_in_sequence_order_whatever_the_row_order() -> None:
    """The trail is replayed by sequence number, not by the order rows come back in."""
    snap, ledger = clean(paid_shop())
    shuffled = dict(reversed(list(snap.tables[s.AUDIT.name].items())))
    snap = Snapshot({**snap.tables, s.AUDIT.name: shuffled})
    assert fired("audit-replays", snap, ledger) == []
    assert fired("legal-transitions", snap, ledger) == []


# --- convergence -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "local"),
    [
        ("requires_payment_method", PaymentStatus.OPEN),
        ("requires_confirmation", PaymentStatus.OPEN),
        ("requires_action", PaymentStatus.REQUIRES_ACTION),
        ("processing", PaymentStatus.PROCESSING),
        ("requires_capture", PaymentStatus.PROCESSING),
        ("succeeded", PaymentStatus.SUCCEEDED),
        ("canceled", PaymentStatus.CANCELED),
    ],
)
def test_statuses_agree_maps_each_provider_status_to_one_local_status(
    provider: str, local: PaymentStatus
) -> None:
    """When quiet, each payment shows its intent's status; any other local status is a lie."""
    snap, ledger = clean(open_shop())
    ledger = with_intents(ledger, intent(ledger, PI, status=provider))
    agreeing = patched(snap, row(snap, s.PAYMENTS, PAY, status=local))
    assert fired("statuses-agree", agreeing, ledger) == []
    wrong = PaymentStatus.FAILED
    bad = patched(snap, row(snap, s.PAYMENTS, PAY, status=wrong))
    assert fired("statuses-agree", bad, ledger) == [
        Violation("statuses-agree", PAY, f"local failed, provider {provider}")
    ]


def test_statuses_agree_fires_on_refunds_out_of_step_with_the_provider() -> None:
    """A refund pending with nothing at the provider, or settled differently there, is stale."""
    w = paid_shop()
    w.service.create_refund(PAY, 100, idempotency_key="rk-8")
    snap, ledger = clean(w)
    lost = attrs.evolve(extra_refund(snap, 1, RefundStatus.PENDING), id="rf_lost")
    failed_here = attrs.evolve(extra_refund(snap, 1, RefundStatus.FAILED), id="rf_never_sent")
    bad = patched(
        snap, row(snap, s.REFUNDS, "rf_000001", status=RefundStatus.FAILED), lost, failed_here
    )
    assert fired("statuses-agree", bad, ledger) == [
        Violation("statuses-agree", "rf_000001", "local failed, provider succeeded"),
        Violation("statuses-agree", "rf_lost", "refund still pending with no provider refund"),
    ]


@pytest.mark.parametrize(
    ("status", "refunded", "fires"),
    [
        ("requires_payment_method", 0, True),
        ("processing", 0, True),
        ("succeeded", MUG - 1, True),
        ("succeeded", MUG, False),
        ("canceled", 0, False),
    ],
)
def test_no_orphaned_intent_fires_on_live_intent_nobody_records(
    status: str, refunded: int, fires: bool
) -> None:
    """When quiet, every intent that can take or kept money belongs to a recorded payment."""
    snap, ledger = clean(open_shop())
    ledger = with_refunds(
        with_intents(ledger, extra_intent(status=status)),
        RefundView("re_x", "pi_extra", refunded, "succeeded"),
    )
    want = Violation("no-orphaned-intent", "pi_extra", f"{status} and no payment records it")
    assert fired("no-orphaned-intent", snap, ledger) == ([want] if fires else [])


def test_no_orphaned_intent_checks_intents_after_a_dead_one() -> None:
    """A canceled intent is skipped; a live orphan listed after it is still reported."""
    snap, ledger = clean(canceled_shop())
    ledger = with_intents(ledger, extra_intent(status="requires_capture", received=0))
    assert [v.id for v in ledger.intents] == [PI, "pi_extra"]
    assert fired("no-orphaned-intent", snap, ledger) == [
        Violation("no-orphaned-intent", "pi_extra", "requires_capture and no payment records it")
    ]


@pytest.mark.parametrize(("after_expiry", "fires"), [(-1, False), (0, True), (1, True)])
def test_no_stale_hold_fires_from_the_expiry_instant(after_expiry: int, fires: bool) -> None:
    """A hold is stale at its expiry exactly (the janitor expires it then), not a ms before."""
    w = open_shop()
    res = w.store.snapshot().get(s.RESERVATIONS, RES)
    assert res is not None
    w.clock.advance(res.expires_at + after_expiry - w.clock.now())
    snap, ledger = w.store.snapshot(), w.ledger()
    want = Violation("no-stale-hold", RES, "held past expiry, payment open")
    assert fired("no-stale-hold", snap, ledger) == ([want] if fires else [])


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"status": PaymentStatus.PROCESSING}, None),
        ({"status": PaymentStatus.REQUIRES_ACTION}, "requires_action"),
        ({"status": PaymentStatus.CANCELED}, "canceled"),
    ],
)
def test_no_stale_hold_spares_only_processing_payments(
    changes: dict[str, Any], shown: str | None
) -> None:
    """A processing payment may still succeed after expiry; any other keeps no stale hold."""
    w = open_shop()
    w.clock.advance(w.service.config.reservation_ttl_ms)
    snap, ledger = w.store.snapshot(), w.ledger()
    bad = patched(snap, row(snap, s.PAYMENTS, PAY, **changes))
    want = Violation("no-stale-hold", RES, f"held past expiry, payment {shown}")
    assert fired("no-stale-hold", bad, ledger) == ([] if shown is None else [want])


def test_no_stale_hold_names_a_missing_payment_and_skips_settled_reservations() -> None:
    """A held reservation whose payment is gone is stale too; committed ones never are, and
    the reservations after them are still checked."""
    w = open_shop(SESSION, SESSION_2)
    w.service.confirm_payment(PAY, "pm_card_visa")
    w.clock.advance(w.service.config.reservation_ttl_ms)
    snap, ledger = w.store.snapshot(), w.ledger()
    assert stored(snap, s.RESERVATIONS, RES).status is ReservationStatus.COMMITTED
    assert fired("no-stale-hold", snap, ledger) == [
        Violation("no-stale-hold", RES2, "held past expiry, payment open")
    ]
    bad = patched(snap, drop=[(s.PAYMENTS, PAY2)])
    assert fired("no-stale-hold", bad, ledger) == [
        Violation("no-stale-hold", RES2, "held past expiry, payment ?")
    ]
    gone = patched(snap, drop=[(s.ORDERS, ORD2)])
    assert fired("no-stale-hold", gone, ledger) == [
        Violation("no-stale-hold", RES2, "held past expiry, payment ?")
    ]
    assert fired("no-stale-hold", snap, attrs.evolve(ledger, now=None)) == []


def test_no_stale_hold_checks_holds_after_a_processing_one() -> None:
    """A processing payment's hold is spared; the stale hold stored after it is not."""
    w = open_shop(SESSION, SESSION_2)
    w.clock.advance(w.service.config.reservation_ttl_ms)
    snap, ledger = w.store.snapshot(), w.ledger()
    bad = patched(snap, row(snap, s.PAYMENTS, PAY, status=PaymentStatus.PROCESSING))
    assert fired("no-stale-hold", bad, ledger) == [
        Violation("no-stale-hold", RES2, "held past expiry, payment open")
    ]


def test_flows_finished_fires_on_active_and_dead_flows_only() -> None:
    """When quiet, a flow still active or dead-lettered is work left undone."""
    w = paid_shop()
    fid = begin_checkout(w, SESSION_2)
    snap, ledger = w.store.snapshot(), w.ledger()
    dead = row(snap, s.FLOWS, CHECKOUT_FLOW, status=FlowStatus.DEAD, last_error="boom")
    failed = row(snap, s.FLOWS, f"confirm:{PAY}:1", status=FlowStatus.FAILED)
    bad = patched(snap, dead, failed)
    step = row(snap, s.FLOWS, fid).step
    assert fired("flows-finished", bad, ledger) == [
        Violation("flows-finished", CHECKOUT_FLOW, f"dead at step {dead.step}: boom"),
        Violation("flows-finished", fid, f"active at step {step}: None"),
    ]


# --- identity: the intent a payment records is its own ------------------------------------


@pytest.mark.parametrize(
    ("meta", "wrong"),
    [
        ({INST_KEY: "inst_another_store"}, INST_KEY),
        ({REF_KEY: "pref_another_payment"}, REF_KEY),
        ({"payment_id": PAY2}, "payment_id"),
        ({"order_id": ORD2}, "order_id"),
        ({"checkout_session_id": SESSION_2}, "checkout_session_id"),
    ],
)
def test_intent_is_the_payments_fires_on_another_payments_intent(
    meta: dict[str, str], wrong: str
) -> None:
    """A recorded intent made by another store, or for another payment, order or session."""
    snap, ledger = clean(open_shop())
    mine = intent(ledger, PI)
    ledger = with_intents(ledger, attrs.evolve(mine, metadata={**mine.metadata, **meta}))
    assert fired("intent-is-the-payments", snap, ledger) == [
        Violation("intent-is-the-payments", PAY, f"intent {PI} differs from the payment in {wrong}")
    ]


@pytest.mark.parametrize(("amount", "currency"), [(MUG - 1, "EUR"), (MUG, "USD")])
def test_intent_is_the_payments_fires_on_another_amount_or_currency(
    amount: int, currency: str
) -> None:
    """The 899.00 EUR order paid through a 1.50 EUR intent: the amounts differ."""
    snap, ledger = clean(open_shop())
    ledger = with_intents(ledger, intent(ledger, PI, amount=amount, currency=currency))
    assert fired("intent-is-the-payments", snap, ledger) == [
        Violation("intent-is-the-payments", PAY, f"intent {PI} differs from the payment in amount")
    ]


def test_intent_is_the_payments_holds_for_lowercase_currency_and_unrecorded_intents() -> None:
    """Stripe spells currencies in lower case; a payment still creating records nothing."""
    snap, ledger = clean(open_shop())
    ledger = with_intents(ledger, intent(ledger, PI, currency="eur"))
    assert fired("intent-is-the-payments", snap, ledger) == []
    w = make_shop()
    begin_checkout(w)
    assert fired("intent-is-the-payments", w.store.snapshot(), w.ledger()) == []


@pytest.mark.parametrize("status", ["succeeded", "requires_payment_method"])
def test_intents_paycore_never_made_are_not_counted(status: str) -> None:
    """Another store's intent, an invoice or a link holding money is not an orphan here, and
    their colliding session or order ids do not count against this store's orders."""
    snap, ledger = clean(open_shop())
    theirs = [
        IntentView("pi_inv", status, MUG, "EUR", MUG, 0, {"invoice": "in_1"}),
        IntentView(
            "pi_other",
            status,
            MUG * 9,
            "EUR",
            MUG * 9,
            0,
            {INST_KEY: "inst_another", "checkout_session_id": SESSION, "order_id": ORD},
        ),
    ]
    assert inv.check(snap, with_intents(ledger, *theirs), BOTH) == []
    mine = attrs.evolve(theirs[1], metadata={**theirs[1].metadata, INST_KEY: INSTALLATION})
    assert {v.invariant for v in inv.check(snap, with_intents(ledger, mine), BOTH)} >= {
        "one-live-intent-per-session" if status != "succeeded" else "no-double-charge"
    }


def test_foreign_left_alone_fires_on_paycores_refund_of_an_intent_it_did_not_make() -> None:
    """A refund carrying this installation's id on an invoice's intent; anyone else's
    refund of it, and paycore's refund of its own intent, are fine."""
    snap, ledger = clean(paid_shop())
    invoice = IntentView("pi_inv", "succeeded", MUG, "EUR", MUG, 0, {"invoice": "in_1"})
    ours = {INST_KEY: INSTALLATION}
    by_paycore = RefundView("re_bad", "pi_inv", 100, "succeeded", ours)
    by_dashboard = RefundView("re_dash", "pi_inv", 100, "succeeded", {})
    ledger = with_intents(ledger, invoice)
    assert fired("foreign-left-alone", snap, with_refunds(ledger, by_dashboard)) == []
    assert fired("foreign-left-alone", snap, with_refunds(ledger, by_paycore)) == [
        Violation("foreign-left-alone", "pi_inv", "refund re_bad of 100 by paycore")
    ]


@pytest.mark.parametrize(
    ("status", "installation", "fires"),
    [
        ("succeeded", INSTALLATION, True),
        ("pending", INSTALLATION, True),
        ("failed", INSTALLATION, False),
        ("canceled", INSTALLATION, False),
        ("succeeded", "another-installation", False),
    ],
)
def test_one_provider_refund_per_refund_fires_on_a_second_live_provider_refund(
    status: str, installation: str, fires: bool
) -> None:
    """A local refund made twice at the provider is money returned twice, even when the
    second is recorded (as an external refund) and the books balance; a failed or
    canceled second attempt, or another installation's refund, is not."""
    w = paid_shop()
    w.service.create_refund(PAY, 300, idempotency_key="rk-twice")
    snap, ledger = clean(w)
    (first,) = [r for r in ledger.refunds if r.intent_id == PI]
    meta = {**first.metadata, INST_KEY: installation}
    again = RefundView("re_again", PI, 300, status, meta)
    want = Violation(
        "one-provider-refund-per-refund",
        first.metadata["refund_id"],
        f"provider refunds {', '.join(sorted([first.id, 're_again']))}",
    )
    got = fired("one-provider-refund-per-refund", snap, with_refunds(ledger, again))
    assert got == ([want] if fires else [])
