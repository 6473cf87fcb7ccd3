"""The store contract's cases of a store error the caller catches inside the block: the
transaction it failed stays failed, whatever the caller does next. Mixed into
:class:`paycore_adapters.testing.StoreContract`."""

from __future__ import annotations

import contextlib

import pytest

from paycore.errors import DataError
from paycore.ports import Store
from paycore.schema import ORDERS, PAYMENTS
from paycore.status import OrderStatus, PaymentStatus

from .rows import order
from .store_rows import StoreRowCases

#: A moment no store's integer column holds (SQLite's INTEGER and PostgreSQL's bigint
#: are 64 bits): what a store refuses with DataError.
PAST_64_BITS = 10**30


class StoreErrorCases:
    """Mixed into :class:`paycore_adapters.testing.StoreContract`."""

    def test_a_store_error_caught_in_the_block_still_rolls_it_back(self, store: Store) -> None:
        """A store error that is not an integrity error (here DataError, for a moment past
        64 bits), caught by the caller inside the block, fails the transaction all the
        same: every later call raises, and leaving the block normally rolls it back whole
        and raises, keeping none of its writes (those sent to the store before the error
        included), none of its sequence draws. A store that can hold the moment answers
        it, and the block commits."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        before = StoreRowCases.state(store)
        refused: list[DataError] = []
        raises = pytest.raises(DataError) if self._refuses(store) else contextlib.nullcontext()
        with raises, store.transaction() as tx:
            tx.insert(ORDERS, order("o2"))
            tx.update(ORDERS, order("o1", status=OrderStatus.PAID, version=1))
            paid = tx.find(ORDERS, "status", OrderStatus.PAID)  # a store sends the writes
            assert [o.id for o in paid] == ["o1"]
            tx.insert(ORDERS, order("o3"))
            tx.next_seq("audit")
            try:
                tx.find_since(PAYMENTS, "status", PaymentStatus.SUCCEEDED, "created_at",
                              PAST_64_BITS)  # fmt: skip
            except DataError as exc:
                refused.append(exc)
                with pytest.raises(DataError):
                    tx.get(ORDERS, "o1")
                with pytest.raises(DataError):
                    tx.insert(ORDERS, order("o4"))
                with pytest.raises(DataError):
                    tx.next_seq("audit")
        if refused:
            assert StoreRowCases.state(store) == before
            with store.transaction() as tx:  # the store works on
                assert [o.id for o in tx.scan(ORDERS)] == ["o1"]
                assert tx.get(ORDERS, "o1") == order("o1")
        else:
            assert [o.id for o in store.snapshot().rows(ORDERS)] == ["o1", "o2", "o3"]

    @staticmethod
    def _refuses(store: Store) -> bool:
        """Does ``store`` refuse a moment past 64 bits (every store paycore ships does)?"""
        try:
            with store.transaction() as tx:
                tx.find_since(PAYMENTS, "status", "x", "created_at", PAST_64_BITS)
        except DataError:
            return True
        return False
