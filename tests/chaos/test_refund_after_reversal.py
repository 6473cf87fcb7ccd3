"""Refunding again after the bank reversed a refund.

A refund that succeeded can be sent back by the bank (``refund.failed`` after
``succeeded``). The order keeps its status (``refunded``), the payment's refunded amount
goes back down, and the shop is told. Refunding again must then work as for any paid
order: a refund with ``restock=True`` puts back the units the order still holds
committed (the restock is decided by the order's committed reservations, not its
status), and the refund that covers everything again tells the shop.
"""

from __future__ import annotations

import pytest
from tests.support import converged, deliver_webhooks, make_shop, mug

from paycore import errors as err
from paycore.flows.checkout import CartItem
from paycore.status import OrderStatus, RefundStatus
from paycore_adapters.memory import Wiring


def paid(w: Wiring, qty: int = 2) -> tuple[str, str]:
    res = w.service.create_payment_intent("cs_test_0000000001", [CartItem("p_mug", qty)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    deliver_webhooks(w)
    return res.order_id, res.payment_id


def reversed_refund(w: Wiring, pid: str, *, restock: bool = False) -> None:
    """A full refund succeeds, then the bank sends it back."""
    w.service.create_refund(pid, None, None, "rma-1", restock=restock)
    (first,) = w.service.refunds_of(pid)
    assert first.status is RefundStatus.SUCCEEDED and first.provider_refund_id is not None
    w.provider.fail_refund(first.provider_refund_id)
    deliver_webhooks(w)


def test_a_refund_with_restock_after_a_reversal_puts_the_committed_units_back() -> None:
    w = make_shop(stock=5)
    oid, pid = paid(w)
    reversed_refund(w, pid)
    assert w.service.order(oid).status is OrderStatus.REFUNDED  # type: ignore[union-attr]
    assert mug(w) == (5, 0, 2)  # the two units are still committed
    w.notifier.delivered.clear()
    again = w.service.create_refund(pid, None, None, "rma-2", restock=True)
    assert again.status == "succeeded"
    assert mug(w) == (5, 0, 0)
    payment = w.service.payment(pid)
    assert payment.amount_refunded == payment.amount_received == 2500
    kinds = sorted(m.kind for m in w.notifier.delivered.values())
    assert kinds == [f"refund_{again.refund_id}"]
    (told,) = w.notifier.delivered.values()
    assert told.payload == {"amount": 2500, "refunded_in_full": True}
    converged(w)


def test_a_refund_without_restock_after_a_reversal_tells_the_shop() -> None:
    w = make_shop(stock=5)
    _, pid = paid(w)
    reversed_refund(w, pid)
    w.notifier.delivered.clear()
    again = w.service.create_refund(pid, None, None, "rma-2")
    assert again.status == "succeeded"
    assert mug(w) == (5, 0, 2)  # the goods stay sold
    assert [m.kind for m in w.notifier.delivered.values()] == [f"refund_{again.refund_id}"]
    converged(w)


def test_a_part_refund_after_a_reversal_then_the_rest_with_restock() -> None:
    w = make_shop(stock=5)
    oid, pid = paid(w)
    reversed_refund(w, pid)
    part = w.service.create_refund(pid, 1000, None, "rma-2")
    assert part.status == "succeeded"
    with pytest.raises(err.RestockNotPossible):  # restock goes with all that is left
        w.service.create_refund(pid, 500, None, "rma-3", restock=True)
    rest = w.service.create_refund(pid, None, None, "rma-4", restock=True)
    assert (rest.amount, rest.status) == (1500, "succeeded")
    assert mug(w) == (5, 0, 0)
    assert w.service.order(oid).status is OrderStatus.REFUNDED  # type: ignore[union-attr]
    converged(w)


def test_after_a_reversed_restock_refund_a_restock_is_refused() -> None:
    """The restock refund put the units back on sale; the bank then sent its money back.
    The order holds no committed units any more: a second restock is refused (the units
    are not put back twice), and a refund without restock goes through."""
    w = make_shop(stock=5)
    oid, pid = paid(w)
    reversed_refund(w, pid, restock=True)
    assert mug(w) == (5, 0, 0)
    with pytest.raises(err.RestockNotPossible) as caught:
        w.service.create_refund(pid, None, None, "rma-2", restock=True)
    assert caught.value.message == (
        f"order {oid} is refunded: it holds no sold stock to put back; refund without restock"
    )
    assert w.service.create_refund(pid, None, None, "rma-3").status == "succeeded"
    assert mug(w) == (5, 0, 0)
    converged(w)
