"""Several workers in threads, each its own engine, on one store: races the model runs."""

from __future__ import annotations

import os
import threading
import time
from typing import Any, TypeVar, cast

import attrs

from paycore import schema as s
from paycore.config import Config
from paycore.records import stock_key
from paycore.schema import Table
from paycore.service import PaymentService
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.harness import concurrency
from paycore_adapters.harness.concurrency import RACES, RESTOCKS_PER_WORKER, WORKERS
from paycore_adapters.harness.model import PaycoreMachine
from paycore_adapters.harness.runner import run_chaos
from paycore_adapters.harness.world import World
from paycore_adapters.memory import ManualClock, RecordingAlerts, RecordingNotifier, Wiring
from paycore_adapters.memory_store import MemoryStore, MemoryTransaction, _Scope

T = TypeVar("T")


class _BlindTransaction(MemoryTransaction):
    """Writes over whatever is stored by the time it writes: no version check."""

    def update(self, table: Table[T], record: T) -> None:
        if threading.active_count() > 1:
            time.sleep(0.001)  # in a race, the others read what this one is about to write
        stored = self.get(table, table.key_of(record))
        if stored is not None:
            record = attrs.evolve(record, version=cast(Any, stored).version + 1)  # type: ignore[misc]
        super().update(table, record)


class _EarlyRelease(_Scope):
    """Gives the store's lock back as soon as the transaction opens, and writes blindly:
    its reads and its writes no longer happen as one (a lost-update store)."""

    def __enter__(self) -> MemoryTransaction:
        super().__enter__()
        self.tx = tx = _BlindTransaction(self.store)
        self.store._owner = self.store._open = None
        self.store._lock.release()
        return tx

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.store._lock.acquire()
        super().__exit__(exc_type, exc, tb)


class LostUpdateStore(MemoryStore):
    def transaction(self) -> _Scope:
        return _EarlyRelease(self)


def lost_update_wiring(config: Config) -> Wiring:
    clock = ManualClock()
    store = LostUpdateStore()
    provider = FakeProvider(clock)
    alerts, notifier = RecordingAlerts(), RecordingNotifier()
    service = PaymentService(store, provider, clock, alerts, notifier, config)
    return Wiring(service, store, provider, clock, alerts, notifier)


def on_hand(world: World, sku: str) -> int:
    stock = world.view().get(s.STOCK, stock_key("s1", sku))
    assert stock is not None
    return stock.on_hand


class TestRaces:
    def test_restocking_workers_lose_no_unit(self) -> None:
        """Every unit each worker puts back is counted, and the books still balance."""
        world = World()
        before = on_hand(world, "SKU-P")
        for _ in range(5):
            concurrency.run_race(world, RACES.index("restock"))
        assert on_hand(world, "SKU-P") == before + 5 * WORKERS * RESTOCKS_PER_WORKER
        assert world.violations(("safety",)) == []

    def test_a_double_submitted_checkout_makes_one_order(self) -> None:
        """The same checkout sent to every worker at once: one order; each answer is ok,
        or, from a worker that met the flow while another one held its lease (and so sent
        nothing), flow_pending (poll or retry); at least one is ok."""
        world = World()
        concurrency.run_race(world, RACES.index("double_submit"), 2)
        orders = [o for o in world.view().rows(s.ORDERS)]
        assert [o.checkout_session_id for o in orders] == [world.session(2)]
        answers = world.timeline[-1].split("double_submit -> ")[1].split(", ")
        assert len(answers) == 3 and set(answers) <= {"ok", "flow_pending"}
        assert "ok" in answers
        assert world.violations(("safety",)) == []

    def test_workers_running_jobs_at_once_converge(self) -> None:
        """Every worker running every job at once leaves nothing broken."""
        world = World()
        world.shop(0, 1, 1, 0)
        world.begin_checkout(1, 1, 1)
        world.advance(2)  # past the reservation's lifetime: the janitor has work
        concurrency.run_race(world, RACES.index("jobs"))
        assert world.quiesce()
        assert world.violations(("safety", "convergence")) == []

    def test_every_worker_steps_are_counted_in_coverage(self) -> None:
        """Steps run by the workers' own engines count towards step coverage."""
        world = World()
        concurrency.run_race(world, RACES.index("double_submit"), 0)
        assert world.coverage.steps["checkout.create"] >= 1

    def test_a_forked_child_runs_races_on_pools_of_its_own(self) -> None:
        """A process forked after a race (a test runner forking workers) can race too: it
        does not wait on the parent's pool threads, which the child does not have."""
        assert concurrency.race([lambda: None, lambda: None]) == ["ok", "ok"]
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only if its own race finished
            code = 0 if concurrency.race([lambda: None, lambda: None]) == ["ok", "ok"] else 1
            os._exit(code)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child's race never finished")
        assert os.waitstatus_to_exitcode(status) == 0


def test_a_store_that_releases_its_lock_before_writing_is_caught() -> None:
    """Lost updates: with the lock given back early, restocks overwrite each other and
    the race reports the units that went missing (retried: it is a race after all)."""
    world = World(wiring=lost_update_wiring)
    found = []
    for _ in range(20):
        concurrency.run_race(world, RACES.index("restock"))
        found = [v.invariant for v in world.violations(("safety",))]
        if found:
            break
    assert "no-lost-update" in found


class LostUpdateShop(PaycoreMachine):
    def make_world(self) -> World:
        return World(wiring=lost_update_wiring)


def test_the_model_catches_the_lost_update_store() -> None:
    """The chaos model's races find the broken store on their own."""
    report = run_chaos(seed=0, examples=200, steps=40, machine=LostUpdateShop, shrink=False)
    assert "no-lost-update" in {v.invariant for v in report.violations}, report.error
    assert report.error is None
