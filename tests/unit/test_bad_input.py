"""Bad input to every public operation: a typed error, nothing stored, no provider call.

``rejects`` checks each rejection the same way: the exact error class, that it
is a PaycoreError with its stable ``code``, that the message names the
offending field or value and says what to do, that the store is byte-for-byte
unchanged (``MemoryStore.fingerprint``), that the provider saw no call, and
that no client secret leaks into the error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from tests.support import SESSION, make_shop

from paycore import errors as E
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.money import MAX_AMOUNT, Money
from paycore.ports import ProviderEvent
from paycore.service import CheckoutResult
from paycore_adapters.memory import Wiring

#: Words by which a message tells the caller what to do (or what is allowed).
GUIDANCE = re.compile(
    r"\b(must|use|start|remove|split|try|add|generate|one of|limit|maximum|instead|only"
    r"|still refundable|cannot go below|takes)\b",
    re.IGNORECASE,
)

BAD_AMOUNTS = [-1, 12.5, True, MAX_AMOUNT + 1, "1250"]
BAD_CURRENCIES = ["eur", "XXX", "", None]
BAD_PAYMENT_IDS = [
    pytest.param("pay_nope", "pay_nope", id="unknown"),
    pytest.param(42, "42", id="int"),
    pytest.param(None, "None", id="none"),
    pytest.param("", "''", id="empty"),
]


@contextmanager
def rejects(w: Wiring, cls: type[E.PaycoreError], code: str, *says: str) -> Iterator[list[Any]]:
    """The block must raise ``cls`` and leave no trace in the store or at the provider."""
    store, calls, caught = w.store.fingerprint(), w.provider.calls.copy(), []
    try:
        yield caught
    except Exception as exc:
        err = exc
    else:
        pytest.fail(f"accepted; expected {cls.__name__}")
    assert type(err) is cls, f"expected {cls.__name__}, got {type(err).__name__}: {err}"
    assert isinstance(err, E.PaycoreError)
    assert err.code == code
    msg = str(err)
    for word in says:
        assert word in msg, f"message {msg!r} does not mention {word!r}"
    assert GUIDANCE.search(msg), f"message {msg!r} does not say what to do"
    assert w.store.fingerprint() == store, "a rejected call changed the store"
    assert w.provider.calls == calls, "a rejected call reached the provider"
    for secret in filter(None, (v.client_secret for v in w.provider.intents())):
        assert secret not in f"{msg} {err!r} {err.fields!r}"
    caught.append(err)


def add(w: Wiring, price: Any, pid: Any = "p_new", sku: Any = "SKU-X", seller: str = "s1") -> None:
    w.service.add_product(pid, seller, sku, "New", price)


def pay(w: Wiring, items: Any, session: Any = SESSION) -> CheckoutResult:
    return w.service.create_payment_intent(session, items)


@pytest.fixture
def raw() -> Wiring:
    """A shop without the teardown invariant check, for calls that store junk today."""
    return make_shop()


@pytest.fixture
def opened(shop: Wiring) -> CheckoutResult:
    return pay(shop, [CartItem("p_mug", 1)])


@pytest.fixture
def paid(shop: Wiring, opened: CheckoutResult) -> CheckoutResult:
    shop.service.confirm_payment(opened.payment_id, payment_method="pm_card_visa")
    return opened


@pytest.fixture
def canceled(shop: Wiring, opened: CheckoutResult) -> CheckoutResult:
    shop.service.cancel_payment(opened.payment_id)
    return opened


class TestMoney:
    @pytest.mark.parametrize("amount", [*BAD_AMOUNTS, None])
    def test_bad_amount(self, shop: Wiring, amount: Any) -> None:
        """Money refuses a negative, fractional, boolean, huge or non-int amount."""
        with rejects(shop, E.InvalidAmount, "invalid_amount", "amount", str(amount)):
            Money(amount, "EUR")

    @pytest.mark.parametrize("currency", BAD_CURRENCIES)
    def test_unknown_currency(self, shop: Wiring, currency: Any) -> None:
        """Money refuses lower-case, unknown, empty and missing currency codes."""
        with rejects(shop, E.UnknownCurrency, "unknown_currency", "currency", repr(currency)):
            Money(1250, currency)


class TestAddProduct:
    @pytest.mark.parametrize("amount", [0, *BAD_AMOUNTS])
    def test_bad_price_amount(self, shop: Wiring, amount: Any) -> None:
        """A zero, negative, fractional, boolean, huge or non-int price is refused."""
        with rejects(shop, E.InvalidAmount, "invalid_amount", "amount", str(amount)):
            add(shop, Money(amount, "EUR"))

    @pytest.mark.parametrize("currency", BAD_CURRENCIES)
    def test_unknown_currency(self, shop: Wiring, currency: Any) -> None:
        """A price in an unknown currency is refused."""
        with rejects(shop, E.UnknownCurrency, "unknown_currency", "currency", repr(currency)):
            add(shop, Money(1250, currency))

    @pytest.mark.parametrize(
        "price",
        [1250, {"amount": 1250, "currency": "EUR"}, SimpleNamespace(amount=1250, currency="eur")],
        ids=["int", "dict", "duck-lowercase-eur"],
    )
    def test_price_not_money(self, raw: Wiring, price: Any) -> None:
        """A price that is not a Money gets InvalidInput, not AttributeError or a stored row."""
        with rejects(raw, E.InvalidInput, "invalid_input", "price", "Money"):
            add(raw, price)

    @pytest.mark.parametrize(
        ("pid", "sku", "field"),
        [(None, "SKU-X", "product_id"), ("", "SKU-X", "product_id"), ("p_new", None, "sku")],
    )
    def test_missing_id_or_sku(self, raw: Wiring, pid: Any, sku: Any, field: str) -> None:
        """A product without an id or SKU is refused."""
        with rejects(raw, E.InvalidInput, "invalid_input", field):
            add(raw, Money(1250, "EUR"), pid=pid, sku=sku)

    def test_unknown_seller(self, shop: Wiring) -> None:
        """A product of an unknown seller is refused."""
        with rejects(shop, E.SellerNotFound, "seller_not_found", "s9"):
            add(shop, Money(1250, "EUR"), seller="s9")


class TestSetPrice:
    @pytest.mark.parametrize("amount", [0, *BAD_AMOUNTS])
    def test_bad_price_amount(self, shop: Wiring, amount: Any) -> None:
        """A zero, negative, fractional, boolean, huge or non-int new price is refused."""
        with rejects(shop, E.InvalidAmount, "invalid_amount", "amount", str(amount)):
            shop.service.set_price("p_mug", Money(amount, "EUR"))

    @pytest.mark.parametrize("price", [990, {"amount": 990, "currency": "EUR"}, None])
    def test_price_not_money(self, shop: Wiring, price: Any) -> None:
        """A new price that is not a Money gets InvalidInput."""
        with rejects(shop, E.InvalidInput, "invalid_input", "price", "Money"):
            shop.service.set_price("p_mug", price)

    def test_other_currency(self, shop: Wiring) -> None:
        """A product keeps its currency: a price in another one is refused."""
        with rejects(shop, E.InvalidInput, "invalid_input", "p_mug", "EUR", "USD"):
            shop.service.set_price("p_mug", Money(990, "USD"))

    @pytest.mark.parametrize(("pid", "shown"), [("p_nope", "p_nope"), (None, "product_id")])
    def test_unknown_product(self, shop: Wiring, pid: Any, shown: str) -> None:
        """Repricing an unknown product (or no product id) is refused."""
        code = "product_not_found" if pid else "invalid_input"
        cls = E.ProductNotFound if pid else E.InvalidInput
        with rejects(shop, cls, code, shown):
            shop.service.set_price(pid, Money(990, "EUR"))


class TestCreatePaymentIntent:
    @pytest.mark.parametrize("qty", [0, -1, 1.5, True, "2", None, 10_001])
    def test_bad_quantity(self, shop: Wiring, qty: Any) -> None:
        """Zero, negative, fractional, boolean, non-int or over-limit quantities are refused."""
        with rejects(shop, E.InvalidQuantity, "invalid_quantity", "quantity", "p_mug"):
            pay(shop, [CartItem("p_mug", qty)])

    @pytest.mark.parametrize("items", [[], ()])
    def test_empty_cart(self, shop: Wiring, items: Any) -> None:
        """An empty cart is refused."""
        with rejects(shop, E.EmptyCart, "empty_cart", "cart"):
            pay(shop, items)

    @pytest.mark.parametrize(
        "items",
        [
            "p_mug",
            b"p_mug",
            None,
            5,
            pytest.param(
                {"product_id": "p_mug", "quantity": 1},
                id="mapping",
            ),
        ],
    )
    def test_cart_not_a_list(self, shop: Wiring, items: Any) -> None:
        """A cart that is not a list of items is refused."""
        with rejects(shop, E.InvalidInput, "invalid_input", "items", "list"):
            pay(shop, items)

    def test_unknown_product(self, shop: Wiring) -> None:
        """A cart with an unknown product is refused."""
        with rejects(shop, E.ProductNotFound, "product_not_found", "p_nope"):
            pay(shop, [CartItem("p_nope", 1)])

    def test_deleted_product(self, shop: Wiring) -> None:
        """A cart with a deleted product is refused."""
        shop.service.delete_product("p_tee")
        with rejects(shop, E.ProductUnavailable, "product_unavailable", "p_tee", "remove"):
            pay(shop, [CartItem("p_tee", 1)])

    def test_disabled_seller(self, shop: Wiring) -> None:
        """A seller whose charges are disabled cannot be paid, and the provider is not asked."""
        shop.service.set_charges_enabled("s1", False)
        with rejects(shop, E.SellerCannotCharge, "seller_cannot_charge", "s1"):
            pay(shop, [CartItem("p_mug", 1)])

    def test_mixed_seller_cart(self, shop: Wiring) -> None:
        """A cart with products of two sellers is refused."""
        shop.provider.set_account("acct_2")
        shop.service.add_seller("s2", "Hat Shop", "acct_2")
        shop.service.add_product("p_hat", "s2", "SKU-HAT", "Hat", Money(500, "EUR"))
        shop.service.restock("s2", "SKU-HAT", 3)
        with rejects(shop, E.MixedSellerCart, "mixed_seller_cart", "s1", "s2", "split"):
            pay(shop, [CartItem("p_mug", 1), CartItem("p_hat", 1)])

    def test_out_of_stock(self, shop: Wiring) -> None:
        """A cart asking for more than is available is refused."""
        with rejects(shop, E.OutOfStock, "out_of_stock", "SKU-MUG", "5"):
            pay(shop, [CartItem("p_mug", 6)])

    def test_total_over_maximum(self, shop: Wiring) -> None:
        """A cart whose total exceeds the provider's 8-digit limit is refused."""
        shop.service.add_product("p_gold", "s1", "SKU-GOLD", "Gold", Money(MAX_AMOUNT, "EUR"))
        shop.service.restock("s1", "SKU-GOLD", 2)
        with rejects(shop, E.InvalidAmount, "invalid_amount", str(2 * MAX_AMOUNT)):
            pay(shop, [CartItem("p_gold", 2)])

    @pytest.mark.parametrize(
        "session",
        ["cs_short", "cs_test_000000000!", "cs test 0000000001", "x" * 129, "", None, 10**20],
        ids=["too-short", "bang", "space", "too-long", "empty", "none", "int"],
    )
    def test_malformed_session_id(self, shop: Wiring, session: Any) -> None:
        """A session id that is short, long, non-string or has illegal characters is refused."""
        with rejects(shop, E.InvalidCheckoutSession, "invalid_checkout_session", "session_id"):
            pay(shop, [CartItem("p_mug", 1)], session)

    def test_reused_session_other_cart(self, shop: Wiring, opened: CheckoutResult) -> None:
        """After a successful checkout, its session id with another cart changes nothing."""
        with rejects(shop, E.CheckoutSessionReused, "checkout_session_reused", SESSION, "new"):
            pay(shop, [CartItem("p_mug", 2)])

    def test_expired_session(self, shop: Wiring, opened: CheckoutResult) -> None:
        """Replaying a session after its lifetime is refused."""
        shop.clock.advance(shop.service.config.checkout_session_ttl_ms + 1)
        with rejects(shop, E.CheckoutSessionExpired, "checkout_session_expired", SESSION):
            pay(shop, [CartItem("p_mug", 1)])


