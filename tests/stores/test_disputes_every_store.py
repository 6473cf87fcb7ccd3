"""A dispute's alert on every store (memory, SQLite, PostgreSQL): raised with its fields,
kept open when lost, and a redelivery is a duplicate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import mug_shop

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.ports import Store
from paycore_adapters.memory import MemoryStore, in_memory
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.sql.sqlite_store import SQLiteStore


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        yield SQLiteStore(tmp_path / "disputes.db", migrate=True)
    else:
        pg = PostgresStore(
            request.getfixturevalue("migrated_postgres_dsn"), migrate=True, max_size=2
        )
        yield pg
        pg.close()


def test_a_lost_dispute_is_kept_on_every_store(store: Store) -> None:
    w = in_memory(store=store)  # type: ignore[arg-type]
    mug_shop(w, 5)
    r = w.service.create_payment_intent("cs_test_dispute_any", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    w.provider.take_events()
    intent = str(w.service.payment(r.payment_id).provider_intent_id)
    du = w.provider.open_dispute(intent, due_by_s=1_900_000_000)
    events = w.provider.take_events()
    assert [w.service.handle_webhook(e) for e in events] == ["processed", "processed"]
    assert w.service.handle_webhook(events[0]) == "duplicate"
    w.provider.close_dispute(du, won=False)
    for e in w.provider.take_events():
        w.service.handle_webhook(e)
    row = w.store.snapshot().get(s.ALERTS, f"payment_disputed:{r.payment_id}")
    assert row is not None and row.open and "lost" in row.message
    assert dict(row.fields) == {
        "order_id": r.order_id,
        "payment_id": r.payment_id,
        "dispute_id": du,
        "amount": 1250,
        "currency": "EUR",
        "reason": "fraudulent",
        "status": "lost",
        "due_by": 1_900_000_000,
        f"dispute:{du}": "lost",  # each dispute's status of the payment
    }
