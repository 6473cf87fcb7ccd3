"""Catalog data the flows need: sellers, products (soft-deleted), stock per seller and SKU.

Every function validates its arguments before it changes the store, so bad
input raises a typed error and changes nothing.
"""

from __future__ import annotations

import re
import unicodedata

from paycore import schema as s
from paycore.errors import (
    InvalidInput,
    InvalidQuantity,
    ProductNotFound,
    SellerNotFound,
    StockItemNotFound,
)
from paycore.money import Money, check_minor_units
from paycore.records import Product, Seller
from paycore.shown import shown, shown_id
from paycore.unit import Unit, storable

MAX_STOCK = 1_000_000_000
#: The most bytes (UTF-8) of an id or a SKU.
MAX_ID_BYTES = 255
#: The most characters of a free text: a name, a reason, a resolution (the most
#: Stripe's API takes in most of its string parameters).
MAX_TEXT_CHARS = 5_000
#: A Stripe connected account id (docs.stripe.com/api/connected-accounts: "acct_...").
ACCOUNT_RE = re.compile(r"acct_[A-Za-z0-9_]+")


def text(field: str, value: object) -> str:
    """A non-empty string argument that every store can hold, or InvalidInput naming the
    field: no NUL character (PostgreSQL's text cannot hold one, C strings end at it), no
    lone surrogate (not UTF-8, so no SQL store's driver can send it) and at most
    :data:`MAX_TEXT_CHARS` characters (a name, a reason, a resolution is stored whole
    and shown to operators)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string, got {shown(value)}", field=field)
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidInput(
            f"{field} must be at most {MAX_TEXT_CHARS} characters, got {len(value)}: "
            f"shorten the {field}",
            field=field,
        )
    if "\x00" in value:
        raise InvalidInput(
            f"{field} must not contain a NUL character (\\x00), got {shown(value)}: remove it",
            field=field,
        )
    if not storable(value):
        raise InvalidInput(
            f"{field} must be valid Unicode text, got {shown(value)} with a lone surrogate "
            "(half of a UTF-16 pair): decode the text properly",
            field=field,
        )
    return value


#: Unicode categories no id may hold: control characters (newline, tab, ESC: they forge
#: a line or drive a terminal), format characters (bidi overrides and isolates, which
#: show text in another order than it is stored; zero-width characters) and the line
#: and paragraph separators.
REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "a format character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def _named(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``; a control character has no name: ``U+001B``."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}".rstrip()


def ident(field: str, value: object) -> str:
    """A new id or SKU (checked where its row is made, never where one is looked up):
    :func:`text` of at most ``MAX_ID_BYTES`` bytes in UTF-8, with no character of
    :data:`REFUSED_CATEGORIES` and no whitespace at either end, or InvalidInput naming
    the field and the character. An id is named in messages, log lines and terminals:
    a control or format character there would forge a line, drive the terminal or show
    the id in another order; spaces inside (a no-break or an ideographic space) are
    ordinary text. The byte cap keeps every key built from ids within what a store can
    index: the stock key, a seller id and a SKU each percent-encoded (three bytes per
    byte at most), is at most 1,531 bytes, where PostgreSQL's B-tree refuses an entry
    over 2,704."""
    # The usual id (printable ASCII, no space at either end, short enough) passes every
    # check of :func:`checked_ident` in one test: tried first, the checks only when it fails.
    if (
        type(value) is str
        and 0 < len(value) <= MAX_ID_BYTES
        and value.isascii()
        and value.isprintable()
        and value[0] != " "
        and value[-1] != " "
    ):
        return value
    return checked_ident(field, value)


def checked_ident(field: str, value: object) -> str:
    """:func:`ident`, each rule in turn (what names the rule an id breaks)."""
    checked = text(field, value)
    size = len(checked.encode())
    if size > MAX_ID_BYTES:
        raise InvalidInput(
            f"{field} must be at most {MAX_ID_BYTES} bytes in UTF-8 ({MAX_ID_BYTES} ASCII "
            f"characters, fewer beyond ASCII), got {size} bytes: use a shorter {field}",
            field=field,
        )
    # str.isprintable() is False for every character of REFUSED_CATEGORIES (and for a
    # few more): an id that passes it needs no walk, character by character.
    for at, char in enumerate("" if checked.isprintable() else checked):
        kind = REFUSED_CATEGORIES.get(unicodedata.category(char))
        if kind is not None:
            raise InvalidInput(
                f"{field} must not contain {_named(char)} ({kind}) at position {at}, got "
                f"{shown(checked)}: remove it",
                field=field,
            )
    for end, char in (("the start", checked[0]), ("the end", checked[-1])):
        if char.isspace():
            raise InvalidInput(
                f"{field} must not have whitespace at either end, got {_named(char)} at "
                f"{end} of {shown(checked)}: remove it",
                field=field,
            )
    return checked


def held_id(field: str, value: object) -> str:
    """The id of a row looked up (a product to reprice, a SKU to restock): only what
    :func:`text` asks (no NUL, no lone surrogate), never :func:`ident`'s shape, so a row
    stored before that rule, or by another writer, can still be found and changed. An id
    no row has is the lookup's not-found error."""
    return text(field, value)


