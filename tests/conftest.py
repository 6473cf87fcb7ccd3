"""Fixtures shared by the suite; the helpers they use live in ``tests.support``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support import make_shop

from paycore_adapters.memory import Wiring

pytest_plugins = [
    # The throwaway PostgreSQL server and the per-test database (postgres_dsn).
    "tests.postgres_server",
    # Long in-memory searches made once per run for the tests that read them (shared_runs).
    "tests.shared_runs",
    # The longest tests first (tests/timings.json), so that the workers finish together.
    "tests.ordering",
]


@pytest.fixture
def shop() -> Iterator[Wiring]:
    w = make_shop()
    yield w
    # Every test ends with the safety invariants holding.
    bad = w.violations("safety")
    assert not bad, "\n".join(map(str, bad))
