"""The PostgreSQL store's constructor refuses bad arguments up front, typed and by name,
before it connects: a setting error is the caller's to fix, not the store being down.

Before: ``lock_timeout=-1`` and ``max_size=0`` failed as untyped ValueErrors,
``lock_timeout="x"`` as a TypeError, ``timeout=-1`` as ``store_unavailable`` (retryable,
"pool initialization incomplete"), and ``migrate="no"`` migrated."""

from __future__ import annotations

import math
from typing import Any

import pytest

from paycore.errors import InvalidInput
from paycore_adapters.sql.postgres_store import PostgresStore

#: Nothing listens there: an argument not refused first would fail to connect instead.
NOWHERE = "postgresql://paycore:SECRETPW@127.0.0.1:1/paycore?connect_timeout=1"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_size", -1),
        ("min_size", "1"),
        ("min_size", True),
        ("max_size", 0),
        ("max_size", 2.5),
        ("max_size", 10**6),
        ("timeout", -1),
        ("timeout", 0),
        ("timeout", math.nan),
        ("timeout", "30"),
        ("lock_timeout", -1),
        ("lock_timeout", "x"),
        ("lock_timeout", math.inf),
        ("idle_in_transaction_timeout", -0.5),
        ("idle_in_transaction_timeout", False),
        ("migrate", "no"),
        ("migrate", 1),
    ],
)
def test_a_bad_argument_is_refused_by_name_before_connecting(field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        PostgresStore(NOWHERE, **{field: value})
    err = refused.value
    assert err.fields["field"] == field
    assert "SECRETPW" not in f"{err} {err!r} {err.fields!r}"


def test_a_pool_smaller_than_its_minimum_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        PostgresStore(NOWHERE, min_size=5, max_size=2)
    assert refused.value.fields["field"] == "max_size"


@pytest.mark.parametrize("dsn", [None, 7, b"postgresql://x"])
def test_a_url_that_is_not_text_is_refused_by_name(dsn: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        PostgresStore(dsn)
    assert refused.value.fields["field"] == "dsn"


def test_good_arguments_open_the_store(migrated_postgres_dsn: str) -> None:
    store = PostgresStore(
        migrated_postgres_dsn, min_size=0, max_size=2, timeout=5, lock_timeout=0.5,
        idle_in_transaction_timeout=0,
    )  # fmt: skip
    store.close()
