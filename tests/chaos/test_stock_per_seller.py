"""Stock belongs to a seller, and goods go back on sale only when the caller says they
came back (issue 7, item 12).

Two sellers of a marketplace list the same SKU: each sells only its own units. A
refund returns money; it puts the order's goods back on sale only with
``restock=True`` on the refund that ends the order.
"""

from __future__ import annotations

import attrs
import pytest
from tests.support import SESSION, SESSION_2, converged, deliver_webhooks, make_shop, safe

from paycore import errors as err
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.records import Stock, stock_key
from paycore.service import CheckoutResult
from paycore.status import OrderStatus, RefundStatus
from paycore.status import ReservationStatus as RS
from paycore_adapters.memory import Wiring

MINUTE = 60_000


def counters(w: Wiring, seller: str, sku: str) -> tuple[int, int, int] | None:
    """(on hand, held, committed) of ``seller``'s ``sku``; None when it has no row."""
    row = w.store.snapshot().get(s.STOCK, stock_key(seller, sku))
    return None if row is None else (row.on_hand, row.held, row.committed)


def two_sellers(stock_a: int = 3, stock_b: int = 0) -> Wiring:
    """Sellers s1 (the conftest shop) and s2 both list SKU-MUG."""
    w = make_shop(stock=stock_a)
    w.provider.set_account("acct_2", can_charge=True)
    w.service.add_seller("s2", "Other Mugs", "acct_2")
    w.service.add_product("p_mug_b", "s2", "SKU-MUG", "Mug (s2)", Money(1100, "EUR"))
    if stock_b:
        w.service.restock("s2", "SKU-MUG", stock_b)
    return w


