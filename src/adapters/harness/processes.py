"""Real concurrency across processes: service instances in OS processes on one database.

The provider and the clock every instance talks to live in one more process, served
to the others by :mod:`multiprocessing.managers` over a local socket (the provider's
answers and errors travel pickled, as a real provider's travel over the wire). Each
worker process is its own :class:`~paycore.service.PaymentService` with its own store
connections, running :func:`~paycore_adapters.harness.load.one_customer` a bounded
number of times. :func:`run_processes` kills one worker with ``SIGKILL`` part-way
(nothing of it runs again: no ``finally``, no rollback but the database's own) and
starts a new instance in its place.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Mapping
from multiprocessing.managers import BaseManager
from typing import Any

import attrs

from paycore.errors import PaycoreError
from paycore.service import PaymentService

from ..fake_provider import FakeProvider
from ..memory import ManualClock, RecordingAlerts, RecordingNotifier
from .load import LoadReport, one_customer

_CLOCK: ManualClock | None = None
_PROVIDER: FakeProvider | None = None
_TALLY: Tally | None = None


class Tally:
    """What every worker did, added up in the manager's process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, counts: dict[str, int]) -> None:
        with self._lock:
            self.counts.update(counts)

    def get(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


def _clock() -> ManualClock:
    global _CLOCK
    if _CLOCK is None:
        _CLOCK = ManualClock()
    return _CLOCK


def _provider() -> _OnTheWire:
    global _PROVIDER
    if _PROVIDER is None:
        _PROVIDER = FakeProvider(_clock())
    return _OnTheWire(_PROVIDER)


class _OnTheWire:
    """The fake as the other processes reach it: its answers and errors in a form that
    pickles (the fake keeps metadata in read-only mapping views, which do not)."""

    def __init__(self, fake: FakeProvider) -> None:
        self._fake = fake

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._fake, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return _plain(fn(*args, **kwargs))
            except PaycoreError as exc:
                exc.fields = {k: _plain(v) for k, v in exc.fields.items()}
                raise

        return call


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if attrs.has(type(value)) and isinstance(getattr(value, "metadata", None), Mapping):
        return attrs.evolve(value, metadata=dict(value.metadata))
    return value


def _tally() -> Tally:
    global _TALLY
    if _TALLY is None:
        _TALLY = Tally()
    return _TALLY


class Shared(BaseManager):
    """Serves the one provider, clock and tally of a run."""

    #: The key a worker connects with (the manager's own copy is private to it).
    key: bytes = b""


#: What the other processes may call on the fake: its public methods.
_EXPOSED = tuple(
    name
    for name in dir(FakeProvider)
    if not name.startswith("_") and callable(getattr(FakeProvider, name))
)
Shared.register("provider", callable=_provider, exposed=_EXPOSED)
Shared.register("clock", callable=_clock)
Shared.register("tally", callable=_tally)


@attrs.frozen
class ProcessRun:
    """What :func:`run_processes` saw: the tally of calls and errors, who was killed."""

    counts: dict[str, int]
    killed: str
    exit_codes: dict[str, int | None]


def _worker(
    address: Any, authkey: bytes, dsn: str, name: str, customers: int, seed: int, sessions: int
) -> None:
    from ..sql.postgres_store import PostgresStore

    shared = Shared(address=address, authkey=authkey)
    shared.connect()
    provider, clock, tally = shared.provider(), shared.clock(), shared.tally()  # type: ignore[attr-defined]
    store = PostgresStore(dsn, max_size=2)
    svc = PaymentService(store, provider, clock, RecordingAlerts(), RecordingNotifier(), None, name)
    rng, report, lock = random.Random(seed), LoadReport(), threading.Lock()
    for n in range(customers):
        one_customer(svc, provider, clock, rng, sessions, report, lock)
        if n % 10 == 9:  # told as it goes: a killed worker's calls count up to its last ten
            tally.add(_counts(report))
            report = LoadReport()
    tally.add(_counts(report))
    store.close()


def _counts(report: LoadReport) -> dict[str, int]:
    return {
        "checkouts": report.checkouts,
        **{f"call:{k}": v for k, v in report.calls.items()},
        **{f"error:{k}": v for k, v in report.errors.items()},
    }


def run_processes(
    shared: Shared,
    dsn: str,
    *,
    workers: int = 8,
    checkouts: int = 2000,
    sessions: int = 600,
    kill_after_s: float = 3.0,
    timeout_s: float = 600.0,
) -> ProcessRun:
    """``workers`` processes make ``checkouts`` checkouts in total on the database at
    ``dsn``; the first is killed with SIGKILL after ``kill_after_s`` and a new one takes
    its share. ``shared`` is a started :class:`Shared` (the caller keeps the provider
    and the clock for settling and checking afterwards)."""
    ctx = mp.get_context("spawn")
    per = checkouts // workers
    address, authkey = shared.address, shared.key

    def start(name: str, seed: int) -> Any:
        args = (address, authkey, dsn, name, per, seed, sessions)
        proc = ctx.Process(target=_worker, args=args, name=name)
        proc.start()
        return proc

    procs = {f"proc-{k}": start(f"proc-{k}", k) for k in range(workers)}
    time.sleep(kill_after_s)
    victim = procs["proc-0"]
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(timeout_s)
    procs[f"proc-{workers}"] = start(f"proc-{workers}", workers)
    deadline = time.monotonic() + timeout_s
    for proc in procs.values():
        proc.join(max(0.0, deadline - time.monotonic()))
    alive = [name for name, proc in procs.items() if proc.is_alive()]
    for name in alive:
        procs[name].kill()
    if alive:
        raise TimeoutError(f"worker processes still running after {timeout_s} s: {alive}")
    codes = {name: proc.exitcode for name, proc in procs.items()}
    return ProcessRun(shared.tally().get(), "proc-0", codes)  # type: ignore[attr-defined]


def start_shared() -> Shared:
    """A started manager serving one provider, clock and tally (stop it with
    ``shutdown()``); its socket is a local one, its key random."""
    key = secrets.token_bytes(16)
    shared = Shared(address=("127.0.0.1", 0), authkey=key, ctx=mp.get_context("spawn"))
    shared.key = key
    shared.start()
    return shared
