"""The PostgreSQL server the suite runs on: version, address, a round trip, SERIALIZABLE
isolation that refuses a write skew, and a database of its own for every test."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import closing

import psycopg
import pytest
from psycopg import errors
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from tests.postgres_server import DSN_ENV


def own_server() -> bool:
    return not os.environ.get(DSN_ENV)


class TestServer:
    def test_is_postgresql_15(self, postgres_dsn: str) -> None:
        """The suite runs on PostgreSQL 15.x."""
        with psycopg.connect(postgres_dsn) as conn:
            assert conn.info.server_version // 10000 == 15

    def test_own_server_listens_on_loopback_only(self, postgres_dsn: str) -> None:
        """The server the suite starts listens on 127.0.0.1 only, with fsync off. In CI the
        suite must start it: a server named by the environment there is a failure."""
        if not own_server():
            if os.environ.get("CI"):
                pytest.fail(f"in CI the suite starts its own PostgreSQL; {DSN_ENV} is set")
            pytest.skip(f"{DSN_ENV} names a server the suite did not start")
        with psycopg.connect(postgres_dsn) as conn:
            row = conn.execute(
                "SELECT current_setting('listen_addresses'), inet_server_addr()::text,"
                " current_setting('fsync')"
            ).fetchone()
        assert row is not None
        listen, addr, fsync = row
        assert [a.strip() for a in str(listen).split(",")] == ["127.0.0.1"]
        assert (addr, fsync) == ("127.0.0.1/32", "off")

    def test_a_row_round_trips(self, postgres_dsn: str) -> None:
        """What goes into a table comes back with its types: bigint, text, jsonb, timestamptz."""
        at = dt.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC)
        row = (2**62, "Blue mug \u2615", {"lines": [{"sku": "MUG-BLUE", "qty": 2}]}, at)
        with psycopg.connect(postgres_dsn) as conn:
            conn.execute(
                "CREATE TABLE orders (id bigint PRIMARY KEY, title text NOT NULL,"
                " body jsonb NOT NULL, at timestamptz NOT NULL)"
            )
            conn.execute(
                "INSERT INTO orders VALUES (%s, %s, %s, %s)", (*row[:2], Jsonb(row[2]), row[3])
            )
            conn.commit()
        with psycopg.connect(postgres_dsn) as conn:
            assert conn.execute("SELECT id, title, body, at FROM orders").fetchall() == [row]


def on_call_table(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE on_call (doctor text PRIMARY KEY, on_duty boolean NOT NULL)")
        conn.execute("INSERT INTO on_call VALUES ('alice', true), ('bob', true)")


def go_off_duty(conn: psycopg.Connection[TupleRow], doctor: str) -> None:
    """The skew-prone rule: leave only if someone else stays on duty (read, then write)."""
    row = conn.execute(
        "SELECT count(*) FROM on_call WHERE on_duty AND doctor <> %s", (doctor,)
    ).fetchone()
    if row is not None and row[0] >= 1:
        conn.execute("UPDATE on_call SET on_duty = false WHERE doctor = %s", (doctor,))


def interleave_off_duty(dsn: str, isolation: psycopg.IsolationLevel) -> list[str]:
    """Both transactions read and write before either commits; then each commits in
    turn. Returns what each got: "committed" or the SQLSTATE that refused it."""
    outcomes: dict[str, str] = {}
    with closing(psycopg.connect(dsn)) as a, closing(psycopg.connect(dsn)) as b:
        turns = (("alice", a), ("bob", b))
        for doctor, conn in turns:
            conn.isolation_level = isolation
            try:
                go_off_duty(conn, doctor)
            except errors.SerializationFailure as e:  # refused at the write: done
                outcomes[doctor] = e.sqlstate or "?"
                conn.rollback()
        for doctor, conn in turns:
            if doctor in outcomes:
                continue
            try:
                conn.commit()
                outcomes[doctor] = "committed"
            except errors.SerializationFailure as e:
                outcomes[doctor] = e.sqlstate or "?"
    return [outcomes["alice"], outcomes["bob"]]


def on_duty(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        (n,) = conn.execute("SELECT count(*) FROM on_call WHERE on_duty").fetchone() or (0,)
        return int(n)


class TestIsolation:
    def test_serializable_refuses_a_write_skew(self, postgres_dsn: str) -> None:
        """Under SERIALIZABLE one of two skewed transactions fails with SQLSTATE 40001."""
        on_call_table(postgres_dsn)
        outcomes = interleave_off_duty(postgres_dsn, psycopg.IsolationLevel.SERIALIZABLE)
        assert sorted(outcomes) == ["40001", "committed"]
        assert on_duty(postgres_dsn) == 1

    def test_read_committed_lets_the_same_skew_through(self, postgres_dsn: str) -> None:
        """The schedule above is a real write skew: under READ COMMITTED both commit."""
        on_call_table(postgres_dsn)
        outcomes = interleave_off_duty(postgres_dsn, psycopg.IsolationLevel.READ_COMMITTED)
        assert outcomes == ["committed", "committed"]
        assert on_duty(postgres_dsn) == 0


@pytest.fixture
def user_tables(postgres_dsn: str) -> Iterator[list[str]]:
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    yield [name for (name,) in rows]


class TestDatabasePerTest:
    @pytest.mark.parametrize("run", range(3))
    def test_starts_empty_and_leaves_a_table_behind(
        self, postgres_dsn: str, user_tables: list[str], run: int
    ) -> None:
        """Each test's database is new: no table another test left behind is in it."""
        assert user_tables == []
        with psycopg.connect(postgres_dsn) as conn:
            name = conn.execute("SELECT current_database()").fetchone()
            conn.execute("CREATE TABLE left_behind (run int)")
            conn.execute("INSERT INTO left_behind VALUES (%s)", (run,))
        assert name is not None and str(name[0]).startswith("paycore_test_")
