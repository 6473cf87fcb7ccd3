"""One in-memory exploration for every test of a pytest run that reads it.

Several tests read the same deterministic in-memory search: a scenario explored alone is
a test of its own, and the reference its SQLite search is compared with, and one of the
parts that ``test_one_search_over_every_scenario_counts_what_the_parts_count`` adds up;
two scenarios explored together are read by that test and by the fork-against-replay
test. The ``shared_runs`` fixture makes such a search once per run: the first test that
asks makes it, the others, on any xdist worker, read its result. The explorer is
deterministic (``test_runs_are_deterministic`` makes its own runs and compares them), so
a test reads exactly what it would have computed; each gets a copy of its own. The
SQLite and PostgreSQL chaos runs compare with one in-memory chaos run, shared the same way.

Across xdist workers the result goes through the run's temporary directory, under a lock:
a worker that asks while another is making the search waits for it instead of making it
a second time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from paycore_adapters.harness.explore import ExploreReport, explore
from paycore_adapters.harness.runner import ChaosReport, run_chaos

T = TypeVar("T")


class SharedRuns:
    """Results made once per pytest run, kept pickled (in this process and, with xdist,
    in ``directory`` for the other workers)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._made: dict[str, bytes] = {}

    def explore(
        self, *, flows: int, faults: int, only: Sequence[str] | None = None
    ) -> ExploreReport:
        """``explore(flows=..., faults=..., only=...)`` in memory, made once per run."""
        scenarios = None if only is None else list(only)
        key = f"explore flows={flows} faults={faults} only={scenarios}"
        report = self._get(key, lambda: explore(flows=flows, faults=faults, only=scenarios))
        assert isinstance(report, ExploreReport)
        return report

    def chaos(self, *, seed: int, examples: int) -> ChaosReport:
        """``run_chaos(seed=..., examples=...)`` in memory, made once per run: the run the
        SQLite and PostgreSQL harness tests compare theirs with."""
        key = f"chaos seed={seed} examples={examples}"
        report = self._get(key, lambda: run_chaos(seed=seed, examples=examples))
        assert isinstance(report, ChaosReport)
        return report

    def _get(self, key: str, make: Callable[[], T]) -> T:
        if key not in self._made:
            self._made[key] = self._shared(key, make) if self.directory else pickle.dumps(make())
        value: T = pickle.loads(self._made[key])  # a copy per test: none sees another's edits
        return value

    def _shared(self, key: str, make: Callable[[], T]) -> bytes:
        assert self.directory is not None
        name = hashlib.sha256(key.encode()).hexdigest()[:20]
        done = self.directory / f"{name}.pickle"
        with (self.directory / f"{name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not done.exists():
                partial = done.with_suffix(".partial")
                partial.write_bytes(pickle.dumps(make()))
                partial.rename(done)
            return done.read_bytes()


@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory: pytest.TempPathFactory) -> SharedRuns:
    """Long in-memory runs made once per pytest run and read by every test that needs them."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return SharedRuns(None)  # one process: its own memory is the whole run's
    # The workers of one run share the parent of their base temporary directories.
    directory = tmp_path_factory.getbasetemp().parent / "shared-runs"
    directory.mkdir(exist_ok=True)
    return SharedRuns(directory)
