"""Fixtures of the PostgreSQL store's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from paycore_adapters.sql.postgres_store import PostgresStore

#: Opens a store on the test's database (migrated).
OpenStore = Callable[..., PostgresStore]


@pytest.fixture
def stores(migrated_postgres_dsn: str) -> Iterator[OpenStore]:
    """Opens stores on this test's database, migrated and empty (``max_size`` is the
    pool's, 4 unless given); closes them after."""
    opened: list[PostgresStore] = []

    def open_store(max_size: int = 4) -> PostgresStore:
        opened.append(PostgresStore(migrated_postgres_dsn, max_size=max_size))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()
