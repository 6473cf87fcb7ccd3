"""The provider's books over a window (``paycore_adapters.provider_books``): the intents
created within it, and the refunds of those that took money, every page of each."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
from tests.support import make_shop

from paycore import invariants
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.invariants import Ledger
from paycore.invariants.common import INSTALLATION_KEY, installation
from paycore.money import Money
from paycore.ports import CreateIntent, PaymentProvider
from paycore_adapters.cli_check import run_checks, run_confirmed
from paycore_adapters.memory import Wiring
from paycore_adapters.provider_books import WINDOWED, window_ledger

HOUR = 3_600_000


class Counting:
    """The provider, with its list calls counted by name."""

    def __init__(self, inner: PaymentProvider) -> None:
        self.inner, self.calls = inner, Counter[str]()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("list_"):
            self.calls[name] += 1
        return getattr(self.inner, name)


def paid(w: Wiring, i: int) -> str:
    res = w.service.create_payment_intent(f"cs_books_paid_{i:04d}", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    return res.payment_id


def intent_of(w: Wiring, payment_id: str) -> str:
    intent = w.service.payment(payment_id).provider_intent_id
    assert intent is not None
    return intent


def test_the_window_holds_its_intents_and_every_refund_of_those_that_took_money() -> None:
    w = make_shop(stock=20)
    old = paid(w, 0)
    w.service.create_refund(old, 300, idempotency_key="r-old")
    w.clock.advance(3 * HOUR)
    recent = paid(w, 1)
    for n in range(12):  # more than one page of the fake's refunds (10 by default)
        w.service.create_refund(recent, 10, idempotency_key=f"r-{n}")
    unpaid = w.service.create_payment_intent("cs_books_open_0001", [CartItem("p_mug", 1)])
    provider = Counting(w.provider)
    ledger = window_ledger(provider, w.clock.now() - 2 * HOUR, w.clock.now(), connect=True)  # type: ignore[arg-type]
    assert {v.id for v in ledger.intents} == {
        intent_of(w, recent),
        intent_of(w, unpaid.payment_id),
    }
    assert len(ledger.refunds) == 12
    assert {r.intent_id for r in ledger.refunds} == {intent_of(w, recent)}
    assert ledger.refunded(intent_of(w, recent)) == 120
    assert (ledger.now, ledger.connect) == (w.clock.now(), True)
    # One listing of the window, and the refunds of the charged intent only.
    assert provider.calls["list_intents"] == 1
    assert provider.calls["list_refunds"] >= 1


def test_an_intent_that_took_no_money_is_not_asked_for_refunds() -> None:
    w = make_shop()
    w.service.create_payment_intent("cs_books_open_0001", [CartItem("p_mug", 1)])
    provider = Counting(w.provider)
    ledger = window_ledger(provider, w.clock.now() - HOUR, w.clock.now(), connect=False)  # type: ignore[arg-type]
    assert [v.status for v in ledger.intents] == ["requires_payment_method"]
    assert (ledger.refunds, provider.calls["list_refunds"]) == ([], 0)
    assert ledger.connect is False


def test_a_bank_debit_still_processing_is_asked_for_its_refunds() -> None:
    """A refund of a debit that has not settled waits on its charge (``pending_reason``
    charge_pending): the debit took no money yet, and its refund is in the books."""
    w = make_shop()
    res = w.service.create_payment_intent("cs_books_debit_0001", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_successDelayed_de")
    intent = intent_of(w, res.payment_id)
    made = w.provider.create_refund(  # from the dashboard
        intent, amount=500, reason=None, metadata={}, idempotency_key="dashboard-1"
    )
    ledger = window_ledger(w.provider, w.clock.now() - HOUR, w.clock.now(), connect=True)
    (debit,) = ledger.intents
    assert (debit.status, debit.amount_received) == ("processing", 0)
    assert [r.id for r in ledger.refunds] == [made.id]


def safety() -> list[invariants.Invariant]:
    return [i for i in invariants.INVARIANTS if i.kind in WINDOWED]


def test_books_read_before_the_store_moved_on_are_not_a_violation() -> None:
    """The books are read while a checkout's intent is live; then the customer cancels
    (the intent first, then the order), then the snapshot is taken. Against the books
    of before, the canceled order has a live intent; against the books read again, it
    has not: nothing is reported."""
    w = make_shop()
    res = w.service.create_payment_intent("cs_books_cancel_01", [CartItem("p_mug", 1)])

    def read() -> Ledger:
        return window_ledger(w.provider, w.clock.now() - HOUR, w.clock.now(), connect=True)

    before = read()
    w.service.cancel_payment(res.payment_id)
    snap = w.store.snapshot()
    stale, _ = run_checks(snap, before, safety(), WINDOWED)
    assert [v.invariant for v in stale] == ["closed-order-not-chargeable"]  # the race
    found, unchecked = run_confirmed(snap, before, safety(), WINDOWED, read)
    assert (found, unchecked) == ([], [])


def test_a_violation_that_holds_on_both_sides_of_the_snapshot_is_reported() -> None:
    """A charge of this installation that no payment records, at the provider before
    and after the snapshot: reported once."""
    w = make_shop()
    paid(w, 0)
    snap = w.store.snapshot()
    mine = installation(snap)
    assert mine is not None
    stray = w.provider.create_intent(
        CreateIntent(Money(900, "EUR"), "acct_1", {INSTALLATION_KEY: mine}),
        idempotency_key="stray-1",
    )
    w.provider.confirm_intent(
        stray.id, payment_method="pm_card_visa", return_url=None, idempotency_key="s-1"
    )
    reads: list[int] = []

    def read() -> Ledger:
        reads.append(1)
        return window_ledger(w.provider, w.clock.now() - HOUR, w.clock.now(), connect=True)

    found, _ = run_confirmed(snap, read(), safety(), WINDOWED, read)
    assert [(v.invariant, v.subject) for v in found] == [("no-orphaned-charge", stray.id)]
    assert len(reads) == 2  # read again once, for the confirmation


def test_with_nothing_found_the_books_are_not_read_again() -> None:
    w = make_shop()
    paid(w, 0)

    def never() -> Ledger:
        raise AssertionError("read again with nothing to confirm")

    ledger = window_ledger(w.provider, w.clock.now() - HOUR, w.clock.now(), connect=True)
    found, _ = run_confirmed(w.store.snapshot(), ledger, safety(), WINDOWED, never)
    assert found == []


def test_a_violation_of_the_store_alone_stands_without_reading_the_books_again() -> None:
    """An operator's bad hand edit commits more mugs than were ever on hand: a
    store-only invariant names it, and the books are not read again for it."""
    w = make_shop()
    paid(w, 0)
    with w.store.transaction() as tx:
        mug = tx.get(s.STOCK, "s1/SKU-MUG")
        assert mug is not None
        bad = attrs.evolve(mug, committed=mug.on_hand + 5, version=mug.version + 1)
        tx.update(s.STOCK, bad)

    def never() -> Ledger:
        raise AssertionError("the books read again for a violation of the store alone")

    ledger = window_ledger(w.provider, w.clock.now() - HOUR, w.clock.now(), connect=True)
    found, _ = run_confirmed(w.store.snapshot(), ledger, safety(), WINDOWED, never)
    assert "no-oversell" in {v.invariant for v in found}
