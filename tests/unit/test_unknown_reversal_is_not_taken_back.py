"""``charge-pays-the-seller`` exempts a charge no payment records, refunded in full,
only when each refund is known to have taken its transfer back. A refund whose reversal
is not known (``transfer_reversed`` None: the Stripe adapter under ``connect=False``, or
an adapter that does not read the field) may have left the money with the account the
charge paid, so the clone is still reported."""

from __future__ import annotations

import attrs
from tests.chaos.test_cloned_intent import INVARIANT, shop_and_clone
from tests.support import make_shop

from paycore.invariants import check
from paycore.invariants.registry import Ledger
from paycore_adapters.memory import Wiring


def refunded_clone(reverse_transfer: bool) -> tuple[Wiring, str]:
    w = make_shop()
    _, clone = shop_and_clone(w)
    w.provider.inner.create_refund(
        clone.id,
        amount=clone.amount_received,
        reason=None,
        metadata={},
        idempotency_key="dash-1",
        reverse_transfer=reverse_transfer,
    )
    return w, clone.id


def reported(w: Wiring, ledger: Ledger, intent_id: str) -> bool:
    found = check(w.store.snapshot(), ledger, ("safety",))
    return any(v.invariant == INVARIANT and v.subject == intent_id for v in found)


def unknown(ledger: Ledger) -> Ledger:
    """The same books as an adapter that does not know the reversals reads them."""
    refunds = tuple(attrs.evolve(r, transfer_reversed=None) for r in ledger.refunds)
    return attrs.evolve(ledger, refunds=refunds, connect=False)


def test_a_refund_whose_reversal_is_unknown_keeps_the_clone_reported() -> None:
    w, intent_id = refunded_clone(reverse_transfer=False)
    assert reported(w, w.ledger(), intent_id)  # known: not reversed
    assert reported(w, unknown(w.ledger()), intent_id)  # not known: not taken as reversed


def test_a_clone_refunded_with_its_transfer_taken_back_is_exempt() -> None:
    w, intent_id = refunded_clone(reverse_transfer=True)
    assert not reported(w, w.ledger(), intent_id)
    # Even taken back, a refund the books cannot vouch for leaves it reported.
    assert reported(w, unknown(w.ledger()), intent_id)
