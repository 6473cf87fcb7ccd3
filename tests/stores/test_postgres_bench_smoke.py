"""store_throughput's PostgreSQL measurements, tiny, on the suite's server: paycore in two
worker processes, the reference by pgbench, the store work counted. What they did is
checked, never how fast."""

from __future__ import annotations

import pg_throughput
import pytest

pytestmark = pytest.mark.slow


def test_both_sides_complete_their_lifecycles(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pg_throughput.DSN_ENV, postgres_server)
    assert pg_throughput.missing() is None
    mine = pg_throughput.paycore(8, 2, "server", 1).check()
    assert (mine.lifecycles, mine.orders_paid, mine.violations) == (8, 8, 0)
    ref = pg_throughput.reference(8, 2, "server").check()
    assert (ref.lifecycles, ref.orders_paid) == (8, 8)
    work = pg_throughput.census("server", lifecycles=4, warmup=1)
    assert work.transactions >= 5 and work.statements > work.transactions
    assert work.reads > 0 and work.inserts > 0 and work.updates > 0
    assert "synchronous_commit=" in pg_throughput.server_settings()
