"""The streamed snapshot ``paycore check`` reads a SQL store through
(:mod:`paycore_adapters.sql.streamed`), on SQLite and on PostgreSQL: the invariants find
what they find on a snapshot loaded whole, hand-broken rows included; the rows come in
batches through cursors while what the view holds at once stays bounded (counted, not
timed); and it is one consistent read, blind to what commits after it began."""

from __future__ import annotations

import io
import math
import sqlite3
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import psycopg
import pytest
from core_throughput import PAYMENT_METHOD, PRODUCT_ID, paycore_lifecycles, session_id, stock_shop
from tests.stores.test_postgres_urls import as_url

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.invariants import Violation, check
from paycore.status import OrderStatus
from paycore_adapters.cli import main
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.sql.sqlite_store import SQLiteStore

BOTH = ("safety", "convergence")
#: A small batch and cache, so that a day's tables are many times bigger than either.
BATCH, CACHE = 5, 16
STOCK_KEY = "s_bench/SKU-MUG"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """A migrated store of each engine, and how to reach its database from outside."""
    if request.param == "sqlite":
        path = tmp_path / "shop.db"
        store: Any = SQLiteStore(path, synchronous="NORMAL", migrate=True)
        url = f"sqlite:{path}"
    else:
        dsn = request.getfixturevalue("migrated_postgres_dsn")
        store = PostgresStore(dsn, migrate=True)
        url = as_url(dsn)
    try:
        yield store, url
    finally:
        store.close()


def a_day(store: Any) -> Wiring:
    """Paid orders, refunded ones (in full and in part), canceled ones and expired ones
    the janitor ended: every table has rows, most many more than a batch."""
    w = in_memory(store=store)
    svc = w.service
    stock_shop(svc, w.provider, 100)
    paycore_lifecycles(svc, w.provider, 0, 12)
    cart = [CartItem(PRODUCT_ID, 1)]
    for i in range(12, 16):
        made = svc.create_payment_intent(session_id(i), cart)
        svc.confirm_payment(made.payment_id, payment_method=PAYMENT_METHOD)
        svc.create_refund(made.payment_id, 1250 if i % 2 else 500, idempotency_key=f"rma-{i}")
    for i in range(16, 18):
        svc.cancel_payment(svc.create_payment_intent(session_id(i), cart).payment_id)
    for i in range(18, 21):
        svc.create_payment_intent(session_id(i), cart)
    for event in w.provider.take_events():
        svc.handle_webhook(event)
    w.clock.advance(svc.config.reservation_ttl_ms + 1)
    svc.run_jobs()
    return w


def run_sql(store: Any, url: str, sql: str) -> None:
    """An operator's hand edit, on a connection of its own (not paycore's)."""
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path)
        with conn:
            conn.execute(sql)
        conn.close()
    else:
        with psycopg.connect(store.dsn, autocommit=True) as pg:
            pg.execute(sql.encode())


def streamed_check(store: Any, w: Wiring) -> tuple[list[Violation], Any]:
    with store.streamed(batch=BATCH, cache=CACHE) as view:
        return check(view, w.ledger(), BOTH), view


class TestStreamedFindsWhatTheLoadedSnapshotFinds:
    def test_a_healthy_day(self, engine: tuple[Any, str]) -> None:
        """No violation either way, and the same verdict as the whole snapshot's."""
        store, _ = engine
        w = a_day(store)
        found, _ = streamed_check(store, w)
        assert found == check(store.snapshot(), w.ledger(), BOTH) == []

    def test_hand_broken_rows(self, engine: tuple[Any, str]) -> None:
        """Stock counters and a paid order's payment edited by hand: the same violations,
        in the same order, as on the snapshot loaded whole."""
        store, url = engine
        w = a_day(store)
        run_sql(store, url, "UPDATE stock SET committed = committed + 5")
        run_sql(store, url, "UPDATE payments SET status = 'canceled' WHERE id = 'pay_000003'")
        loaded = check(store.snapshot(), w.ledger(), BOTH)
        found, _ = streamed_check(store, w)
        assert found == loaded
        ids = {(v.invariant, v.subject) for v in found}
        assert ("stock-conserved", STOCK_KEY) in ids
        assert ("order-matches-payment", "ord_000003") in ids
        assert ("audit-replays", "payment pay_000003") in ids

    def test_the_command_exits_1_on_a_broken_row(self, engine: tuple[Any, str]) -> None:
        """`paycore check --store URL` reads the store streamed and names the violation."""
        store, url = engine
        a_day(store)
        assert _cli("check", "--store", url)[0] == 0
        run_sql(store, url, "UPDATE stock SET committed = on_hand + 5")
        code, out, _ = _cli("check", "--store", url)
        assert code == 1
        assert f"VIOLATED [no-oversell] {STOCK_KEY}" in out