class TestConfirmPayment:
    @pytest.mark.parametrize(("pid", "shown"), BAD_PAYMENT_IDS)
    def test_unknown_payment(self, shop: Wiring, pid: Any, shown: str) -> None:
        """Confirming an unknown or non-string payment id is refused."""
        with rejects(shop, E.PaymentNotFound, "payment_not_found", "payment", shown):
            shop.service.confirm_payment(pid, "pm_card_visa")

    def test_canceled_payment(self, shop: Wiring, canceled: CheckoutResult) -> None:
        """A canceled payment can never be confirmed."""
        pid = canceled.payment_id
        with rejects(shop, E.PaymentNotConfirmable, "payment_not_confirmable", pid, "canceled"):
            shop.service.confirm_payment(pid, "pm_card_visa")

    @pytest.mark.parametrize(
        ("method", "url", "field"),
        [
            (123, None, "payment_method"),
            (b"pm_card_visa", None, "payment_method"),
            ("pm_card_visa", 5, "return_url"),
        ],
    )
    def test_argument_not_a_string(
        self, shop: Wiring, opened: CheckoutResult, method: Any, url: Any, field: str
    ) -> None:
        """A non-string payment_method or return_url is refused before the provider is called."""
        with rejects(shop, E.InvalidInput, "invalid_input", field):
            shop.service.confirm_payment(opened.payment_id, method, url)

    def test_unknown_payment_method(self, shop: Wiring, opened: CheckoutResult) -> None:
        """A payment method the provider does not know raises its typed refusal."""
        with pytest.raises(E.ProviderInvalidRequest, match="pm_nope"):
            shop.service.confirm_payment(opened.payment_id, "pm_nope")


