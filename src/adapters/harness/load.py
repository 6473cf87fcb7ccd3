"""Real concurrency on a real store: many service instances, one shop, at once.

Each worker is its own :class:`~paycore.service.PaymentService` (its own engine and
worker id, as a service process would be) on the shared store, provider and clock,
and runs a bounded, seeded sequence of what a busy shop sees: checkouts of scarce
stock, many sharing a checkout session (double clicks, retried requests, another tab),
confirmations with every test card, cancels, refunds, webhooks taken from the provider
by whichever worker gets them first, and every background job. Nothing is serialized
by the harness: the store's transactions and constraints alone keep the books right.

One worker dies mid-run: its provider calls start failing after the answer was taken
(the effect happened, the answer is lost) and the worker stops where it is, leaving
its flows in flight with their leases; a new instance with a new worker id takes its
place. After the run, :func:`settle` lets time pass and runs the jobs until nothing is
in flight, and the invariants are checked, convergence included.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
from collections.abc import Callable
from typing import Any

import attrs

from paycore.config import MINUTE, Config
from paycore.errors import PaycoreError
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import PaymentProvider, Store
from paycore.service import PaymentService
from paycore.status import FlowStatus

from ..memory import ManualClock, RecordingAlerts, RecordingNotifier

SKUS = ("SKU-A", "SKU-B", "SKU-C")
METHODS = (
    "pm_card_visa",
    "pm_card_visa",
    "pm_card_chargeDeclined",
    "pm_card_threeDSecure2Required",
)


@attrs.define
class LoadReport:
    """What the workers did: calls made and how they ended, by kind."""

    calls: dict[str, int] = attrs.field(factory=dict)
    errors: dict[str, int] = attrs.field(factory=dict)
    checkouts: int = 0
    died: str | None = None

    def count(self, kind: str, error: str | None = None) -> None:
        self.calls[kind] = self.calls.get(kind, 0) + 1
        if error is not None:
            self.errors[error] = self.errors.get(error, 0) + 1


class _Dying:
    """A provider whose calls, from the ``after``-th on, take effect and then fail: the
    worker using it dies with its flows in flight."""

    def __init__(self, inner: Any, after: int) -> None:
        self.inner, self.left = inner, after

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            self.left -= 1
            if self.left < 0:
                raise _Died
            return result

        return call


class _Died(BaseException):
    """The worker's process is gone (a BaseException: nothing in paycore catches it)."""


def open_shop(service: PaymentService, provider: Any, stock: int) -> None:
    provider.set_account("acct_load")
    service.add_seller("s_load", "Load Shop", "acct_load")
    for i, sku in enumerate(SKUS):
        service.add_product(f"p{i}", "s_load", sku, sku.title(), _price(i))
        service.restock("s_load", sku, stock)


def _price(i: int) -> Money:
    return Money(1000 + 250 * i, "EUR")


def run_load(
    store: Store,
    provider: Any,
    clock: ManualClock,
    *,
    workers: int = 8,
    checkouts: int = 2000,
    sessions: int = 600,
    seed: int = 0,
    config: Config | None = None,
) -> LoadReport:
    """``workers`` threads make ``checkouts`` checkouts in total; one dies half-way and a
    new instance replaces it. Returns what they did (never raises for a paycore error:
    refusals are part of a busy shop)."""
    report = LoadReport()
    lock = threading.Lock()
    per = checkouts // workers
    barrier = threading.Barrier(workers)

    def worker(k: int, die_after: int | None) -> None:
        rng = random.Random(seed * 1000 + k)
        prov: PaymentProvider = provider if die_after is None else _Dying(provider, die_after)
        svc = _service(store, prov, clock, config, f"load-{k}")
        if k < workers:  # the first instances start together; a replacement at once
            barrier.wait()
        try:
            for _ in range(per):
                one_customer(svc, provider, clock, rng, sessions, report, lock)
        except _Died:
            report.died = f"load-{k}"
            replacement = threading.Thread(target=worker, args=(workers + k, None))
            replacement.start()
            replacement.join()

    threads = [
        threading.Thread(target=worker, args=(k, 40 if k == 0 else None)) for k in range(workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return report


def _service(
    store: Store, provider: PaymentProvider, clock: ManualClock, config: Config | None, wid: str
) -> PaymentService:
    return PaymentService(
        store, provider, clock, RecordingAlerts(), RecordingNotifier(), config, wid
    )


def one_customer(
    svc: PaymentService,
    provider: Any,
    clock: ManualClock,
    rng: random.Random,
    sessions: int,
    report: LoadReport,
    lock: threading.Lock,
) -> None:
    """A checkout, then what its customer and the shop do with it."""
    session = f"cs_load_{rng.randrange(sessions):012d}"
    cart = [CartItem(f"p{rng.randrange(len(SKUS))}", rng.randint(1, 2))]
    created = _call(report, lock, "checkout", lambda: svc.create_payment_intent(session, cart))
    with lock:
        report.checkouts += 1
    if created is not None:
        pid = created.payment_id
        roll = rng.random()
        if roll < 0.7:
            method = rng.choice(METHODS)
            paid = _call(report, lock, "confirm", lambda: svc.confirm_payment(pid, method))
            if paid is not None and paid.status == "succeeded" and rng.random() < 0.3:
                amount = rng.choice([None, 300])
                key = f"r{rng.randrange(3)}"
                _call(report, lock, "refund", lambda: svc.create_refund(pid, amount, None, key))
        elif roll < 0.85:
            _call(report, lock, "cancel", lambda: svc.cancel_payment(pid))
    for event in provider.take_events():
        _call(report, lock, "webhook", functools.partial(svc.handle_webhook, event))
    if rng.random() < 0.05:
        clock.advance(rng.choice([1_000, MINUTE, 20 * MINUTE]))
        _call(report, lock, "janitor", svc.run_janitor)
        _call(report, lock, "jobs", svc.run_jobs)


def _call(report: LoadReport, lock: threading.Lock, kind: str, fn: Callable[[], Any]) -> Any:
    try:
        result = fn()
    except PaycoreError as exc:
        with lock:
            report.count(kind, exc.code)
        return None
    with lock:
        report.count(kind)
    return result


def settle(service: PaymentService, provider: Any, clock: ManualClock, rounds: int = 40) -> int:
    """Let time pass and run webhooks and every job until a round in which nothing moved
    (no webhook, no flow left in flight, nothing for the janitor to end); the number of
    flows still active after ``rounds`` rounds (0: settled)."""
    for _ in range(rounds):
        clock.advance(20 * MINUTE)
        events = provider.take_events()
        for event in events:
            _quietly(functools.partial(service.handle_webhook, event))
        ended = _quietly(service.run_janitor)
        _quietly(service.run_jobs)
        if not events and not ended and not service.flows(FlowStatus.ACTIVE):
            return 0
    return len(service.flows(FlowStatus.ACTIVE))


def _quietly(fn: Callable[[], Any]) -> Any:
    with contextlib.suppress(PaycoreError):  # recorded by paycore; the next round goes on
        return fn()
    return None