def paid(w: Wiring, qty: int = 1, session: str = SESSION) -> tuple[str, str]:
    res = w.service.create_payment_intent(session, [CartItem("p_mug", qty)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    return res.order_id, res.payment_id


def snapshot_tables(w: Wiring) -> list[list[object]]:
    snap = w.store.snapshot()
    return [snap.rows(t) for t in (s.ORDERS, s.RESERVATIONS, s.STOCK, s.REFUNDS, s.FLOWS)]


class TestStockPerSeller:
    def test_seller_b_does_not_sell_seller_a_units_of_the_same_sku(self) -> None:
        """s1 has 3 mugs, s2 none: a checkout of s2's mug is out of stock, s1's untouched."""
        w = two_sellers(stock_a=3, stock_b=0)
        with pytest.raises(err.OutOfStock) as caught:
            w.service.create_payment_intent(SESSION, [CartItem("p_mug_b", 1)])
        assert caught.value.fields["seller_id"] == "s2"
        assert counters(w, "s1", "SKU-MUG") == (3, 0, 0)
        assert counters(w, "s2", "SKU-MUG") is None
        assert not w.store.snapshot().rows(s.ORDERS)
        safe(w)

    def test_each_seller_sells_its_own_units(self) -> None:
        """With units at both, each checkout holds and commits its own seller's stock."""
        w = two_sellers(stock_a=1, stock_b=2)
        a = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        b = w.service.create_payment_intent(SESSION_2, [CartItem("p_mug_b", 2)])
        assert counters(w, "s1", "SKU-MUG") == (1, 1, 0)
        assert counters(w, "s2", "SKU-MUG") == (2, 2, 0)
        w.service.confirm_payment(b.payment_id, "pm_card_visa")
        assert counters(w, "s2", "SKU-MUG") == (2, 0, 2)
        with pytest.raises(err.OutOfStock):  # s1's last mug is held; s2's are not lent
            w.service.create_payment_intent("cs_test_0000000003", [CartItem("p_mug", 1)])
        w.service.cancel_payment(a.payment_id)
        assert counters(w, "s1", "SKU-MUG") == (1, 0, 0)
        converged(w)

    def test_restock_and_adjust_reach_one_seller_only(self) -> None:
        """Restocking s2's SKU-MUG leaves s1's count as it was."""
        w = two_sellers(stock_a=3, stock_b=0)
        w.service.restock("s2", "SKU-MUG", 4)
        w.service.adjust_stock("s2", "SKU-MUG", -1, "broken")
        assert counters(w, "s1", "SKU-MUG") == (3, 0, 0)
        assert counters(w, "s2", "SKU-MUG") == (3, 0, 0)
        safe(w)

    @pytest.mark.parametrize(
        ("seller", "sku", "error"),
        [
            ("s1", "SKU-NEW", err.StockItemNotFound),  # the seller has no such product
            ("s2", "SKU-TEE", err.StockItemNotFound),  # another seller's SKU
            ("s9", "SKU-MUG", err.SellerNotFound),
        ],
    )
    def test_restock_of_an_unknown_item_is_refused(
        self, seller: str, sku: str, error: type[err.PaycoreError]
    ) -> None:
        """Restocking never creates a stock item: a typed error and no change."""
        w = two_sellers()
        before = snapshot_tables(w)
        with pytest.raises(error):
            w.service.restock(seller, sku, 5)
        with pytest.raises(error):
            w.service.adjust_stock(seller, sku, 5, "count")
        assert snapshot_tables(w) == before
        assert counters(w, seller, sku) is None

    def test_stock_keys_of_distinct_pairs_never_collide(self) -> None:
        """A separator inside an id cannot make two (seller, SKU) pairs share a row."""
        assert stock_key("a/b", "c") != stock_key("a", "b/c")
        assert stock_key("a%2Fb", "c") != stock_key("a/b", "c")
        assert Stock("s1", "SKU-MUG").key == "s1/SKU-MUG"


class TestRestockIsTheCallersChoice:
    def test_full_refund_alone_keeps_the_goods_sold(self) -> None:
        """A full refund without restock: order refunded, stock still committed, none
        back on sale."""
        w = make_shop(stock=2)
        oid, pid = paid(w, qty=2)
        refund = w.service.create_refund(pid, idempotency_key="rk-1")
        assert refund.status == "succeeded"
        order = w.service.order(oid)
        assert order is not None and order.status is OrderStatus.REFUNDED
        assert counters(w, "s1", "SKU-MUG") == (2, 0, 2)
        rows = [r for r in w.store.snapshot().rows(s.RESERVATIONS) if r.order_id == oid]
        assert [r.status for r in rows] == [RS.COMMITTED]
        with pytest.raises(err.OutOfStock):
            w.service.create_payment_intent(SESSION_2, [CartItem("p_mug", 1)])
        converged(w)

    def test_full_refund_with_restock_puts_the_goods_back(self) -> None:
        """restock=True on the refund that ends the order returns its committed stock."""
        w = make_shop(stock=2)
        oid, pid = paid(w, qty=2)
        w.service.create_refund(pid, idempotency_key="rk-1", restock=True)
        (rf,) = w.service.refunds_of(pid)
        assert rf.restock and rf.status is RefundStatus.SUCCEEDED
        assert counters(w, "s1", "SKU-MUG") == (2, 0, 0)
        rows = [r for r in w.store.snapshot().rows(s.RESERVATIONS) if r.order_id == oid]
        assert [r.status for r in rows] == [RS.RETURNED]
        w.service.create_payment_intent(SESSION_2, [CartItem("p_mug", 2)])
        converged(w)

    def test_partial_then_the_rest_with_restock(self) -> None:
        """A partial refund keeps the goods sold; the rest with restock returns them all."""
        w = make_shop(stock=2)
        oid, pid = paid(w, qty=2)
        w.service.create_refund(pid, 500, idempotency_key="rk-1")
        assert counters(w, "s1", "SKU-MUG") == (2, 0, 2)
        w.service.create_refund(pid, None, idempotency_key="rk-2", restock=True)
        order = w.service.order(oid)
        assert order is not None and order.status is OrderStatus.REFUNDED
        assert counters(w, "s1", "SKU-MUG") == (2, 0, 0)
        converged(w)

    def test_partial_refund_with_restock_is_refused(self) -> None:
        """restock=True on a refund of less than what is left: a typed error, no change."""
        w = make_shop(stock=2)
        _, pid = paid(w, qty=2)
        before = snapshot_tables(w)
        with pytest.raises(err.RestockNotPossible) as caught:
            w.service.create_refund(pid, 1000, idempotency_key="rk-1", restock=True)
        assert caught.value.fields["refundable"] == 2500
        assert snapshot_tables(w) == before
        assert not w.provider.refunds()

    @pytest.mark.parametrize("flag", ["yes", 1, None, [True]])
    def test_restock_must_be_a_bool(self, flag: object) -> None:
        """A truthy non-bool is not a decision: InvalidInput, no change."""
        w = make_shop(stock=2)
        _, pid = paid(w)
        before = snapshot_tables(w)
        with pytest.raises(err.InvalidInput):
            w.service.create_refund(pid, idempotency_key="rk-1", restock=flag)  # type: ignore[arg-type]
        assert snapshot_tables(w) == before

    def test_same_key_with_another_restock_choice_is_refused(self) -> None:
        """A retry must repeat the choice: the same key with another restock is an error."""
        w = make_shop(stock=2)
        _, pid = paid(w)
        first = w.service.create_refund(pid, idempotency_key="rk-1", restock=True)
        assert w.service.create_refund(pid, idempotency_key="rk-1", restock=True) == first
        with pytest.raises(err.IdempotencyKeyReused):
            w.service.create_refund(pid, idempotency_key="rk-1")
        assert counters(w, "s1", "SKU-MUG") == (2, 0, 0)

    def test_out_of_stock_refund_restocks_nothing(self) -> None:
        """A late success after the stock was resold: the automatic refund takes nothing
        back (nothing was taken), and a restock on top of it is refused."""
        w, late = self.out_of_stock_order()
        (rf,) = w.service.refunds_of(late.payment_id)
        assert rf.automatic and not rf.restock and rf.status is RefundStatus.SUCCEEDED
        assert counters(w, "s1", "SKU-MUG") == (1, 0, 1)  # the other buyer's mug stays sold

    def test_restock_on_an_out_of_stock_order_is_refused(self) -> None:
        """The order took no stock: a support refund with restock is refused for what the
        order is, before any question of amounts (the automatic refund, failed at the bank,
        is being retried), and nothing changes."""
        w, late = self.out_of_stock_order()
        (rf,) = w.service.refunds_of(late.payment_id)
        assert rf.provider_refund_id is not None
        w.provider.fail_refund(rf.provider_refund_id)
        deliver_webhooks(w)
        before = snapshot_tables(w)
        with pytest.raises(err.RestockNotPossible) as caught:
            w.service.create_refund(late.payment_id, idempotency_key="support-1", restock=True)
        assert caught.value.fields["order_id"] == late.order_id
        assert caught.value.message == (
            f"order {late.order_id} is out_of_stock: it holds no sold stock to put back; "
            "refund without restock"
        )
        assert caught.value.fields == {"payment_id": late.payment_id, "order_id": late.order_id}
        assert snapshot_tables(w) == before
        assert counters(w, "s1", "SKU-MUG") == (1, 0, 1)
        safe(w)

    @staticmethod
    def out_of_stock_order() -> tuple[Wiring, CheckoutResult]:
        """A processing payment's mug is given back and sold; then the payment succeeds."""
        w = make_shop(stock=1)
        w.service.config = attrs.evolve(w.service.config, processing_hold_ms=60 * MINUTE)
        w.service.engine.config = w.service.config
        late = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        assert w.service.confirm_payment(late.payment_id, "pm_successDelayed_de").status == (
            "processing"
        )
        deliver_webhooks(w)
        cfg = w.service.config
        w.clock.advance(cfg.reservation_ttl_ms + (cfg.processing_hold_ms or 0))
        w.service.run_janitor()
        paid(w, session=SESSION_2)  # the mug is sold to someone else
        assert counters(w, "s1", "SKU-MUG") == (1, 0, 1)
        intent = w.service.payment(late.payment_id).provider_intent_id
        assert intent is not None
        w.provider.settle(intent)
        deliver_webhooks(w)
        converged(w)
        order = w.service.order(late.order_id)
        assert order is not None and order.status is OrderStatus.OUT_OF_STOCK
        return w, late