class TestCancelPayment:
    @pytest.mark.parametrize(("pid", "shown"), BAD_PAYMENT_IDS)
    def test_unknown_payment(self, shop: Wiring, pid: Any, shown: str) -> None:
        """Canceling an unknown or non-string payment id is refused."""
        with rejects(shop, E.PaymentNotFound, "payment_not_found", "payment", shown):
            shop.service.cancel_payment(pid)

    def test_succeeded_payment(self, shop: Wiring, paid: CheckoutResult) -> None:
        """A succeeded payment cannot be canceled; the message points to a refund."""
        pid = paid.payment_id
        with rejects(shop, E.PaymentNotCancelable, "payment_not_cancelable", pid, "refund it"):
            shop.service.cancel_payment(pid)


class TestCreateRefund:
    @pytest.mark.parametrize("amount", [0, *BAD_AMOUNTS])
    def test_bad_amount(self, shop: Wiring, paid: CheckoutResult, amount: Any) -> None:
        """A zero, negative, fractional, boolean, huge or non-int refund amount is refused."""
        with rejects(shop, E.InvalidAmount, "invalid_amount", "amount", str(amount)):
            shop.service.create_refund(paid.payment_id, amount, idempotency_key="rk-1")

    def test_over_refundable(self, shop: Wiring, paid: CheckoutResult) -> None:
        """Refunding more than was captured is refused."""
        with rejects(shop, E.RefundExceedsRefundable, "refund_exceeds_refundable", "1251", "1250"):
            shop.service.create_refund(paid.payment_id, 1251, idempotency_key="rk-2")

    def test_over_what_is_left(self, shop: Wiring, paid: CheckoutResult) -> None:
        """After a partial refund, refunding more than what is left is refused."""
        shop.service.create_refund(paid.payment_id, 1000, idempotency_key="r1")
        with rejects(shop, E.RefundExceedsRefundable, "refund_exceeds_refundable", "251", "250"):
            shop.service.create_refund(paid.payment_id, 251, idempotency_key="rk-3")

    @pytest.mark.parametrize(("state", "status"), [("opened", "open"), ("canceled", "canceled")])
    def test_not_succeeded(self, shop: Wiring, request: Any, state: str, status: str) -> None:
        """Only a succeeded payment can be refunded."""
        pid = request.getfixturevalue(state).payment_id
        with rejects(shop, E.PaymentNotRefundable, "payment_not_refundable", pid, status):
            shop.service.create_refund(pid, 100, idempotency_key="rk-4")

    @pytest.mark.parametrize("reason", ["because", "", "DUPLICATE", 1])
    def test_bad_reason(self, shop: Wiring, paid: CheckoutResult, reason: Any) -> None:
        """A reason outside the provider's list is refused."""
        with rejects(shop, E.InvalidRefundReason, "invalid_refund_reason", "reason", repr(reason)):
            shop.service.create_refund(paid.payment_id, 100, reason, idempotency_key="rk-5")

    @pytest.mark.parametrize("key", ["", "has space", "k" * 201, 5, "ключ"])
    def test_bad_idempotency_key(self, shop: Wiring, paid: CheckoutResult, key: Any) -> None:
        """An empty, too long, non-string or non-ASCII idempotency key is refused."""
        with rejects(shop, E.InvalidIdempotencyKey, "invalid_idempotency_key", "idempotency_key"):
            shop.service.create_refund(paid.payment_id, 100, None, key)

    def test_same_key_other_amount(self, shop: Wiring, paid: CheckoutResult) -> None:
        """Reusing an idempotency key for another amount is refused."""
        shop.service.create_refund(paid.payment_id, 100, idempotency_key="k1")
        with rejects(
            shop, E.IdempotencyKeyReused, "idempotency_key_reused", "k1", "200", "new key"
        ):
            shop.service.create_refund(paid.payment_id, 200, None, "k1")

    @pytest.mark.parametrize(("pid", "shown"), BAD_PAYMENT_IDS)
    def test_unknown_payment(self, shop: Wiring, pid: Any, shown: str) -> None:
        """Refunding an unknown or non-string payment id is refused."""
        with rejects(shop, E.PaymentNotFound, "payment_not_found", "payment", shown):
            shop.service.create_refund(pid, 100, idempotency_key="rk-6")


