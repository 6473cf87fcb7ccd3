"""A checkout's input: the cart and the session id, validated before anything is written."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence

import attrs

from paycore.config import Config
from paycore.errors import EmptyCart, InvalidCheckoutSession, InvalidInput, InvalidQuantity
from paycore.shown import shown, shown_id
from paycore.unit import storable

SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


@attrs.frozen
class CartItem:
    product_id: str
    quantity: int


def normalize_cart(items: object, config: Config) -> tuple[CartItem, ...]:
    """Validate a cart and merge repeated products. Raises InvalidInput subclasses.

    Each cap refuses the cart at the line that passes it, not after the whole of what
    the caller gave: the line that makes ``max_lines + 1`` different products, or a
    product's ``max_quantity + 1``-th unit. As every line adds at least one unit, at
    most ``max_lines * max_quantity + 1`` lines are read, however long the iterable.
    A refused product id is in ``fields`` as the message shows it (:func:`shown_id`)."""
    given: Iterable[object]
    if isinstance(items, list | tuple):  # first: the ABC checks cost a Python call each
        given = items
    elif isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise InvalidInput("items must be a list of CartItem(product_id, quantity)")
    else:
        given = items
    merged: dict[str, int] = {}
    pid: object
    qty: object
    for item in given:
        if isinstance(item, CartItem):
            pid, qty = item.product_id, item.quantity
        elif isinstance(item, Mapping):
            pid, qty = item.get("product_id"), item.get("quantity")
        else:
            raise InvalidInput(f"cart item {shown_id(item)} is not a CartItem or a mapping")
        if not isinstance(pid, str) or not pid:
            raise InvalidInput(f"product_id must be a non-empty string, got {shown_id(pid)}")
        if not storable(pid):
            raise InvalidInput(
                f"product_id {shown_id(pid)} holds a NUL character or a lone surrogate, which no "
                "product id can: use the id of an existing product",
                field="product_id",
                product_id=shown_id(pid),
            )
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise InvalidQuantity(
                f"quantity of {shown_id(pid)} must be a whole number of at least 1, "
                f"got {shown(qty)}",
                product_id=shown_id(pid),
            )
        merged[pid] = merged.get(pid, 0) + qty
        if merged[pid] > config.max_quantity:
            raise InvalidQuantity(
                f"quantity of {shown_id(pid)} exceeds the limit of {config.max_quantity}",
                product_id=shown_id(pid),
            )
        if len(merged) > config.max_lines:
            raise InvalidInput(f"a cart holds at most {config.max_lines} different products")
    if not merged:
        raise EmptyCart("the cart is empty: add at least one item before paying")
    return tuple(CartItem(pid, qty) for pid, qty in sorted(merged.items()))


def check_session_id(session_id: object) -> str:
    if not isinstance(session_id, str) or not SESSION_RE.fullmatch(session_id):
        raise InvalidCheckoutSession(
            "checkout_session_id must be 16 to 128 characters of letters, digits, '_' or '-'; "
            "generate one random id per checkout",
        )
    return session_id


def fingerprint(cart: Sequence[CartItem]) -> str:
    """What tells a checkout session's cart from another: a SHA-256 of the normalized
    cart, equal for two carts only when they are the same.

    ``pid x qty`` lines joined by ``;`` read one way only while no product id holds a
    ``;`` (a quantity is digits, so the last ``x`` of a line ends its id): that encoding
    is kept for such carts, so the fingerprint an order stored before this rule still
    matches its cart. A cart with a ``;`` in an id is hashed as JSON after a NUL, which
    the other encoding never holds (no product id has one), so neither collides:
    ``[a x1, b x2]`` and ``["ax1;b" x2]`` both read ``ax1;bx2`` joined."""
    if any(";" in i.product_id for i in cart):
        text = "\x00" + json.dumps([[i.product_id, i.quantity] for i in cart])
    else:
        text = ";".join(f"{i.product_id}x{i.quantity}" for i in cart)
    return hashlib.sha256(text.encode()).hexdigest()
