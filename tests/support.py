"""Test helpers shared by the suite: a small shop on the in-memory wiring, step-level
drivers, and checks. A module of its own (not ``conftest``) so that tests import it like
any other code; ``conftest.py`` keeps the fixtures."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from paycore import schema as s
from paycore.config import Config
from paycore.flows.checkout import CartItem
from paycore.invariants import Violation, check
from paycore.money import Money
from paycore.ports import Clock, RefundView, Snapshot
from paycore.records import Flow
from paycore.status import FlowStatus
from paycore_adapters.cli import main
from paycore_adapters.harness.bugs import BUGS
from paycore_adapters.harness.faulty import FaultyProvider, FaultyStore
from paycore_adapters.harness.runner import ChaosReport, run_chaos
from paycore_adapters.harness.stories import lag_search
from paycore_adapters.memory import Wiring, in_memory

SESSION = "cs_test_0000000001"
SESSION_2 = "cs_test_0000000002"


class Skewed:
    """A clock ``off`` ms from ``real`` (positive: ahead)."""

    def __init__(self, real: Clock, off: int) -> None:
        self.real, self.off = real, off

    def now(self) -> int:
        return self.real.now() + self.off


def faultable(w: Wiring) -> Wiring:
    """``w`` with fault wrappers in place of its store and provider, for its service and
    for whatever a test builds from ``w.store`` and ``w.provider`` later: a test sets
    ``w.store.faults`` and ``w.provider.fault`` (no faults until then)."""
    eng = w.service.engine
    w.store = eng.store = FaultyStore(w.store)  # type: ignore[assignment]
    w.provider = eng.provider = FaultyProvider(w.provider)  # type: ignore[assignment]
    return w


def make_shop(stock: int = 5, config: Config | None = None) -> Wiring:
    """One seller (acct_1) with a mug (p_mug, SKU-MUG, 12.50 EUR) and a tee (p_tee)."""
    w = mug_shop(faultable(in_memory(config)), stock)
    w.service.add_product("p_tee", "s1", "SKU-TEE", "Tee", Money(2000, "EUR"))
    w.service.restock("s1", "SKU-TEE", stock)
    return w


def mug_shop(w: Wiring, stock: int = 10) -> Wiring:
    """``w`` with one seller (s1, account acct_1) and ``stock`` mugs (p_mug, SKU-MUG,
    12.50 EUR): the shop of the tests that build their wiring on a store of their own."""
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.service.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    w.service.restock("s1", "SKU-MUG", stock)
    return w


def mug(w: Wiring) -> tuple[int, int, int]:
    """(on hand, held, committed) of the mug."""
    row = w.store.snapshot().get(s.STOCK, "s1/SKU-MUG")
    assert row is not None
    return row.on_hand, row.held, row.committed


# --- step-level drivers (the harness's scheduler does this with Hypothesis) -------


def begin_checkout(w: Wiring, session: str = SESSION, qty: int = 1, product: str = "p_mug") -> str:
    """Run only the first step of create_payment_intent; return the flow id (stepped as
    the request steps it: ``chain``)."""
    return w.service.start_checkout(session, [CartItem(product, qty)], chain=True)


def begin_confirm(w: Wiring, payment_id: str, pm: str = "pm_card_visa") -> str | None:
    return w.service.start_confirm(payment_id, pm)


def begin_cancel(w: Wiring, payment_id: str) -> str | None:
    return w.service.start_cancel(payment_id)


def step(w: Wiring, flow_id: str, n: int = 1) -> None:
    for _ in range(n):
        w.service.engine.step(flow_id)


def run(w: Wiring, flow_id: str) -> Flow:
    """Step until the flow ends (bounded)."""
    for _ in range(100):
        flow = flow_of(w, flow_id)
        if flow.status is not FlowStatus.ACTIVE and not w.service.engine.has_inflight(flow_id):
            return flow
        w.service.engine.step(flow_id)
    raise AssertionError(f"flow {flow_id} did not end")


def flow_of(w: Wiring, flow_id: str) -> Flow:
    flow = w.store.snapshot().get(s.FLOWS, flow_id)
    assert flow is not None
    return flow


def deliver_webhooks(w: Wiring) -> list[str]:
    return [w.service.handle_webhook(ev) for ev in w.provider.take_events()]


def quiesce(w: Wiring, rounds: int = 5) -> None:
    """Faults off: deliver webhooks and run every job until nothing changes."""
    w.provider.fault = None
    w.store.faults = None
    for _ in range(rounds):
        deliver_webhooks(w)
        w.clock.advance(w.service.config.backoff_cap_ms + w.service.config.lease_ms)
        report = w.service.run_jobs()
        assert report.ok, f"with faults off, jobs failed: {report.failed}"
    deliver_webhooks(w)


def safe(w: Wiring) -> None:
    """The safety invariants hold now."""
    bad = w.violations("safety")
    assert not bad, "\n".join(map(str, bad))


def converged(w: Wiring) -> None:
    """Once quiet, every invariant holds, convergence included."""
    quiesce(w)
    bad = w.violations()
    assert not bad, "\n".join(map(str, bad))


def lagging_search(w: Wiring, lag_ms: int = 60_000) -> None:
    """Stripe's search is eventually consistent: hide intents younger than ``lag_ms``."""
    lag_search(w, lag_ms)


