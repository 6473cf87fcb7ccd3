"""Fixtures shared by the suite; the helpers they use live in ``tests.support``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support import make_shop

from paycore_adapters.memory import Wiring

# The throwaway PostgreSQL server and the per-test database (postgres_dsn).
pytest_plugins = ["tests.postgres_server"]


@pytest.fixture
def shop() -> Iterator[Wiring]:
    w = make_shop()
    yield w
    # Every test ends with the safety invariants holding.
    bad = w.violations("safety")
    assert not bad, "\n".join(map(str, bad))
