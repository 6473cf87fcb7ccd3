"""Bad input gets the same typed error on every store (memory, SQLite, PostgreSQL), and
changes nothing: text that a store cannot hold or look up (a NUL character, a lone
surrogate, an id or SKU past its cap) is refused or names no row before a store sees it,
where PostgreSQL's driver refused it with an error that said "retry"; an integer past 64
bits that reaches a store is its DataError."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paycore import errors as E
from paycore.catalog import MAX_ID_BYTES
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import ProviderEvent, Store
from paycore.schema import ORDERS, PAYMENTS
from paycore_adapters.memory import MemoryStore, Wiring, in_memory
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.testing.store_contract import order

PAY = "pay_000001"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        yield SQLiteStore(tmp_path / "bad-input.db", migrate=True)
    else:
        pg = PostgresStore(
            request.getfixturevalue("migrated_postgres_dsn"), migrate=True, max_size=2
        )
        yield pg
        pg.close()


@pytest.fixture
def shop(store: Store) -> Wiring:
    """One seller (s1) with a mug, and one paid payment (pay_000001)."""
    w = in_memory(store=store)  # type: ignore[arg-type]
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.service.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    w.service.restock("s1", "SKU-MUG", 5)
    r = w.service.create_payment_intent("cs_test_badinput01", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    assert r.payment_id == PAY
    return w


def refused(w: Wiring, cls: type[E.PaycoreError], call: Callable[[], Any]) -> E.PaycoreError:
    """``call`` raises exactly ``cls`` and leaves the store as it was."""
    before = w.store.fingerprint()  # type: ignore[attr-defined]
    with pytest.raises(E.PaycoreError) as caught:
        call()
    assert type(caught.value) is cls, f"{type(caught.value).__name__}: {caught.value}"
    assert w.store.fingerprint() == before  # type: ignore[attr-defined]
    return caught.value


#: Ids that no row can have: what a lookup by one of them raises (on every store).
UNNAMEABLE = [pytest.param("x\x00", id="nul"), pytest.param("x\ud800", id="lone-surrogate")]

LOOKUPS: list[Any] = [
    pytest.param(lambda s, bad: s.payment(bad), E.PaymentNotFound, id="payment"),
    pytest.param(lambda s, bad: s.confirm_payment(bad), E.PaymentNotFound, id="confirm"),
    pytest.param(lambda s, bad: s.cancel_payment(bad), E.PaymentNotFound, id="cancel"),
    pytest.param(
        lambda s, bad: s.create_refund(bad, None, None, "rk-1"), E.PaymentNotFound, id="refund"
    ),
    pytest.param(lambda s, bad: s.flow(bad), E.FlowNotFound, id="flow"),
    pytest.param(lambda s, bad: s.revive_flow(bad), E.FlowNotFound, id="revive"),
    pytest.param(lambda s, bad: s.abandon_flow(bad), E.FlowNotFound, id="abandon"),
    pytest.param(lambda s, bad: s.set_charges_enabled(bad, False), E.SellerNotFound, id="charges"),
    pytest.param(lambda s, bad: s.resolve_alert(bad, "done"), E.AlertNotFound, id="alert"),
    pytest.param(
        lambda s, bad: s.create_payment_intent("cs_test_badinput02", [CartItem(bad, 1)]),
        E.InvalidInput,
        id="cart",
    ),
    pytest.param(
        lambda s, bad: s.create_payment_intent(
            "cs_test_badinput02", [{"product_id": bad, "quantity": 1}]
        ),
        E.InvalidInput,
        id="cart-mapping",
    ),
    pytest.param(lambda s, bad: s.resolve_alert("a:b", bad), E.InvalidInput, id="resolution"),
    pytest.param(
        lambda s, bad: s.add_product("p_x", "s1", "SKU-X", bad, Money(100, "EUR")),
        E.InvalidInput,
        id="product-name",
    ),
    pytest.param(lambda s, bad: s.order(bad), E.InvalidInput, id="order"),
]


class TestTextNoStoreCanHold:
    @pytest.mark.parametrize("bad", UNNAMEABLE)
    @pytest.mark.parametrize(("call", "cls"), LOOKUPS)
    def test_the_same_typed_error_on_every_store(
        self, shop: Wiring, call: Any, cls: type[E.PaycoreError], bad: str
    ) -> None:
        """An id with NUL or a lone surrogate names no row (its lookup's not-found error),
        and such text as an argument is InvalidInput: never the store's error."""
        refused(shop, cls, lambda: call(shop.service, bad))


class TestAddSeller:
    def test_a_seller_id_taken_is_invalid_input(self, shop: Wiring) -> None:
        """As for add_product: the caller's mistake, named, never the store's IntegrityError."""
        err = refused(
            shop, E.InvalidInput, lambda: shop.service.add_seller("s1", "Other", "acct_2")
        )
        assert err.fields == {"seller_id": "s1"}
        assert "already exists" in str(err)


def random_text(n_bytes: int, seed: int) -> str:
    """Random characters of four UTF-8 bytes each (past the BMP: the worst case for the
    stock key, which percent-encodes each byte), then ASCII up to ``n_bytes``: text that
    does not compress, so PostgreSQL's index has to hold every byte. Printable ones only:
    an id holds no control, format or unassigned character (``str.isprintable()``)."""
    rng = random.Random(seed)
    chars: list[str] = []
    while len(chars) < n_bytes // 4:
        if (c := chr(rng.randrange(0x10000, 0x10FFFF))).isprintable():
            chars.append(c)
    wide = "".join(chars)
    return wide + "z" * (n_bytes - 4 * len(wide))


class TestLengthCaps:
    @pytest.mark.parametrize("field", ["seller_id", "product_id", "sku"])
    def test_one_byte_past_the_cap_is_invalid_input_naming_the_field(
        self, shop: Wiring, field: str
    ) -> None:
        """An id or SKU whose UTF-8 form is longer than MAX_ID_BYTES: InvalidInput that
        names the field and the cap, nothing changed."""
        args = {"seller_id": "s1", "product_id": "p_new", "sku": "SKU-NEW"}
        args[field] = random_text(MAX_ID_BYTES + 1, 1)

        def add() -> None:
            if field == "seller_id":
                shop.service.add_seller(args["seller_id"], "Big", "acct_1")
            else:
                shop.service.add_product(
                    args["product_id"], args["seller_id"], args["sku"], "New", Money(1, "EUR")
                )

        err = refused(shop, E.InvalidInput, add)
        assert err.fields.get("field") == field
        assert str(MAX_ID_BYTES) in str(err)

    def test_a_long_sku_is_refused_before_it_is_stored(self, shop: Wiring) -> None:
        """The review's case: a thousand random characters, once accepted by add_product,
        then every restock failed on PostgreSQL (its stock key past the index's limit)."""
        sku = random_text(4000, 2)
        refused(
            shop,
            E.InvalidInput,
            lambda: shop.service.add_product("p_long", "s1", sku, "Long", Money(1, "EUR")),
        )

    def test_restock_at_the_cap_works(self, shop: Wiring) -> None:
        """A seller id and a SKU at the cap, of characters that do not compress: the
        stock key (both percent-encoded, three times as long) fits every store's index."""
        seller, sku = random_text(MAX_ID_BYTES, 3), random_text(MAX_ID_BYTES, 4)
        product = random_text(MAX_ID_BYTES, 5)
        shop.provider.set_account("acct_2")
        shop.service.add_seller(seller, "Wide", "acct_2")
        shop.service.add_product(product, seller, sku, "Wide", Money(700, "EUR"))
        shop.service.restock(seller, sku, 3)
        shop.service.adjust_stock(seller, sku, -1, "count")
        r = shop.service.create_payment_intent("cs_test_badinput03", [CartItem(product, 2)])
        assert shop.service.confirm_payment(r.payment_id, "pm_card_visa").status == "succeeded"
        assert not shop.violations("safety")


#: Events that are not a usable verified event: refused on every store, nothing recorded.
BAD_EVENTS = [
    pytest.param(("evt_1", None, "pi_1"), id="type-none"),
    pytest.param(("evt_1", "", "pi_1"), id="type-empty"),
    pytest.param(("evt_1", 7, "pi_1"), id="type-int"),
    pytest.param(("evt_1", "payment_intent.succeeded\x00", "pi_1"), id="type-nul"),
    pytest.param(("evt\x00", "payment_intent.succeeded", "pi_1"), id="id-nul"),
    pytest.param(("evt\ud800", "payment_intent.succeeded", "pi_1"), id="id-surrogate"),
    pytest.param(("e" * (MAX_ID_BYTES + 1), "payment_intent.succeeded", "pi_1"), id="id-long"),
    pytest.param(("evt_1", "payment_intent.succeeded", "pi\x00"), id="object-nul"),
    pytest.param(("evt_1", "payment_intent.succeeded", 42), id="object-int"),
]


class TestWebhookScreen:
    @pytest.mark.parametrize("fields", BAD_EVENTS)
    @pytest.mark.parametrize("kind", ["payment_intent", "charge"])
    def test_a_malformed_event_is_invalid_input(
        self, shop: Wiring, fields: tuple[Any, Any, Any], kind: str
    ) -> None:
        """id, type and object id must be text a store can hold: else InvalidInput, the
        inbox untouched (an event of a kind paycore ignores is screened the same)."""
        event_id, type_, object_id = fields
        event = ProviderEvent(event_id, type_, 0, kind, object_id)
        refused(shop, E.InvalidInput, lambda: shop.service.handle_webhook(event))


class TestIntegersPast64Bits:
    def test_a_moment_past_64_bits_is_data_error_on_every_store(self, store: Store) -> None:
        """Every store's integers are 64 bits (SQLite's INTEGER, PostgreSQL's bigint, and
        the memory store holds to them): a moment past that is DataError (not
        retryable), never SQLite's raw OverflowError, and its transaction keeps nothing,
        the writes sent before it included."""
        before = store.fingerprint()  # type: ignore[attr-defined]
        with pytest.raises(E.PaycoreError) as caught, store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
            assert tx.find(ORDERS, "checkout_session_id", "x") == []  # sends the insert
            tx.find_since(PAYMENTS, "status", "succeeded", "created_at", 10**30)
        assert type(caught.value) is E.DataError, repr(caught.value)
        assert not caught.value.retryable
        assert store.fingerprint() == before  # type: ignore[attr-defined]