class TestHandleWebhook:
    @pytest.mark.parametrize(
        "event",
        ["evt_1", None, {"id": "evt_1", "object_kind": "refund"}, SimpleNamespace(id="evt_1")],
        ids=["str", "none", "dict", "duck"],
    )
    def test_not_a_provider_event(self, shop: Wiring, event: Any) -> None:
        """Anything but a verified ProviderEvent is refused."""
        with rejects(shop, E.InvalidInput, "invalid_input", "ProviderEvent"):
            shop.service.handle_webhook(event)

    @pytest.mark.parametrize("kind", ["charge", "", "Refund"])
    def test_unknown_object_kind(self, shop: Wiring, kind: str) -> None:
        """A verified event about a kind of object paycore does not use is acknowledged as
        ignored (the provider stops redelivering it); it starts nothing."""
        event = ProviderEvent("evt_x", "charge.succeeded", 0, kind, "ch_1")
        flows = shop.store.snapshot().rows(s.FLOWS)
        assert shop.service.handle_webhook(event) == "ignored:unsupported_object_kind"
        assert shop.store.snapshot().rows(s.FLOWS) == flows
        assert shop.service.handle_webhook(event) == "duplicate"


class TestRestock:
    @pytest.mark.parametrize("qty", [0, -1, 1.5, True, "3", None])
    def test_bad_quantity(self, shop: Wiring, qty: Any) -> None:
        """A zero, negative, fractional, boolean or non-int restock is refused."""
        with rejects(shop, E.InvalidQuantity, "invalid_quantity", "quantity", repr(qty)):
            shop.service.restock("s1", "SKU-MUG", qty)

    @pytest.mark.parametrize("sku", [None, "", 5])
    def test_bad_sku(self, raw: Wiring, sku: Any) -> None:
        """A missing or non-string SKU is refused."""
        with rejects(raw, E.InvalidInput, "invalid_input", "sku"):
            raw.service.restock("s1", sku, 1)

    @pytest.mark.parametrize("seller", [None, "", 5, ["s1"]])
    def test_bad_seller(self, raw: Wiring, seller: Any) -> None:
        """A missing or non-string seller is refused: stock belongs to a seller."""
        with rejects(raw, E.InvalidInput, "invalid_input", "seller_id"):
            raw.service.restock(seller, "SKU-MUG", 1)


