"""Eight OS processes, each its own service instance with its own connections, make
2,000 checkouts of three scarce SKUs on one PostgreSQL database, many on shared
sessions, with confirms, cancels, refunds, webhooks and jobs in every one; one process
is killed with SIGKILL part-way and a new one takes its place. Afterwards, settled, no
invariant is violated (`paycore check` too) and nothing is left in flight."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest
from tests.postgres_server import url_of

from paycore.invariants import Ledger, check
from paycore.service import PaymentService
from paycore_adapters.cli import main
from paycore_adapters.harness.load import open_shop, settle
from paycore_adapters.harness.processes import run_processes, start_shared
from paycore_adapters.memory import RecordingAlerts, RecordingNotifier
from paycore_adapters.sql.postgres_store import PostgresStore

pytestmark = pytest.mark.slow


def test_eight_processes_one_killed_keep_every_invariant(postgres_dsn: str) -> None:
    store = PostgresStore(postgres_dsn, migrate=True, max_size=2)
    shared = start_shared()
    try:
        provider, clock = shared.provider(), shared.clock()  # type: ignore[attr-defined]
        admin = PaymentService(
            store, provider, clock, RecordingAlerts(), RecordingNotifier(), None, "admin"
        )
        open_shop(admin, provider, stock=40)

        run = run_processes(shared, postgres_dsn, workers=8, checkouts=2000, sessions=600)

        assert run.exit_codes[run.killed] == -9
        assert all(code == 0 for name, code in run.exit_codes.items() if name != run.killed)
        assert run.counts["checkouts"] >= 2000 - 250  # the killed one told what it did
        for kind in ("checkout", "confirm", "cancel", "refund", "webhook", "jobs"):
            assert run.counts.get(f"call:{kind}", 0) > 0, run.counts
        assert run.counts.get("error:out_of_stock", 0) > 0
        assert run.counts.get("error:checkout_session_reused", 0) > 0
        assert settle(admin, provider, clock) == 0
        ledger = Ledger(provider.intents(), provider.refunds(), clock.now())
        assert check(store.snapshot(), ledger, ("safety", "convergence")) == []
        out = io.StringIO()
        with redirect_stdout(out):
            assert main(["check", "--store", url_of(postgres_dsn), "--all"]) == 0
        assert ", 0 violations;" in out.getvalue()
    finally:
        store.close()
        shared.shutdown()
