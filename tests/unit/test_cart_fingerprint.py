"""A checkout session's cart fingerprint: two different carts never share one, and a cart
keeps the fingerprint it had before the encoding was made unambiguous (a session in
flight across an upgrade is still recognised as the same cart)."""

from __future__ import annotations

import hashlib

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support import make_shop

from paycore import errors as E
from paycore.flows.cart import CartItem, fingerprint
from paycore.money import Money
from paycore.schema import ORDERS

SESSION = "cs_test_fingerprint1"
#: The tests keep no state on their class's instance, so a runner that runs the suite
#: twice in one process (the mutation runner) may call them through a second instance.
TWICE = settings(suppress_health_check=[HealthCheck.differing_executors])


def legacy(cart: list[CartItem]) -> str:
    """The encoding before the change: ``pid x qty`` joined by ``;``, hashed."""
    text = ";".join(f"{i.product_id}x{i.quantity}" for i in cart)
    return hashlib.sha256(text.encode()).hexdigest()


class TestFingerprint:
    def test_the_review_s_two_carts_differ(self) -> None:
        """[a x1, b x2] and ["ax1;b" x2] read the same joined: their fingerprints differ."""
        one = [CartItem("a", 1), CartItem("b", 2)]
        other = [CartItem("ax1;b", 2)]
        assert legacy(one) == legacy(other)  # the ambiguity itself
        assert fingerprint(one) != fingerprint(other)

    @TWICE
    @given(
        st.lists(
            st.lists(
                st.tuples(st.text("ab;x12", min_size=1, max_size=4), st.integers(1, 12)),
                min_size=1,
                max_size=3,
                unique_by=lambda t: t[0],
            ),
            min_size=2,
            max_size=2,
        )
    )
    def test_different_carts_have_different_fingerprints(
        self, carts: list[list[tuple[str, int]]]
    ) -> None:
        """Any two normalized carts (sorted, one line per product): equal fingerprints
        only for equal carts, whatever ';' and 'x' their product ids hold."""
        one, other = ([CartItem(p, q) for p, q in sorted(c)] for c in carts)
        assert (fingerprint(one) == fingerprint(other)) == (one == other)

    @TWICE
    @given(
        st.lists(
            st.tuples(
                st.text(st.characters(blacklist_characters=";\x00"), min_size=1, max_size=6),
                st.integers(1, 10**6),
            ),
            min_size=1,
            max_size=4,
            unique_by=lambda t: t[0],
        ).map(sorted)
    )
    def test_a_cart_without_a_semicolon_keeps_its_old_fingerprint(
        self, lines: list[tuple[str, int]]
    ) -> None:
        """Where the old encoding was unambiguous (no ';' in a product id) it is kept, so a
        fingerprint stored before the change still matches the same cart."""
        cart = [CartItem(p, q) for p, q in lines]
        try:
            old = legacy(cart)
        except UnicodeEncodeError:
            return  # a lone surrogate: no cart could hold it (normalize_cart refuses it)
        assert fingerprint(cart) == old


class TestReplayAcrossTheChange:
    def test_a_session_stored_with_the_old_fingerprint_replays(self) -> None:
        """An order made before the change (its fingerprint the old encoding's), replayed
        within the session's lifetime: the same checkout, not a reused session."""
        w = make_shop()
        first = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 2)])
        with w.store.transaction() as tx:  # as the old code stored it
            order = tx.get(ORDERS, first.order_id)
            assert order is not None
            old = legacy([CartItem("p_mug", 2)])
            tx.update(ORDERS, attrs.evolve(order, cart_fingerprint=old, version=order.version + 1))
        again = w.service.create_payment_intent(SESSION, [{"product_id": "p_mug", "quantity": 2}])
        assert (again.order_id, again.replayed) == (first.order_id, True)

    def test_the_review_s_replay_is_refused(self) -> None:
        """The review's sequence: a session's second cart that read the same is refused."""
        w = make_shop()
        for pid, sku in (("a", "SKU-A"), ("b", "SKU-B"), ("ax1;b", "SKU-AB")):
            w.service.add_product(pid, "s1", sku, pid, Money(100, "EUR"))
            w.service.restock("s1", sku, 5)
        w.service.create_payment_intent(SESSION, [CartItem("a", 1), CartItem("b", 2)])
        with pytest.raises(E.CheckoutSessionReused):
            w.service.create_payment_intent(SESSION, [CartItem("ax1;b", 2)])
