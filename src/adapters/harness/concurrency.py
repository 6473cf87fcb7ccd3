"""Several workers at once: threads, each with its own engine, on one store.

The model's other actions interleave flows one step at a time in one thread, so two
transactions never overlap for real and a store that does not isolate them would go
unnoticed. Here several :class:`~paycore.service.PaymentService` instances (one per
thread, each its own engine and worker id, as several service processes would be)
share the world's store, provider and clock, and run at the same moment:

- ``restock``: each worker puts units back on sale, many times; every unit must show
  in the stock afterwards (``no-lost-update``, a check of the harness: a store that
  loses updates may lose the stock movements with them, so the books still balance);
- ``double_submit``: each worker receives the same checkout (a double-clicked "pay");
- ``jobs``: each worker runs a round of every background job.

Faults are held off while the threads run: which thread would meet an armed fault is
up to the operating system, and a run must replay exactly from its seed. The model
draws only the restocking race (``MODEL_RACES``), whose end state cannot depend on
the threads' order; the others run in the test suite.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from paycore import schema as s
from paycore.errors import PaycoreError
from paycore.flows.checkout import CartItem
from paycore.invariants import Violation
from paycore.records import stock_key
from paycore.service import PaymentService

from .world import World

WORKERS = 3
RESTOCKS_PER_WORKER = 4
SWITCH_INTERVAL_S = 0.000_05
RACES = ("restock", "double_submit", "jobs")
#: The races the model draws: only those whose end state cannot depend on which thread
#: ran first, even with a flaw switched on. When a run fails, Hypothesis replays the
#: failing example and must see it fail the same way; a double submit or a jobs race
#: under a seeded bug could end either way, so they run in the tests and on demand.
MODEL_RACES = ("restock",)


def services(world: World, n: int = WORKERS) -> list[PaymentService]:
    """``n`` service instances on the world's adapters, each its own engine."""
    w = world.w
    out = []
    for k in range(n):
        adapters = (world.faulty_store, world.faulty_provider)
        svc = PaymentService(
            *adapters, w.clock, w.alerts, w.notifier, world.config, f"thread-{k + 1}"
        )
        world.coverage.watch(svc.engine)
        out.append(svc)
    return out


_POOLS: dict[int, ThreadPoolExecutor] = {}
# A forked child inherits the pools but not their threads: work it submitted would wait
# forever. The child starts pools of its own instead.
os.register_at_fork(after_in_child=_POOLS.clear)


def _pool(n: int) -> ThreadPoolExecutor:
    """``n`` threads kept for every race of ``n`` workers: starting three threads costs
    about four times what the race's own work does, and every worker must run at once
    (the barrier), so a race of ``n`` needs a pool of exactly ``n``."""
    if n not in _POOLS:
        _POOLS[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"race{n}")
    return _POOLS[n]


def race(fns: list[Callable[[], Any]]) -> list[str]:
    """Run each function in its own thread, all released at once; each one's outcome.

    A business error is an outcome (its code); anything else is re-raised here, in the
    caller's thread, once every thread has ended."""
    start = threading.Barrier(len(fns))
    outcomes: list[str] = ["?"] * len(fns)
    crashes: list[BaseException] = []

    def run(n: int, fn: Callable[[], Any]) -> None:
        start.wait()
        try:
            fn()
            outcomes[n] = "ok"
        except PaycoreError as exc:
            outcomes[n] = exc.code
        except BaseException as exc:  # reported to the caller's thread below
            crashes.append(exc)

    # Switch threads often: more overlap between transactions, and no thread waits out
    # the interpreter's default 5 ms slice at the barrier.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        running = [_pool(len(fns)).submit(run, n, fn) for n, fn in enumerate(fns)]
        for done in running:
            done.result()
    finally:
        sys.setswitchinterval(interval)
    if crashes:
        raise crashes[0]
    return outcomes


def _on_hand(world: World, sku: str) -> int:
    stock = world.view().get(s.STOCK, stock_key("s1", sku))
    return 0 if stock is None else stock.on_hand


def run_race(world: World, which: int, session_no: int = 0) -> None:
    """One race among several workers (``which`` picks it), written to the timeline."""
    name = RACES[which % len(RACES)]
    svcs = services(world)
    fns: list[Callable[[], Any]]
    committed: list[int] = []  # one entry per restock that committed (appends are atomic)
    if name == "restock":

        def restock(svc: PaymentService) -> Callable[[], None]:
            def go() -> None:
                for _ in range(RESTOCKS_PER_WORKER):
                    svc.restock("s1", "SKU-P", 1)
                    committed.append(1)

            return go

        fns = [restock(svc) for svc in svcs]
    elif name == "double_submit":
        session = world.session(session_no)
        cart = [CartItem("p_plenty", 1)]
        fns = [partial(svc.create_payment_intent, session, cart) for svc in svcs]
    else:
        fns = [svc.run_jobs for svc in svcs]
    world.count("races")
    before = _on_hand(world, "SKU-P")
    was = world.plan.enabled
    world.plan.enabled = False
    try:
        outcomes = race(fns)
    finally:
        world.plan.enabled = was
    if name == "restock":
        # The stock must show every unit of every restock that committed (a worker whose
        # store refused one for conflicts stops there). A store that lets two transactions
        # read the same row and both write it loses some, and its movements may lose the
        # same ones, so no invariant of the books sees it.
        added = _on_hand(world, "SKU-P") - before
        expected = len(committed)
        if added != expected:
            world.findings.append(
                Violation(
                    "no-lost-update",
                    "SKU-P",
                    f"{len(svcs)} workers restocked {expected} units at once; stock grew by "
                    f"{added}",
                )
            )
    # the order the threads finished in is not part of the run: only the sorted outcomes
    world.say(f"race of {len(svcs)} workers: {name} -> {', '.join(sorted(outcomes))}")
