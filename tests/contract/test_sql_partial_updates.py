"""A SQL store's update of a row the transaction knows writes only the columns that
changed: a column left out is an index entry the database need not rewrite (on SQLite,
every page of every index of the row's table it would touch goes to the WAL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import attrs
import pytest

from paycore import records as r
from paycore.money import Money
from paycore.schema import FLOWS, PAYMENTS
from paycore.status import FlowStatus, PaymentStatus
from paycore_adapters.sql.codegen import same_json
from paycore_adapters.sql.columns import MAPS
from paycore_adapters.sql.sqlite_store import SQLiteStore
from paycore_adapters.testing.rows import order, payment, refund


def flow(**changes: object) -> r.Flow:
    base = r.Flow("f1", "checkout", "create", 5, params={"order_id": "o1"}, data={"n": 1})
    return attrs.evolve(base, **changes)


def updates(store: SQLiteStore) -> list[str]:
    """The UPDATE statements the store's connection in this thread runs from now on."""
    seen: list[str] = []
    store.connection().set_trace_callback(
        lambda sql: seen.append(sql) if sql.startswith("UPDATE") else None
    )
    return seen


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "paycore.db", migrate=True)


def test_an_update_of_a_row_read_sets_only_its_changed_columns(store: SQLiteStore) -> None:
    with store.transaction() as tx:
        tx.insert(PAYMENTS, payment("p1"))
    seen = updates(store)
    with store.transaction() as tx:
        old = tx.get(PAYMENTS, "p1")
        assert old is not None
        new = attrs.evolve(old, status=PaymentStatus.SUCCEEDED, version=old.version + 1)
        tx.update(PAYMENTS, new)
    (sql,) = seen
    assert sql.startswith('UPDATE "payments" SET "status" = ')
    assert '"order_id"' not in sql and '"checkout_session_id"' not in sql
    with store.transaction() as tx:
        assert tx.get(PAYMENTS, "p1") == new


def test_an_update_of_a_row_never_read_sets_every_column(store: SQLiteStore) -> None:
    with store.transaction() as tx:
        tx.insert(FLOWS, flow())
    seen = updates(store)
    with store.transaction() as tx:
        tx.update(FLOWS, flow(step="call", version=1))  # not read here: its old row unknown
    (sql,) = seen
    assert '"params" = ' in sql and '"created_at" = ' in sql
    with store.transaction() as tx:
        assert tx.get(FLOWS, "f1") == flow(step="call", version=1)


def test_two_updates_of_one_row_in_a_transaction_each_build_on_the_last(
    store: SQLiteStore,
) -> None:
    with store.transaction() as tx:
        tx.insert(FLOWS, flow())
    with store.transaction() as tx:
        first = attrs.evolve(tx.get(FLOWS, "f1"), step="call", version=1)
        tx.update(FLOWS, first)
        second = attrs.evolve(first, status=FlowStatus.SUCCEEDED, version=2)
        tx.update(FLOWS, second)
    with store.transaction() as tx:
        assert tx.get(FLOWS, "f1") == second


def test_a_json_value_equal_in_python_but_stored_apart_is_written(store: SQLiteStore) -> None:
    """``{"n": 1}`` and ``{"n": True}`` are equal dicts; the stored JSON is not."""
    with store.transaction() as tx:
        tx.insert(FLOWS, flow())
    with store.transaction() as tx:
        tx.update(FLOWS, attrs.evolve(tx.get(FLOWS, "f1"), data={"n": True}, version=1))
    with store.transaction() as tx:
        got = tx.get(FLOWS, "f1")
    assert got is not None and got.data["n"] is True
    raw = sqlite3.connect(store.path).execute("SELECT data FROM flows").fetchone()
    assert raw == ('{"n":true}',)


def test_same_json_needs_the_very_same_values() -> None:
    value = {"a": "x" * 3, "b": (1, 2)}
    assert same_json(value, dict(value))
    assert not same_json({"n": 1}, {"n": True})
    assert not same_json((1, 2), [1, 2])
    assert not same_json({"a": 1}, {"a": 1, "b": 2})
    assert not same_json({"a": [1]}, {"a": [1]})  # equal, not the same list


SAMPLES = {
    "payments": payment("p1", "pi_1", "o1"),
    "orders": order("o1"),
    "refunds": refund("rf1", "p1", "key-1"),
    "flows": flow(),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_diff_names_every_changed_column_and_nothing_else(name: str) -> None:
    """A record against itself changes nothing; against itself with one field changed,
    that field's columns only (Money: amount and currency)."""
    m, sample = MAPS[name], SAMPLES[name]
    assert m.versioned
    fields = [f.name for f in m.fields]
    assert m.diff(sample, sample) == ((), [])
    bumped = attrs.evolve(sample, version=sample.version + 1)
    assert m.diff(sample, bumped) == ((fields.index("version"),), [sample.version + 1])
    copied = attrs.evolve(sample)  # a converter may copy a mapping: no change either
    assert m.diff(sample, copied) == ((), [])


def test_a_money_change_writes_both_its_columns() -> None:
    old = order("o1")
    new = attrs.evolve(old, total=Money(old.total.amount + 1, "USD"))
    at, values = MAPS["orders"].diff(old, new)
    assert at == ([f.name for f in MAPS["orders"].fields].index("total"),)
    assert values == [old.total.amount + 1, "USD"]
