"""Refund requests: idempotency keys (issue 7, item 5) and argument types (item 9).

A key is required and matched in full; keys paycore makes itself are reserved; the same
key with other parameters is a typed error, never a silent replay of the first refund.
Arguments of the wrong type (a list, a dict) raise a typed error, never ``TypeError``.
Every refusal leaves the store and the provider untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.support import SESSION, make_shop

from paycore import errors as err
from paycore.flows.checkout import CartItem
from paycore_adapters.memory import Wiring


@pytest.fixture
def shop() -> Wiring:
    """A paid order of two mugs (2500 cents): pay_000001."""
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 2)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    w.service.dispatch_notifications()
    return w


PID = "pay_000001"


def refused(w: Wiring, cls: type[err.PaycoreError], call: Callable[[], Any]) -> err.PaycoreError:
    """``call`` raises exactly ``cls`` and changes nothing, here or at the provider."""
    before, calls = w.store.fingerprint(), w.provider.calls.copy()
    with pytest.raises(err.PaycoreError) as info:
        call()
    assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
    assert w.store.fingerprint() == before, "a refused request changed the store"
    assert w.provider.calls == calls, "a refused request reached the provider"
    return info.value


class TestIdempotencyKeys:
    def test_key_with_a_trailing_newline_is_refused(self, shop: Wiring) -> None:
        """'rma-1\\n' is no second key for 'rma-1': refused, so nothing is refunded twice."""
        shop.service.create_refund(PID, 500, idempotency_key="rma-1")
        refused(
            shop,
            err.InvalidIdempotencyKey,
            lambda: shop.service.create_refund(PID, 500, idempotency_key="rma-1\n"),
        )
        assert [r.amount for r in shop.provider.refunds()] == [500]

    def test_missing_key_is_refused(self, shop: Wiring) -> None:
        """Without a key a retry after FlowPending or CommitUnknown would refund twice."""
        e = refused(shop, err.InvalidIdempotencyKey, lambda: shop.service.create_refund(PID, 500))
        assert "required" in e.message

    @pytest.mark.parametrize("key", ["external:re_123", "out-of-stock", "out-of-stock.2"])
    def test_keys_paycore_makes_itself_are_reserved(self, shop: Wiring, key: str) -> None:
        """Refunds recorded from the provider and automatic refunds own these keys."""
        e = refused(
            shop,
            err.InvalidIdempotencyKey,
            lambda: shop.service.create_refund(PID, 500, idempotency_key=key),
        )
        assert "reserved" in e.message

    def test_same_key_other_reason_is_refused(self, shop: Wiring) -> None:
        """The same key with another reason is a new request, not a replay."""
        first = shop.service.create_refund(PID, 500, "duplicate", "rma-2")
        e = refused(
            shop,
            err.IdempotencyKeyReused,
            lambda: shop.service.create_refund(PID, 500, "fraudulent", "rma-2"),
        )
        assert e.fields["refund_id"] == first.refund_id
        assert "fraudulent" in e.message and "duplicate" in e.message

    def test_same_key_from_amount_to_everything_is_refused(self, shop: Wiring) -> None:
        """500 first, then 'everything left' under the same key: refused, not replayed."""
        shop.service.create_refund(PID, 500, idempotency_key="rma-3")
        refused(
            shop,
            err.IdempotencyKeyReused,
            lambda: shop.service.create_refund(PID, None, idempotency_key="rma-3"),
        )

    def test_same_key_from_everything_to_an_amount_is_refused(self, shop: Wiring) -> None:
        """'Everything' (2500) first, then 2500 spelled out: another request, refused."""
        shop.service.create_refund(PID, None, idempotency_key="rma-4")
        refused(
            shop,
            err.IdempotencyKeyReused,
            lambda: shop.service.create_refund(PID, 2500, idempotency_key="rma-4"),
        )

    def test_the_refusal_says_what_each_request_asked_for(self, shop: Wiring) -> None:
        """The message quotes both requests: 'everything' with the amount it came to, then
        the amount spelled out, and the other way round."""
        first = shop.service.create_refund(PID, None, idempotency_key="rma-7")
        e = refused(
            shop,
            err.IdempotencyKeyReused,
            lambda: shop.service.create_refund(PID, 2500, idempotency_key="rma-7"),
        )
        assert e.message == (
            "idempotency key rma-7 was used for a refund of everything still refundable "
            "(2500), not 2500; use a new key for a new refund"
        )
        assert e.fields == {"refund_id": first.refund_id}

    def test_exact_same_request_replays_the_first_result(self, shop: Wiring) -> None:
        """The same key, amount and reason returns the first refund; one provider refund."""
        first = shop.service.create_refund(PID, 700, "duplicate", "rma-5")
        again = shop.service.create_refund(PID, 700, "duplicate", "rma-5")
        assert again == first
        assert [r.amount for r in shop.provider.refunds()] == [700]
        (rf,) = shop.service.refunds_of(PID)
        assert rf.requested_amount == 700


class TestArgumentTypes:
    @pytest.mark.parametrize("reason", [["duplicate"], {"duplicate": 1}, 5, b"duplicate"])
    def test_reason_of_a_wrong_type(self, shop: Wiring, reason: Any) -> None:
        """A list, dict, int or bytes reason: InvalidRefundReason, not TypeError."""
        refused(
            shop,
            err.InvalidRefundReason,
            lambda: shop.service.create_refund(PID, 500, reason, "rma-6"),
        )

    @pytest.mark.parametrize("pid", [[PID], {PID: 1}, 7, None])
    def test_payment_id_of_a_wrong_type(self, shop: Wiring, pid: Any) -> None:
        """Refunding, or listing the refunds of, a non-string payment id: PaymentNotFound."""
        refused(
            shop, err.PaymentNotFound, lambda: shop.service.create_refund(pid, 500, None, "k-1")
        )
        refused(shop, err.PaymentNotFound, lambda: shop.service.refunds_of(pid))

    def test_a_wrong_payment_id_is_told_which_id_to_use(self, shop: Wiring) -> None:
        """The refusal of a malformed payment id quotes it and says which id to pass."""
        e = refused(shop, err.PaymentNotFound, lambda: shop.service.refunds_of(7))
        assert e.message == (
            "payment id must be a non-empty string, got 7; use the payment_id "
            "that create_payment_intent returned"
        )

    @pytest.mark.parametrize("oid", [["ord_000001"], {"ord_000001": 1}, 7, None, ""])
    def test_order_id_of_a_wrong_type(self, shop: Wiring, oid: Any) -> None:
        """Reading an order by a list, dict, int, None or empty id: InvalidInput."""
        e = refused(shop, err.InvalidInput, lambda: shop.service.order(oid))
        assert e.fields == {"field": "order_id"}

    def test_unknown_ids_still_read_as_nothing(self, shop: Wiring) -> None:
        """A well-formed but unknown order id reads as None, and an unknown payment id has
        no refunds: only malformed ids are errors."""
        assert shop.service.order("ord_nope") is None
        assert shop.service.refunds_of("pay_nope") == []
