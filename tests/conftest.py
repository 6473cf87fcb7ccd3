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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failure's report as text the test workers can send: a lone surrogate in it (the
    bad-input tests feed them to every entry point) fails UTF-8 encoding and crashed the
    worker (an INTERNALERROR instead of the failure); it is written escaped instead."""
    outcome = yield
    report = outcome.get_result()
    if report.longrepr is None:
        return
    text = str(report.longrepr)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        report.longrepr = text.encode("utf-8", "backslashreplace").decode("utf-8")
