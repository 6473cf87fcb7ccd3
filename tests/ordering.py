"""The suite's longest tests run first, so that the xdist workers finish together.

``pytest -n auto --dist worksteal`` gives each worker a contiguous share of the collected
tests and, when one runs dry, moves the tail of another's queue to it. A long test that
comes late in a worker's queue is the run's tail: the other workers have finished and wait
for it. Started first, the short tests fill in around it. So the long tests are dealt out
longest first, one to each worker's share in turn (each share starts with its own), as a
card dealer would: each worker begins with long tests and ends with short ones.

``tests/timings.json`` holds the measured seconds of the tests that took at least
``MIN_SECONDS`` in a whole run (``make timings`` writes it). Those run first, longest first;
every other test keeps its collected order. The file orders the run and decides nothing
else: a test missing from it (new, renamed) runs in its collected place, an entry naming
no test is ignored. A test that uses a module- or class-scoped fixture keeps its place
too, if other tests use that fixture: taken away from them, it would set it up again.

A mutation run turns the order round (:func:`shortest_first`): it runs a mutant's tests
one after another and stops at the first failure, so the shortest tests go first.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest

TIMINGS = Path(__file__).with_name("timings.json")
#: Tests shorter than this (in the run ``make timings`` measured) keep their place.
MIN_SECONDS = 1.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--timings-out",
        metavar="PATH",
        default=None,
        help="write the seconds of every test that took at least "
        f"{MIN_SECONDS} s to PATH (JSON, as tests/timings.json), longest first",
    )


def load_timings(path: Path = TIMINGS) -> dict[str, float]:
    if not path.exists():
        return {}
    known = json.loads(path.read_text())
    return {str(k): float(v) for k, v in known.items()}


def longest_first(
    items: list[pytest.Item], seconds: dict[str, float], workers: int = 1
) -> list[pytest.Item]:
    """The items that ``seconds`` names (and that may move) longest first, dealt out to
    the starts of the ``workers`` shares worksteal cuts the collection into; the rest
    fill the shares in their order."""
    shared = _shared_fixtures(items)
    movable = {i.nodeid for i in items if i.nodeid in seconds and not _higher_scoped(i) & shared}
    first = sorted((i for i in items if i.nodeid in movable), key=lambda i: -seconds[i.nodeid])
    rest = iter([i for i in items if i.nodeid not in movable])
    ordered: list[pytest.Item] = []
    for n, size in enumerate(_shares(len(items), max(workers, 1))):
        dealt = first[n :: max(workers, 1)]
        ordered += dealt
        ordered += itertools.islice(rest, max(size - len(dealt), 0))
    return ordered + list(rest)


def _shares(total: int, workers: int) -> list[int]:
    """The sizes of the first shares worksteal hands out (xdist ``WorkStealingScheduling``:
    each idle worker in turn gets the pending tests divided by the workers still to serve)."""
    sizes = []
    for n in range(workers):
        sizes.append((total - sum(sizes)) // (workers - n))
    return sizes


def _higher_scoped(item: pytest.Item) -> set[int]:
    """The module-, class- or package-scoped fixtures ``item`` uses (by identity)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return set()
    return {
        id(d)
        for defs in info.name2fixturedefs.values()
        for d in defs
        if d.scope in ("module", "class", "package")
    }


def _shared_fixtures(items: list[pytest.Item]) -> set[int]:
    """The higher-scoped fixtures that more than one item uses: such items stay together."""
    seen: set[int] = set()
    shared: set[int] = set()
    for item in items:
        used = _higher_scoped(item)
        shared |= used & seen
        seen |= used
    return shared


def shortest_first(items: list[pytest.Item], seconds: dict[str, float]) -> list[pytest.Item]:
    """The items by their measured seconds, shortest first (a test ``seconds`` does not
    name took under ``MIN_SECONDS``); equal ones keep their collected order."""
    return sorted(items, key=lambda i: seconds.get(i.nodeid, 0.0))


def under_mutant() -> bool:
    """Whether this run tests a mutant: mutmut names it in ``MUTANT_UNDER_TEST`` (its
    clean run leaves the variable empty, its statistics run says ``stats``)."""
    return os.environ.get("MUTANT_UNDER_TEST", "") not in ("", "stats")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if under_mutant():
        # The mutation runner stops at the first failing test (``-x``): the test that
        # kills a mutant most cheaply is the shortest one that fails, so run those first.
        items[:] = shortest_first(items, load_timings())
        return
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    items[:] = longest_first(items, load_timings(), workers)


def pytest_configure(config: pytest.Config) -> None:
    out = config.getoption("--timings-out")
    # Reports reach the process that owns the run (the xdist controller) from every worker.
    if out and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Recorder(Path(out)), "paycore-timings-recorder")


class Recorder:
    """Adds up each test's set-up, call and teardown seconds; writes them at the end."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.seconds: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self) -> None:
        slow = {k: round(v, 1) for k, v in self.seconds.items() if v >= MIN_SECONDS}
        ordered = dict(sorted(slow.items(), key=lambda kv: (-kv[1], kv[0])))
        self.out.write_text(json.dumps(ordered, indent=1) + "\n")