class TestAdjustStock:
    @pytest.mark.parametrize("delta", [0, 1.5, True, "1", None])
    def test_bad_delta(self, shop: Wiring, delta: Any) -> None:
        """A zero, fractional, boolean or non-int adjustment is refused."""
        with rejects(shop, E.InvalidQuantity, "invalid_quantity", "adjustment", repr(delta)):
            shop.service.adjust_stock("s1", "SKU-MUG", delta, "count")

    @pytest.mark.parametrize(
        ("state", "delta", "shown"),
        [("shop", -6, "on hand -1"), ("opened", -5, "held 1"), ("paid", -5, "committed 1")],
    )
    def test_below_reserved(
        self, shop: Wiring, request: Any, state: str, delta: int, shown: str
    ) -> None:
        """On hand may never drop below held + committed."""
        request.getfixturevalue(state)
        with rejects(shop, E.StockBelowReserved, "stock_below_reserved", "SKU-MUG", shown):
            shop.service.adjust_stock("s1", "SKU-MUG", delta, "count")


class TestSetChargesEnabled:
    @pytest.mark.parametrize("enabled", ["no", 0, None])
    def test_not_a_bool(self, raw: Wiring, enabled: Any) -> None:
        """A non-bool flag is refused instead of being stored as-is."""
        with rejects(raw, E.InvalidInput, "invalid_input", "enabled"):
            raw.service.set_charges_enabled("s1", enabled)


