"""MemoryStore.table_rows: one table's committed rows, as a snapshot would give them."""

from __future__ import annotations

from paycore.schema import ORDERS, PAYMENTS
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.testing.store_contract import order


class TestTableRows:
    def test_equals_the_snapshots_table(self) -> None:
        """The rows and their order are the snapshot's; an unknown table has none."""
        store = MemoryStore()
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o2"))
            tx.insert(ORDERS, order("o1"))
        rows = store.table_rows(ORDERS.name)
        assert list(rows.items()) == list(store.snapshot().tables[ORDERS.name].items())
        assert store.table_rows(PAYMENTS.name) == {}
        assert store.table_rows("no_such_table") == {}

    def test_is_shared_until_the_table_is_written(self) -> None:
        """The copy is made once per change: the next snapshot and the next call share
        it, and a write to another table leaves it shared; a write to it makes a new one."""
        store = MemoryStore()
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        rows = store.table_rows(ORDERS.name)
        assert store.snapshot().tables[ORDERS.name] is rows
        assert store.table_rows(ORDERS.name) is rows
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o2"))
        after = store.table_rows(ORDERS.name)
        assert after is not rows and list(after) == ["o1", "o2"] and list(rows) == ["o1"]
        assert store.snapshot().tables[ORDERS.name] is after

    def test_leaves_out_the_open_transactions_writes(self) -> None:
        """Inside a transaction that wrote, only committed rows are given (as snapshot())."""
        store = MemoryStore()
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
            assert store.table_rows(ORDERS.name) == {}
        assert list(store.table_rows(ORDERS.name)) == ["o1"]

    def test_a_clone_keeps_its_own_copies(self) -> None:
        """A clone gives the same rows and, once written, its own new copy."""
        store = MemoryStore()
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        rows = store.table_rows(ORDERS.name)
        twin = store.clone()
        assert twin.table_rows(ORDERS.name) == rows
        with twin.transaction() as tx:
            tx.insert(ORDERS, order("o2"))
        assert list(twin.table_rows(ORDERS.name)) == ["o1", "o2"]
        assert list(store.table_rows(ORDERS.name)) == ["o1"]
