"""store_throughput's PostgreSQL measurements, tiny, on the suite's server: paycore in two
worker processes, the reference by pgbench, the store work counted. What they did is
checked, never how fast."""

from __future__ import annotations

from pathlib import Path

import pg_throughput
import pytest

pytestmark = pytest.mark.slow

#: Stand-ins for the shared reference's PostgreSQL files, used only when they are not
#: beside the repository (a fresh clone elsewhere): one paid order per transaction.
STANDIN_SCHEMA = "CREATE TABLE orders(id bigserial PRIMARY KEY, status text NOT NULL);\n"
STANDIN_SCRIPT = "BEGIN;\nINSERT INTO orders(status) VALUES ('paid');\nCOMMIT;\n"


@pytest.fixture(autouse=True)
def reference_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if (pg_throughput.reference_dir() / pg_throughput.PGBENCH_FILE).is_file():
        return
    (tmp_path / pg_throughput.PGBENCH_SCHEMA).write_text(STANDIN_SCHEMA)
    (tmp_path / pg_throughput.PGBENCH_FILE).write_text(STANDIN_SCRIPT)
    monkeypatch.setenv("PAYCORE_REFERENCE_BENCH", str(tmp_path))


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