def account_id(value: object) -> str:
    """A seller's provider account: a Stripe connected account id, ``acct_`` then ASCII
    letters, digits or ``_`` (:data:`ACCOUNT_RE`), at most ``MAX_ID_BYTES`` long, or
    InvalidInput naming ``provider_account``. Checked when the seller is added, so a
    mistyped account fails there, not at the seller's first checkout; the provider
    still decides at the checkout whether the account can take charges."""
    checked = ident("provider_account", value)
    if not ACCOUNT_RE.fullmatch(checked):
        raise InvalidInput(
            f"provider_account must be a connected account id, 'acct_' then letters, digits "
            f"or '_' (as acct_1032D82eZvKYlo2C), got {shown(checked)}: copy the account's id",
            field="provider_account",
        )
    return checked


def flag(field: str, value: object) -> bool:
    """A decision argument that must be a real bool, or InvalidInput naming the field: a
    truthy string or list (``"false"``, ``"no"``, ``[0]``) or 1 is not a decision."""
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} must be True or False, got {shown(value)}", field=field)
    return value


def whole(field: str, value: object, *, allow_negative: bool = False) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or value == 0 or (not allow_negative and value < 0) or abs(value) > MAX_STOCK:  # type: ignore[operator, arg-type]
        sign = "a non-zero" if allow_negative else "a positive"
        raise InvalidQuantity(
            f"{field} must be {sign} whole number of units up to {MAX_STOCK}, got {shown(value)}",
            field=field,
        )
    return value  # type: ignore[return-value]


def seller_of(u: Unit, seller_id: str) -> Seller:
    return u.require(
        s.SELLERS,
        seller_id,
        lambda: SellerNotFound(
            f"no seller {shown_id(seller_id)}: add it with add_seller first",
            seller_id=shown_id(seller_id),
        ),
    )


def add_seller(
    u: Unit, seller_id: object, name: object, account: object, enabled: object
) -> Seller:
    seller = Seller(
        ident("seller_id", seller_id),
        text("name", name),
        account_id(account),
        flag("charges_enabled", enabled),
    )
    if u.get(s.SELLERS, seller.id) is not None:
        raise InvalidInput(
            f"seller {shown_id(seller.id)} already exists; use another id", seller_id=seller.id
        )
    u.create(s.SELLERS, seller)
    return seller


def set_charges_enabled(u: Unit, seller_id: str, enabled: object) -> None:
    flag("charges_enabled", enabled)
    seller = seller_of(u, seller_id)
    if seller.charges_enabled is not enabled:
        u.save(s.SELLERS, seller, charges_enabled=enabled)


def _price(price: object) -> Money:
    if not isinstance(price, Money):
        raise InvalidInput(
            f"price must be a Money (integer minor units and a currency), got {price!r}"
        )
    check_minor_units(price.amount)
    return price


def add_product(
    u: Unit, product_id: object, seller_id: object, sku: object, name: object, price: object
) -> Product:
    """A new product (its id follows :func:`ident`) of an existing seller (looked up as
    it is stored); its SKU follows :func:`ident` unless a product of that seller already
    carries it, as a product stored before the rule may."""
    price = _price(price)
    product = Product(
        ident("product_id", product_id),
        held_id("seller_id", seller_id),
        held_id("sku", sku),
        text("name", name),
        price,
    )
    seller_of(u, product.seller_id)
    if not any(p.sku == product.sku for p in u.find(s.PRODUCTS, "seller_id", product.seller_id)):
        ident("sku", product.sku)
    if u.get(s.PRODUCTS, product.id) is not None:
        raise InvalidInput(
            f"product {shown_id(product.id)} already exists; use another id", product_id=product.id
        )
    u.create(s.PRODUCTS, product)
    return product


def _product(u: Unit, product_id: object) -> Product:
    pid = held_id("product_id", product_id)
    return u.require(
        s.PRODUCTS,
        pid,
        lambda: ProductNotFound(
            f"no product {shown_id(pid)}: use the id of an existing product", product_id=pid
        ),
    )


def delete_product(u: Unit, product_id: object) -> None:
    product = _product(u, product_id)
    if not product.deleted:
        u.save(s.PRODUCTS, product, deleted=True)


def set_price(u: Unit, product_id: object, price: object) -> None:
    """Reprice a product; orders already made keep the price of their snapshot (S12)."""
    new = _price(price)
    product = _product(u, product_id)
    if new.currency != product.price.currency:
        raise InvalidInput(
            f"price of {product.id} must stay in {product.price.currency}, got {new.currency}",
            product_id=product.id,
        )
    if new != product.price:
        u.save(s.PRODUCTS, product, price=new)


def _stock_item(u: Unit, seller_id: object, sku: object) -> tuple[str, str]:
    """(seller, SKU) of stock a product of that seller carries (deleted or not), else a
    typed error: stock is never created for an item the catalog does not know."""
    seller = seller_of(u, held_id("seller_id", seller_id))
    code = held_id("sku", sku)
    if not any(p.sku == code for p in u.find(s.PRODUCTS, "seller_id", seller.id)):
        raise StockItemNotFound(
            f"seller {shown_id(seller.id)} has no product with SKU {shown_id(code)}: add the "
            "product first",
            seller_id=seller.id,
            sku=code,
        )
    return seller.id, code


def restock(u: Unit, seller_id: object, sku: object, quantity: object) -> None:
    n = whole("restock quantity", quantity)
    seller, code = _stock_item(u, seller_id, sku)
    u.change_stock(seller, code, on_hand=n, reason="restock")


def adjust_stock(u: Unit, seller_id: object, sku: object, delta: object, reason: object) -> None:
    n = whole("stock adjustment", delta, allow_negative=True)
    why = f"adjust: {text('reason', reason)}"
    seller, code = _stock_item(u, seller_id, sku)
    u.change_stock(seller, code, on_hand=n, reason=why)
