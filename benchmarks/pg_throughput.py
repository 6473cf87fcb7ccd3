"""The PostgreSQL measurements of ``store_throughput.py``: paycore in worker processes,
the reference lifecycle with ``pgbench``.

The server is named by ``PAYCORE_BENCH_POSTGRES_DSN`` (a connection string to a
maintenance database): each measurement makes a database of its own there and drops
it afterwards. Both sides run on the same server with its durability settings as they
are (``synchronous_commit`` and ``fsync`` are the server's: the report says which).

* **paycore** -- ``workers`` spawned processes, each its own
  :class:`paycore.service.PaymentService` on its own
  :class:`paycore_adapters.sql.postgres_store.PostgresStore` (one connection) and its
  own fake provider (a provider call costs nothing here, as in the reference), the
  shop's catalog made once by the parent. Each worker runs its warm-up lifecycles, then
  all start together; the time runs from that start until the last one ends.
* **reference** -- ``pgbench -n -f reference_lifecycle.pgbench -c W -j min(W, 2) -t N/W``
  on ``reference_schema_pg.sql``: one pgbench transaction is one lifecycle; its seconds
  are the transactions processed divided by the ``tps`` pgbench reports (without the
  initial connection time), and the paid orders are counted in the database afterwards.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core_throughput import (
    ACCOUNT,
    BenchmarkError,
    Census,
    Measurement,
    completed,
    paycore_counts,
    paycore_lifecycles,
    reference_dir,
    stock_shop,
    unfinished_flows,
)

from paycore.config import Config
from paycore.invariants import INVARIANTS
from paycore.service import PaymentService
from paycore_adapters.cli_check import run_checks
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock, RecordingAlerts, RecordingNotifier

DSN_ENV = "PAYCORE_BENCH_POSTGRES_DSN"
PGBENCH_FILE, PGBENCH_SCHEMA = "reference_lifecycle.pgbench", "reference_schema_pg.sql"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SKUS = 10
#: Eight processes buying ten SKUs at full speed meet on a handful of rows: the workers
#: run a transaction PostgreSQL refused for a conflict up to this many times (the
#: engine's default is 10), so that the figure is the store's throughput, not its refusals.
CONFLICT_RETRIES = 50


def pgbench() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    local = PG_BIN / "pgbench"
    return str(local) if local.exists() else None


def missing() -> str | None:
    """Why PostgreSQL cannot be measured here (None: it can)."""
    try:
        import paycore_adapters.sql.postgres_store  # noqa: F401
    except ImportError:
        return "no PostgreSQL store in this build (the postgresql extra)"
    if not os.environ.get(DSN_ENV):
        return f"no server: set {DSN_ENV} to a maintenance database's connection string"
    if pgbench() is None:
        return "pgbench is not installed (the reference runs on it)"
    return None


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A new database on the server; its connection string; dropped afterwards."""
    import psycopg
    from psycopg import sql

    server = os.environ[DSN_ENV]
    name = f"paycore_bench_{kind}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


def server_settings() -> str:
    import psycopg

    with psycopg.connect(os.environ[DSN_ENV]) as conn:
        got = [conn.execute(f"SHOW {k}").fetchone() for k in ("synchronous_commit", "fsync")]
    return (
        f"synchronous_commit={got[0][0] if got[0] else '?'}, fsync={got[1][0] if got[1] else '?'}"
    )


# --- paycore ---------------------------------------------------------------------------------


def _service(dsn: str, worker: str, number: int = 0) -> tuple[PaymentService, FakeProvider, Any]:
    """A service of its own, on its own fake provider whose ids (intents, refunds,
    events) start at ``number`` times ten million, so the workers' never meet."""
    from paycore_adapters.sql.postgres_store import PostgresStore

    store = PostgresStore(dsn, max_size=1)
    provider = FakeProvider(ManualClock())
    books = provider.books()
    provider.load_books({**books, "seq": {k: number * 10**7 for k in ("pi", "re", "evt")}})
    provider.set_account(ACCOUNT)
    config = Config(store_conflict_retries=CONFLICT_RETRIES)
    svc = PaymentService(
        store, provider, ManualClock(), RecordingAlerts(), RecordingNotifier(), config, worker
    )
    return svc, provider, store


def _worker(
    dsn: str, w: int, first: int, warmup: int, per: int, ready: Any, go: Any, done: Any
) -> None:
    try:
        svc, provider, store = _service(dsn, f"bench-{w + 1}", w + 1)
        paycore_lifecycles(svc, provider, first, warmup, SKUS)
        ready.put(w)
        go.wait()
        before, cpu = dict(store.stats), time.process_time()
        paycore_lifecycles(svc, provider, first + warmup, per, SKUS)
        cpu = time.process_time() - cpu
        conflicts = store.stats["conflicts"] - before.get("conflicts", 0)
        store.close()
        done.put((w, None, (cpu, conflicts)))
    except BaseException as exc:  # told to the parent, which fails the measurement
        ready.put(w)
        done.put((w, repr(exc), (0.0, 0)))