class TestNoSecretLeaks:
    def test_results_and_records_hide_secret(self, shop: Wiring, paid: CheckoutResult) -> None:
        """The client secret is stored but shown by no result, record or snapshot repr."""
        secret = paid.client_secret
        assert secret and shop.service.payment(paid.payment_id).client_secret == secret
        snap = shop.store.snapshot()
        shown = [paid, shop.service.payment(paid.payment_id), snap.rows(s.PAYMENTS), snap]
        for thing in shown:
            assert secret not in repr(thing)

    def test_errors_hide_secret(self, shop: Wiring, paid: CheckoutResult) -> None:
        """No error triggered about a payment with a secret carries that secret."""
        svc, pid, secret = shop.service, paid.payment_id, paid.client_secret
        assert secret
        cases: list[tuple[type[E.PaycoreError], Callable[[], object]]] = [
            (E.CheckoutSessionReused, lambda: pay(shop, [CartItem("p_tee", 1)])),
            (E.PaymentNotCancelable, lambda: svc.cancel_payment(pid)),
            (E.RefundExceedsRefundable, lambda: svc.create_refund(pid, 5000, None, "rk-7")),
            (E.InvalidRefundReason, lambda: svc.create_refund(pid, 9, "because", "rk-8")),
        ]
        for cls, call in cases:
            with rejects(shop, cls, cls.code) as caught:
                call()
            err = caught[0]
            assert secret not in f"{err} {err!r} {err.fields!r} {err.args!r}"
