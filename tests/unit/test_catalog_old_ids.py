"""The id rule applies where a row is made, never where one is looked up.

A seller, product or SKU stored before today's id rule (or by another writer) keeps
working: it can be restocked, adjusted, repriced, deleted and given new products. The
rule itself refuses only what forges a line or drives a terminal (control and format
characters, line and paragraph separators) and whitespace at either end; a no-break or
ideographic space inside an id is ordinary text. The refusal names the character."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import SESSION, make_shop

from paycore import schema as s
from paycore.errors import InvalidInput, ProductNotFound, StockItemNotFound
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.records import Product, Seller, stock_key
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore

#: Ids the rule refuses today, as rows a paycore before it (or another writer) stored.
OLD_SELLER = " s_old"
OLD_PRODUCT = "p_old\u00a0"
OLD_SKU = "SKU\nOLD"


@pytest.fixture(params=["memory", "sqlite"])
def old_shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Wiring]:
    """A shop whose store holds a seller, a product and a SKU with ids the rule refuses,
    written into the store directly (no catalog call checks them)."""
    if request.param == "memory":
        w = make_shop()
    else:
        w = in_memory(store=SQLiteStore(tmp_path / "old.db", migrate=True))  # type: ignore[arg-type]
        w.provider.set_account("acct_1")
        w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.provider.set_account("acct_old")
    with w.store.transaction() as tx:
        tx.insert(s.SELLERS, Seller(OLD_SELLER, "Old", "acct_old", True))
        tx.insert(
            s.PRODUCTS, Product(OLD_PRODUCT, OLD_SELLER, OLD_SKU, "Old mug", Money(900, "EUR"))
        )
    yield w


def test_an_old_product_can_be_restocked_repriced_and_deleted(old_shop: Wiring) -> None:
    svc = old_shop.service
    svc.restock(OLD_SELLER, OLD_SKU, 5)
    svc.adjust_stock(OLD_SELLER, OLD_SKU, -1, "count")
    assert old_shop.store.snapshot().get(s.STOCK, stock_key(OLD_SELLER, OLD_SKU)).on_hand == 4
    svc.set_price(OLD_PRODUCT, Money(1100, "EUR"))
    r = svc.create_payment_intent(SESSION, [CartItem(OLD_PRODUCT, 1)])
    assert r.payment_id
    svc.delete_product(OLD_PRODUCT)
    product = old_shop.store.snapshot().get(s.PRODUCTS, OLD_PRODUCT)
    assert product.deleted and product.price == Money(1100, "EUR")


def test_an_old_seller_can_be_given_a_product_under_its_old_sku(old_shop: Wiring) -> None:
    old_shop.service.add_product("p_new", OLD_SELLER, OLD_SKU, "New mug", Money(500, "EUR"))
    old_shop.service.restock(OLD_SELLER, OLD_SKU, 2)


def test_a_new_sku_of_an_old_seller_still_follows_the_rule(old_shop: Wiring) -> None:
    with pytest.raises(InvalidInput) as caught:
        old_shop.service.add_product("p_new", OLD_SELLER, "SKU\nNEW", "New", Money(5, "EUR"))
    assert caught.value.fields.get("field") == "sku"


def test_a_lookup_of_an_unknown_id_is_not_found_not_invalid(old_shop: Wiring) -> None:
    """An id no row has is not found, whatever its shape; NUL is still InvalidInput."""
    with pytest.raises(ProductNotFound):
        old_shop.service.set_price("p\x1b[2J", Money(1, "EUR"))
    with pytest.raises(StockItemNotFound):
        old_shop.service.restock(OLD_SELLER, "SKU\u202eX", 1)
    with pytest.raises(InvalidInput):
        old_shop.service.restock(OLD_SELLER, "SKU\x00", 1)


@pytest.mark.parametrize(
    "sku", ["SKU\u00a0MUG", "\uff33\uff2b\uff35\u3000\uff11", "Caf\u00e9 1", "SKU 12 A"]
)
def test_ordinary_text_inside_a_sku_is_taken(sku: str) -> None:
    w = make_shop()
    w.service.add_product("p_x", "s1", sku, "X", Money(100, "EUR"))
    w.service.restock("s1", sku, 1)


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ("SKU\u202eGNP.exe", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("SKU\u2066X", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("SKU\x1b[31m", "U+001B"),
        ("SKU\u2028X", "U+2028 LINE SEPARATOR"),
        ("SKU\u2029X", "U+2029 PARAGRAPH SEPARATOR"),
    ],
)
def test_a_control_format_or_separator_character_is_refused_by_name(bad: str, named: str) -> None:
    w = make_shop()
    before = w.store.fingerprint()
    with pytest.raises(InvalidInput) as caught:
        w.service.add_product("p_x", "s1", bad, "X", Money(100, "EUR"))
    assert caught.value.fields.get("field") == "sku"
    assert named in caught.value.message, caught.value.message
    assert "\x1b" not in caught.value.message and "\u202e" not in caught.value.message
    assert w.store.fingerprint() == before


@pytest.mark.parametrize("bad", ["SKU\u00a0", "\u3000SKU", " SKU", "SKU\u2003"])
def test_whitespace_at_either_end_is_refused_saying_so(bad: str) -> None:
    w = make_shop()
    with pytest.raises(InvalidInput) as caught:
        w.service.add_product("p_x", "s1", bad, "X", Money(100, "EUR"))
    assert "whitespace at " in caught.value.message, caught.value.message
    assert "U+" in caught.value.message


def test_every_refused_character_fails_isprintable_so_the_fast_path_misses_none() -> None:
    """``ident`` walks an id character by character only when ``str.isprintable()`` is
    False. That skip is safe only if no character of the refused categories is
    printable: checked here over every code point of this Python's Unicode tables."""
    import sys
    import unicodedata

    from paycore.catalog import REFUSED_CATEGORIES, ident

    printable_refused = [
        f"U+{cp:04X}"
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) in REFUSED_CATEGORIES and chr(cp).isprintable()
    ]
    assert printable_refused == []
    for bad in ("a\u202eb", "a\x1bb", "a\u2028b", "a\u2029b", "a\u200db"):
        with pytest.raises(InvalidInput, match="must not contain U\\+"):
            ident("sku", bad)
    assert ident("sku", "SKU\u00a0MUG \u3000 5") == "SKU\u00a0MUG \u3000 5"