def paycore(lifecycles: int, workers: int, setting: str, warmup: int) -> Measurement:
    per = lifecycles // workers
    with database("paycore") as dsn:
        from paycore_adapters.sql.postgres_store import PostgresStore

        PostgresStore(dsn, migrate=True, max_size=1).close()
        svc, provider, store = _service(dsn, "bench-0")
        stock_shop(svc, provider, lifecycles + (warmup + 1) * workers + 10, skus=SKUS)
        paycore_lifecycles(svc, provider, 0, 1, SKUS)  # the installation row, in one place
        before = paycore_counts(store.snapshot())
        ctx = mp.get_context("spawn")
        ready, done, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = [
            ctx.Process(
                target=_worker, args=(dsn, w, 1 + w * (warmup + per), warmup, per, ready, go, done)
            )
            for w in range(workers)
        ]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=600)
        started = time.perf_counter()
        go.set()
        ended = [done.get(timeout=600) for _ in procs]
        seconds = time.perf_counter() - started
        failures = [err for _, err, _ in ended if err]
        cpu, conflicts = (sum(x[2][i] for x in ended) for i in (0, 1))
        n = per * workers
        print(
            f"  paycore on PostgreSQL, {workers} processes: {cpu / n * 1e3:.2f} ms of worker "
            f"CPU and {conflicts / n:.3f} conflicts retried per lifecycle",
            file=sys.stderr,
        )
        for p in procs:
            p.join(60)
        if failures:
            raise BenchmarkError(f"paycore on PostgreSQL: a worker failed: {failures[0]}")
        snap = store.snapshot()
        store.close()
    unfinished = unfinished_flows(snap)
    if unfinished:
        raise BenchmarkError(f"paycore on PostgreSQL: flows unfinished {unfinished[:5]}")
    safety = [i for i in INVARIANTS if i.kind == "safety"]
    found, _ = run_checks(snap, None, safety)  # the providers were the workers' own
    return completed(before, snap, per * workers, seconds, workers * warmup, len(found))


# --- the reference ---------------------------------------------------------------------------


def reference(lifecycles: int, workers: int, setting: str) -> Measurement:
    import psycopg

    per = lifecycles // workers
    bench = reference_dir()
    with database("reference") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute((bench / PGBENCH_SCHEMA).read_text(encoding="utf-8"))  # type: ignore[arg-type]
        command = [
            str(pgbench()), "-n", "-f", str(bench / PGBENCH_FILE),
            "-c", str(workers), "-j", str(min(workers, 2)), "-t", str(per), dsn,
        ]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if out.returncode != 0:
            raise BenchmarkError(f"pgbench failed: {out.stderr.strip()[-500:]}")
        done = re.search(r"actually processed: (\d+)", out.stdout)
        tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
        if done is None or tps is None:
            raise BenchmarkError(f"pgbench's output not understood: {out.stdout[-500:]}")
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*) FROM orders WHERE status = 'paid'").fetchone()
    n = int(done.group(1))
    paid = int(row[0]) if row else 0
    return Measurement("reference", n, n / float(tps.group(1)), None, paid, None, None)


# --- store work per lifecycle ----------------------------------------------------------------


