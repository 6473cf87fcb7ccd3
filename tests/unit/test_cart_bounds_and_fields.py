"""A refused value is carried in the error's ``fields`` as its messages show it (short,
with no escape), since fields are returned to API clients; and a cart is refused as
soon as it passes a cap, without reading the rest of what the caller gave."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from tests.support import SESSION, make_shop

from paycore.config import Config
from paycore.errors import InvalidAmount, InvalidInput, PaycoreError, ProductNotFound
from paycore.flows.cart import normalize_cart
from paycore.flows.checkout import CartItem
from paycore.money import check_minor_units
from paycore.shown import CUT

BAD_ID = "\x1b[2J" + "x" * 100_000


def _fields_are_short(err: PaycoreError) -> None:
    for name, value in err.fields.items():
        if isinstance(value, str):
            assert len(value) < 3 * CUT and "\x1b" not in value, (name, value[:80])


@pytest.mark.parametrize(
    "item",
    [
        CartItem(BAD_ID, 1),
        CartItem(BAD_ID, 0),
        CartItem(BAD_ID, 10**9),
        CartItem("p\x00" + BAD_ID, 1),
    ],
    ids=["unknown product", "zero quantity", "quantity past the cap", "a NUL"],
)
def test_a_refused_product_id_is_shown_in_the_fields(item: CartItem) -> None:
    w = make_shop()
    with pytest.raises(PaycoreError) as caught:
        w.service.create_payment_intent(SESSION, [item])
    _fields_are_short(caught.value)
    assert caught.value.fields.get("product_id") is not None or isinstance(
        caught.value, InvalidInput
    )


def test_product_not_found_shows_the_id_in_its_fields() -> None:
    w = make_shop()
    with pytest.raises(ProductNotFound) as caught:
        w.service.create_payment_intent(SESSION, [CartItem(BAD_ID, 1)])
    assert caught.value.fields["product_id"].startswith("'\\x1b[2J")
    with pytest.raises(ProductNotFound) as caught:
        w.service.create_payment_intent(SESSION, [CartItem("p_nope", 1)])
    assert caught.value.fields == {"product_id": "p_nope"}  # an ordinary id as it is


def test_an_unknown_seller_is_shown_in_the_fields() -> None:
    w = make_shop()
    with pytest.raises(PaycoreError) as caught:
        w.service.set_charges_enabled(BAD_ID, False)
    _fields_are_short(caught.value)
    assert caught.value.fields["seller_id"].startswith("'\\x1b[2J")


@pytest.mark.parametrize("amount", [-5, 0, 10**400, -(10**400), 100_000_000, 1.5, "12"])
def test_every_refused_amount_is_shown_the_same_way(amount: object) -> None:
    with pytest.raises(InvalidAmount) as caught:
        check_minor_units(amount)
    shown_amount = caught.value.fields["amount"]
    assert isinstance(shown_amount, str) and len(shown_amount) < 3 * CUT, shown_amount


def _counted(items: Iterator[object], seen: list[int]) -> Iterator[object]:
    for i, item in enumerate(items, 1):
        seen.append(i)
        yield item


def test_a_cart_past_its_line_cap_is_refused_at_the_first_line_too_many() -> None:
    config = Config(max_lines=3)
    seen: list[int] = []
    distinct = (CartItem(f"p{i}", 1) for i in range(10_000))
    with pytest.raises(InvalidInput, match="at most 3 different products"):
        normalize_cart(_counted(distinct, seen), config)
    assert len(seen) == 4


def test_raw_lines_read_are_bounded_by_the_caps() -> None:
    """However the caller repeats lines, no more than max_lines x max_quantity are read
    before a cap refuses the cart."""
    config = Config(max_lines=2, max_quantity=5)
    seen: list[int] = []
    endless = itertools.islice(itertools.cycle([CartItem("p1", 1), CartItem("p2", 1)]), 10_000)
    with pytest.raises(InvalidInput):
        normalize_cart(_counted(endless, seen), config)
    assert len(seen) <= config.max_lines * config.max_quantity + 1


def test_a_cart_at_its_caps_is_taken() -> None:
    config = Config(max_lines=2, max_quantity=5)
    cart = [CartItem("p1", 1)] * 5 + [CartItem("p2", 5)]
    assert normalize_cart(cart, config) == (CartItem("p1", 5), CartItem("p2", 5))
