"""Worlds on PostgreSQL: a dropped world's database is emptied and serves the next world."""

from __future__ import annotations

import gc

import pytest

from paycore import Money
from paycore.config import Config
from paycore_adapters.harness.stores import worlds_on

pytestmark = pytest.mark.slow


def test_a_dropped_worlds_store_is_emptied_and_reused(postgres_server: str) -> None:
    """The next world gets the store of a world that is gone, holding what a new database
    holds (rows, sequences, write counts), and works like one."""
    with worlds_on("postgresql", postgres_server) as wiring:
        first = wiring(Config())
        svc = first.service
        svc.add_seller("s1", "Shop", "acct_1")
        svc.add_product("p1", "s1", "SKU-1", "Mug", Money(1000, "EUR"))
        svc.restock("s1", "SKU-1", 3)
        used = first.store
        assert used.table_versions() != {name: 0 for name in used.table_versions()}
        del first, svc
        gc.collect()
        second = wiring(Config())
        assert second.store is used
        third = wiring(Config())  # a new database: nothing to reuse while second lives
        assert third.store is not used
        fresh = third.store
        assert used.state_key() == fresh.state_key()
        assert used.table_versions() == fresh.table_versions()
        assert used.stats == fresh.stats
        for w in (second, third):
            w.service.add_seller("s1", "Shop", "acct_1")
            w.service.add_product("p1", "s1", "SKU-1", "Mug", Money(1000, "EUR"))
            w.service.restock("s1", "SKU-1", 3)
        assert used.state_key() == fresh.state_key()