def census(setting: str, lifecycles: int = 20, warmup: int = 5) -> Census:
    """paycore's store work per lifecycle on PostgreSQL, one worker: every statement its
    connection runs, counted at psycopg's cursor (``Connection.execute`` runs through
    ``Cursor.execute``; ``executemany`` counts a statement per row, as SQLite's trace
    does) and at the store's own ways to libpq (``PostgresTransaction._query``, the
    pipelines of ``postgres_pipe.run``: a transaction's first query or its writes),
    ``BEGIN``/``COMMIT`` and the session's settings left out; and the round trips to the
    server (:class:`_RoundTrips`)."""
    import psycopg

    from paycore_adapters.sql import postgres_pipe
    from paycore_adapters.sql.postgres_tx import PostgresTransaction

    seen: Counter[str] = Counter()
    trips = _RoundTrips(psycopg)

    def counting(original: Any, many: bool) -> Any:
        def execute(self: Any, query: Any, params: Any = None, *args: Any, **kw: Any) -> Any:
            text = query if isinstance(query, str) else str(query)
            rows = len(params) if many and params is not None else 1
            seen[text.split(None, 1)[0].upper()] += rows
            trips.statement(self.connection)
            return original(self, query, params, *args, **kw)

        return execute

    direct, piped = PostgresTransaction._query, postgres_pipe.run
    waited, command = postgres_pipe._results, postgres_pipe.command

    def pipeline(conn: Any, names: Any, new_name: Any, batch: Any, *args: Any) -> Any:
        for sql, _ in batch:
            seen[sql.split(None, 1)[0].upper()] += 1
        return piped(conn, names, new_name, batch, *args)

    def results(pg: Any, expected: int) -> Any:
        trips.count += 1  # a pipeline (its begin, statements and commit): one exchange
        return waited(pg, expected)

    def commit(conn: Any, sql: bytes) -> Any:
        trips.count += 1  # a commit on its own
        return command(conn, sql)

    def query(self: Any, sql: str, values: Any, begin: bool = False) -> Any:
        if not begin:  # else a pipeline, counted there
            seen[sql.split(None, 1)[0].upper()] += 1
            trips.count += 1  # inside a transaction, outside a pipeline: one exchange
        return direct(self, sql, values, begin)

    with database("census") as dsn:
        from paycore_adapters.sql.postgres_store import PostgresStore

        PostgresStore(dsn, migrate=True, max_size=1).close()
        svc, provider, store = _service(dsn, "bench-0")
        stock_shop(svc, provider, lifecycles + warmup + 10, skus=SKUS)
        paycore_lifecycles(svc, provider, 0, warmup, SKUS)
        commits, writes = store.stats["commits"], store.stats["writes"]
        originals = (psycopg.Cursor.execute, psycopg.Cursor.executemany)
        psycopg.Cursor.execute = counting(originals[0], False)  # type: ignore[method-assign]
        psycopg.Cursor.executemany = counting(originals[1], True)  # type: ignore[method-assign]
        PostgresTransaction._query = query  # type: ignore[method-assign]
        postgres_pipe.run, postgres_pipe._results = pipeline, results
        postgres_pipe.command = commit
        try:
            with trips.counting():
                paycore_lifecycles(svc, provider, warmup, lifecycles, SKUS)
        finally:
            psycopg.Cursor.execute, psycopg.Cursor.executemany = originals  # type: ignore[method-assign]
            PostgresTransaction._query = direct  # type: ignore[method-assign]
            postgres_pipe.run, postgres_pipe._results = piped, waited
            postgres_pipe.command = command
        commits, writes = store.stats["commits"] - commits, store.stats["writes"] - writes
        store.close()
    kinds = {"SELECT": "reads", "INSERT": "inserts", "UPDATE": "updates"}
    counted = {k: seen[sql] / lifecycles for sql, k in kinds.items()}
    statements = sum(
        n for sql, n in seen.items() if sql not in ("BEGIN", "COMMIT", "SET", "ROLLBACK")
    )
    return Census(
        commits / lifecycles,
        writes / lifecycles,
        statements / lifecycles,
        counted["reads"],
        counted["inserts"],
        counted["updates"],
        round_trips=trips.count / lifecycles,
    )


class _RoundTrips:
    """Round trips to the server, counted where the store waits for an answer on libpq
    (a query inside a transaction, a pipeline, a commit on its own: :func:`census`), and
    where psycopg does: a statement
    outside a pipeline, a pipeline block (``Connection.pipeline``: all its statements,
    and a commit inside it, in one exchange), a commit outside one; one more for the
    ``BEGIN`` psycopg sends on its own when a transaction starts (inside a pipeline too:
    it syncs on it)."""

    def __init__(self, psycopg: Any) -> None:
        self.psycopg, self.count = psycopg, 0

    def _begins(self, conn: Any) -> int:
        idle = conn.info.transaction_status == self.psycopg.pq.TransactionStatus.IDLE
        return int(idle and not conn.autocommit)

    def statement(self, conn: Any) -> None:
        if conn._pipeline is None:
            self.count += 1 + self._begins(conn)

    @contextmanager
    def counting(self) -> Iterator[None]:
        conn_type = self.psycopg.Connection
        pipeline, commit = conn_type.pipeline, conn_type.commit

        @contextmanager
        def counted_pipeline(conn: Any) -> Iterator[Any]:
            self.count += 1 + self._begins(conn)
            with pipeline(conn) as p:
                yield p

        def counted_commit(conn: Any) -> None:
            if conn._pipeline is None and not self._begins(conn):
                self.count += 1
            commit(conn)

        conn_type.pipeline, conn_type.commit = counted_pipeline, counted_commit
        try:
            yield
        finally:
            conn_type.pipeline, conn_type.commit = pipeline, commit
