"""``Ledger`` indexes the provider's refunds by intent once: the checks that ask for one
intent's refunds per intent cost one walk of the refunds, not one walk per intent."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import attrs
from hypothesis import given
from hypothesis import strategies as st
from tests.support import SESSION, SESSION_2, make_shop

from paycore.flows.checkout import CartItem
from paycore.invariants import INVARIANTS, Ledger
from paycore.ports import REFUND_LIVE, RefundView

STATUSES = ["pending", "requires_action", "succeeded", "failed", "canceled"]

refund_views = st.builds(
    RefundView,
    id=st.text("abc", min_size=1, max_size=3),
    intent_id=st.sampled_from(["pi_1", "pi_2", "pi_3"]),
    amount=st.integers(0, 5000),
    status=st.sampled_from(STATUSES),
)


def walked(refunds: Sequence[RefundView], intent_id: str, statuses: set[str]) -> int:
    """The sum as ``Ledger.refunded`` made it before the index: a walk of every refund."""
    return sum(r.amount for r in refunds if r.intent_id == intent_id and r.status in statuses)


@given(
    refunds=st.lists(refund_views, max_size=30),
    asked=st.lists(
        st.tuples(
            st.sampled_from(["pi_1", "pi_2", "pi_3", "pi_none"]),
            st.one_of(st.none(), st.sets(st.sampled_from(STATUSES))),
        ),
        max_size=8,
    ),
)
def test_refunded_answers_as_a_walk_of_every_refund_does(
    refunds: list[RefundView], asked: list[tuple[str, set[str] | None]]
) -> None:
    ledger = Ledger(refunds=refunds)
    for intent_id, statuses in asked:
        if statuses is None:
            assert ledger.refunded(intent_id) == walked(refunds, intent_id, set(REFUND_LIVE))
        else:
            assert ledger.refunded(intent_id, statuses) == walked(refunds, intent_id, statuses)
        mine = [r for r in refunds if r.intent_id == intent_id]
        assert list(ledger.refunds_of(intent_id)) == mine  # in the books' order


class Counted(Sequence[RefundView]):
    """The provider's refunds, counting the walks over them."""

    def __init__(self, items: Sequence[RefundView]) -> None:
        self.items = list(items)
        self.walks = 0

    def __iter__(self) -> Iterator[RefundView]:
        self.walks += 1
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, i: int) -> RefundView: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[RefundView]: ...
    def __getitem__(self, i: int | slice) -> RefundView | Sequence[RefundView]:
        self.walks += 1  # an index walk counts too
        return self.items[i]


PER_INTENT = [
    "one-live-intent-per-session",
    "no-double-charge",
    "no-orphaned-charge",
    "closed-order-not-chargeable",
    "provider-refunds-within-captured",
    "no-orphaned-intent",
]


def test_the_checks_walk_the_refunds_once_however_many_intents() -> None:
    """Three paid orders, one refunded, and one canceled: each check that asks for each
    intent's refunds walks the provider's refunds at most once (before: once per intent)."""
    w = make_shop()
    for n, session in enumerate([SESSION, SESSION_2, "cs_test_0000000003", "cs_test_0000000004"]):
        res = w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
        if n == 3:
            w.service.cancel_payment(res.payment_id)
        else:
            w.service.confirm_payment(res.payment_id, "pm_card_visa")
    w.service.create_refund("pay_000001", 500, idempotency_key="rk-1")
    base = w.ledger()
    assert len(base.intents) == 4 and len(base.refunds) == 1
    snap = w.store.snapshot()
    for inv in INVARIANTS:
        if inv.id not in PER_INTENT:
            continue
        refunds = Counted(base.refunds)
        ledger = attrs.evolve(base, refunds=refunds)
        assert inv.check(snap, ledger) == []
        assert refunds.walks <= 1, inv.id  # none when no intent asked (nothing refunded)
    assert {i.id for i in INVARIANTS} >= set(PER_INTENT)


def test_the_index_is_built_once_per_ledger() -> None:
    refunds = Counted([RefundView(f"re_{n}", f"pi_{n % 7}", 10, "succeeded") for n in range(50)])
    ledger = Ledger(refunds=refunds)
    assert sum(ledger.refunded(f"pi_{n}") for n in range(7)) == 500
    assert sum(len(ledger.refunds_of(f"pi_{n}")) for n in range(7)) == 50
    assert refunds.walks == 1
    assert ledger == Ledger(refunds=refunds)  # the index is no part of the books' value