class TestRowsComeInBatches:
    def test_a_table_bigger_than_the_batch(self, engine: tuple[Any, str]) -> None:
        """Every audit row, in sequence order, one fetch per batch, at most a batch held."""
        store, _ = engine
        a_day(store)
        loaded = sorted(store.snapshot().rows(s.AUDIT), key=lambda a: a.seq)
        assert len(loaded) > 20 * BATCH
        with store.streamed(batch=BATCH, cache=CACHE) as view:
            streamed = list(view.rows(s.AUDIT))
            assert streamed == loaded
            assert view.fetches == math.ceil(len(loaded) / BATCH)
            assert view.peak_held == BATCH

    def test_a_whole_check_holds_a_bounded_number_of_rows(self, engine: tuple[Any, str]) -> None:
        """Over the whole catalog, lookups included: never more than the cache and one
        batch at once, while the tables hold many times that."""
        store, _ = engine
        w = a_day(store)
        rows = sum(len(t) for t in store.snapshot().tables.values())
        found, view = streamed_check(store, w)
        assert found == []
        assert 0 < view.peak_held <= CACHE + BATCH < rows // 10
        assert view.lookups > 0 and view.fetches > rows // BATCH

    def test_lookups_read_ahead_in_insertion_order(self, engine: tuple[Any, str]) -> None:
        """Looking up order 1 reads the next orders too: looking them up runs no statement."""
        store, _ = engine
        a_day(store)
        with store.streamed(batch=BATCH, cache=CACHE) as view:
            first = view.get(s.ORDERS, "ord_000001")
            assert first is not None and first.status is OrderStatus.PAID
            assert view.lookups == 1
            assert [view.get(s.ORDERS, f"ord_{n:06d}") is not None for n in range(2, 8)] == [
                True
            ] * 6
            assert view.lookups == 1
            assert view.get(s.ORDERS, "ord_999999") is None
            assert view.get(s.ORDERS, "ord_999999") is None
            assert view.lookups == 2  # a missing row is remembered too


def test_postgresql_reads_through_a_server_side_cursor(postgres_dsn: str) -> None:
    """Between two batches the server holds the cursor, and the view's last statement
    was a FETCH of one batch: the client never had the table whole."""
    store = PostgresStore(postgres_dsn, migrate=True)
    try:
        a_day(store)
        with (
            store.streamed(batch=BATCH, cache=CACHE) as view,
            psycopg.connect(postgres_dsn, autocommit=True) as other,
        ):
            rows = iter(view.rows(s.AUDIT))
            next(rows)
            (query,) = other.execute(
                "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state = 'idle in transaction'"
            ).fetchone() or ("",)
            assert query.startswith(f"FETCH FORWARD {BATCH} FROM") and "paycore_stream" in query
            rest = list(rows)
            assert len(rest) > 20 * BATCH
    finally:
        store.close()


def test_one_consistent_read(engine: tuple[Any, str]) -> None:
    """An order committed while the view is open is not in it; the next view has it."""
    store, _ = engine
    w = a_day(store)
    with store.streamed(batch=BATCH, cache=CACHE) as view:
        before = sum(1 for _ in view.rows(s.ORDERS))
        paycore_lifecycles(w.service, w.provider, 100, 1)
        assert sum(1 for _ in view.rows(s.ORDERS)) == before
        assert view.get(s.ORDERS, f"ord_{before + 1:06d}") is None
    with store.streamed(batch=BATCH, cache=CACHE) as view:
        assert sum(1 for _ in view.rows(s.ORDERS)) == before + 1
        assert view.get(s.ORDERS, f"ord_{before + 1:06d}") is not None


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "x.db", migrate=True)
    try:
        for options in ({"batch": 0}, {"cache": 0}):
            with pytest.raises(ValueError, match="must be >= 1"), store.streamed(**options):
                pass
    finally:
        store.close()


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()
