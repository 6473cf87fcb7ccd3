"""A NUL character in text: the catalog refuses it with its validation error, and the
PostgreSQL store never lets libpq cut a value short at one (libpq sends text
parameters as C strings)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.stores.conftest import OpenStore

from paycore.errors import DataError, InvalidInput
from paycore.money import Money
from paycore.schema import ORDERS, PRODUCTS
from paycore_adapters.memory import in_memory
from paycore_adapters.sql.postgres_pipe import text_values
from paycore_adapters.testing.rows import order

NUL = "mug\x00A"


def test_text_values_never_hands_libpq_a_nul() -> None:
    """A str with NUL goes to psycopg's path (which refuses it), never libpq's."""
    assert text_values(("mug", 1)) == [b"mug", b"1"]
    assert text_values(("mug", NUL)) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.add_seller("s\x00", "Mug Shop", "acct_2"),
        lambda s: s.add_product("p_x", "s1", "SKU-X", NUL, Money(100, "EUR")),
        lambda s: s.add_product("p_x", "s1", NUL, "Mug", Money(100, "EUR")),
        lambda s: s.add_product(NUL, "s1", "SKU-X", "Mug", Money(100, "EUR")),
    ],
    ids=["seller id", "product name", "sku", "product id"],
)
def test_the_catalog_refuses_nul_and_changes_nothing(stores: OpenStore, call: Any) -> None:
    """Seller and product text with NUL is InvalidInput naming the field, on the
    PostgreSQL store too, and the store is unchanged."""
    w = in_memory(store=stores())  # type: ignore[arg-type]
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    before = w.store.fingerprint()
    with pytest.raises(InvalidInput, match="NUL") as err:
        call(w.service)
    assert err.value.fields.get("field")
    assert w.store.fingerprint() == before
    assert w.store.snapshot().tables[PRODUCTS.name] == {}


class TestTheStore:
    def test_a_write_with_nul_is_refused_whole(self, stores: OpenStore) -> None:
        """An order whose text holds NUL is refused (DataError naming NUL, not retryable),
        not stored cut short, and nothing of its transaction is kept."""
        store = stores()
        with pytest.raises(DataError, match="NUL"), store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
            tx.insert(ORDERS, order("o2", NUL))
        assert store.snapshot().tables[ORDERS.name] == {}

    def test_a_lookup_with_nul_finds_no_cut_short_value(self, stores: OpenStore) -> None:
        """Looking "mug\\x00A" up is refused: it never finds the row holding "mug"."""
        store = stores()
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1", "mug"))
        with pytest.raises(DataError, match="NUL"), store.transaction() as tx:
            tx.find(ORDERS, "checkout_session_id", NUL)