def record_refund_calls(w: Wiring) -> list[dict[str, Any]]:
    """Wrap the provider's create_refund to record every request paycore sends it."""
    sent: list[dict[str, Any]] = []
    real = w.provider.create_refund

    def create_refund(
        intent_id: str,
        *,
        amount: int,
        reason: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> RefundView:
        sent.append(
            {
                "intent_id": intent_id,
                "amount": amount,
                "reason": reason,
                "metadata": dict(metadata),
                "idempotency_key": idempotency_key,
            }
        )
        return real(
            intent_id,
            amount=amount,
            reason=reason,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )

    w.provider.create_refund = create_refund  # type: ignore[method-assign]
    return sent


@contextmanager
def loaded_script(path: Path, name: str) -> Iterator[ModuleType]:
    """Import a script that is not a package module (a benchmark), for the duration."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def with_config(w: Wiring, **changes: Any) -> Wiring:
    """Change the wiring's configuration in place (e.g. ``retry_horizon_ms=0`` to make
    the first transient failure exhaust a flow's retries)."""
    cfg = attrs.evolve(w.service.config, **changes)
    w.service.config = cfg
    w.service.engine.config = cfg
    return w


def installation_of(w: Wiring) -> str:
    """The shop's installation id (every provider object its paycore makes carries it)."""
    return w.service.installation_id()


def made_here(w: Wiring, **metadata: str) -> dict[str, str]:
    """Metadata of an intent this installation made that no payment records (a lost
    create): the reconciler's to end. Without it an intent is not paycore's at all."""
    return {**metadata, "paycore_installation": installation_of(w)}


def hunt(bug_id: str, seeds: int = 4) -> ChaosReport:
    """Default chaos runs with the seeded bug switched on, on the first ``seeds`` seeds
    until one finds something: the report of that run (or of the last one). A run ends
    once it found what the bug breaks (``stop_at``): whether it finds it is the question."""
    for seed in range(seeds):
        report = run_chaos(seed=seed, bug=bug_id, shrink=False, stop_at=BUGS[bug_id].expected)
        if report.violations or report.error:
            break
    return report


def run_shape(report: ChaosReport) -> tuple[object, ...]:
    """What a chaos run did, apart from its time: equal for the same seed on any store."""
    return (
        report.rules,
        report.checks,
        report.examples_run,
        report.faults,
        report.counts,
        report.steps_reached,
        report.transitions_reached,
    )


def cli(*argv: str) -> tuple[int, str, str]:
    """Run the ``paycore`` command line in process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@contextmanager
def serve_app(app: Any, root_path: str = "") -> Iterator[int]:
    """``app`` (ASGI) served by uvicorn on a loopback port of its own, in a thread; its
    port. ``root_path``: the mount point a proxy strips, as ``uvicorn --root-path`` gives."""
    import threading
    import time

    import uvicorn

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", root_path=root_path
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):  # bounded: at most 10 s for the server to bind
        if server.started:
            break
        time.sleep(0.02)
    assert server.started, "the app's server did not start"
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def bulk_copy_violations(snap: Snapshot, w: Wiring) -> list[Violation]:
    """The safety and convergence violations of a store holding bulk copies of one
    lifecycle (the janitor benchmark's). The copies' intents are the store's alone: the
    provider's books hold the template's. So ``recorded-intent-exists`` must name exactly
    the payments whose intent the books do not hold; the other violations are returned."""
    bad = check(snap, w.ledger(), ("safety", "convergence"))
    known = {v.id for v in w.provider.intents()}
    copies = {p.id for p in snap.rows(s.PAYMENTS) if p.provider_intent_id not in known}
    assert copies, "the store holds no copy"
    assert {v.subject for v in bad if v.invariant == "recorded-intent-exists"} == copies
    return [v for v in bad if v.invariant != "recorded-intent-exists"]
