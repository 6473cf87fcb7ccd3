"""MemoryStore against the store contract, plus what only the memory store promises."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any, cast

import pytest

from paycore import records as r
from paycore.errors import IntegrityError
from paycore.ports import Store
from paycore.schema import AUDIT, ORDERS
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.testing import StoreContract
from paycore_adapters.testing.store_contract import order


class TestMemoryStore(StoreContract):
    def make_store(self) -> Store:
        return MemoryStore()

    def test_stats_count_commits_and_rollbacks(self) -> None:
        """stats counts commits and rollbacks, including integrity failures."""
        store = MemoryStore()
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        with pytest.raises(ZeroDivisionError), store.transaction():
            _ = 1 / 0
        with pytest.raises(IntegrityError), store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        assert store.stats == {"commits": 1, "rollbacks": 2, "writes": 1}

    def test_fingerprint_tracks_content(self) -> None:
        """The fingerprint changes with every commit and never with reads."""
        store = MemoryStore()
        empty = store.fingerprint()
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        one = store.fingerprint()
        assert one != empty
        with store.transaction() as tx:
            list(tx.scan(ORDERS))
            tx.find(ORDERS, "status", "pending")
        assert store.fingerprint() == one
        with store.transaction() as tx:
            tx.next_seq("audit")
        assert store.fingerprint() != one
        assert len(one) == 64

    def test_sequences_roll_back(self) -> None:
        """A rolled-back transaction's sequence values are handed out again."""
        store = MemoryStore()
        with pytest.raises(KeyError), store.transaction() as tx:
            assert tx.next_seq("audit") == 1
            raise KeyError
        with store.transaction() as tx:
            assert tx.next_seq("audit") == 1

    def test_one_writer_at_a_time(self) -> None:
        """A second thread's transaction waits until the first one ends."""
        store = MemoryStore()
        seen: list[r.Order | None] = []
        started = threading.Event()

        def other() -> None:
            started.set()
            with store.transaction() as tx:
                seen.append(tx.get(ORDERS, "o1"))

        with store.transaction() as tx:
            thread = threading.Thread(target=other)
            thread.start()
            started.wait()
            time.sleep(0.05)
            assert seen == []
            tx.insert(ORDERS, order("o1"))
        thread.join(timeout=5)
        assert seen == [order("o1")]

    def test_transaction_unusable_after_block(self) -> None:
        """Using a transaction object after its block ended is a RuntimeError."""
        store = MemoryStore()
        with store.transaction() as tx:
            pass
        with pytest.raises(RuntimeError):
            tx.get(ORDERS, "o1")

    def test_programming_errors(self) -> None:
        """Wrong record type and updating a versionless table are programming errors."""
        store = MemoryStore()
        with pytest.raises(TypeError), store.transaction() as tx:
            tx.insert(ORDERS, cast(Any, r.Seller("s1", "Shop", "acct")))
        entry = r.AuditEntry(1, 1, "order", "o1", None, "pending", "create", None)
        with store.transaction() as tx:
            tx.insert(AUDIT, entry)
        with pytest.raises(ValueError), store.transaction() as tx:
            tx.update(AUDIT, entry)
        assert store.stats == {"commits": 1, "rollbacks": 2, "writes": 1}

    def test_clone_is_independent(self) -> None:
        """A clone holds the same content and sequences; later writes to either stay there."""
        store = MemoryStore()
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
            tx.next_seq("audit")
        twin = store.clone()
        assert twin.fingerprint() == store.fingerprint()
        assert twin.state_key() == store.state_key()
        with twin.transaction() as tx:
            tx.insert(ORDERS, order("o2"))
            assert tx.next_seq("audit") == 2
            assert [o.id for o in tx.find(ORDERS, "checkout_session_id", "cs_o2")] == ["o2"]
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o2") is None
            assert tx.find(ORDERS, "checkout_session_id", "cs_o2") == []
            assert tx.next_seq("audit") == 2
        assert twin.fingerprint() != store.fingerprint()
        assert copy.deepcopy(twin).fingerprint() == twin.fingerprint()

    def test_state_key_follows_content(self) -> None:
        """The state key changes with a commit and not with reads; rows can be stood for."""
        store = MemoryStore()
        empty = store.state_key()
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        key = store.state_key()
        assert key != empty
        with store.transaction() as tx:
            tx.get(ORDERS, "o1")
        assert store.state_key() == key
        tables, _ = store.state_key(lambda row: type(row).__name__)  # type: ignore[misc]
        assert ("orders", ["o1"], ["Order"]) in tables
