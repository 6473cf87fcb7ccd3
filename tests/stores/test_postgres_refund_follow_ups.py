"""The refund sync's follow-ups on PostgreSQL: a refund the bank reverses days after it
succeeded, its webhook lost, is found by the daily job rounds (the due refunds claimed
through the ``(status, follow_up_at)`` index, ``FOR UPDATE SKIP LOCKED``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.chaos.test_refund_follow_ups import DAY, refund_failed_alerts, refunded
from tests.support import mug_shop

from paycore import schema as s
from paycore.status import RefundStatus
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.postgres_store import PostgresStore


@pytest.fixture
def shop(migrated_postgres_dsn: str) -> Iterator[Wiring]:
    store = PostgresStore(migrated_postgres_dsn, migrate=True, max_size=2)
    w = in_memory(store=store)
    mug_shop(w, 10)
    yield w
    store.close()


def test_a_refund_reversed_days_later_with_its_webhook_lost_is_found(shop: Wiring) -> None:
    w = shop
    pid, rf = refunded(w)
    w.service.run_jobs()
    assert w.store.snapshot().get(s.REFUNDS, rf.id).follow_up_at == rf.created_at + DAY
    w.clock.advance(3 * DAY)
    assert rf.provider_refund_id is not None
    w.provider.fail_refund(rf.provider_refund_id)
    w.provider.take_events()  # the refund's failure webhook is lost
    for _ in range(5):
        w.clock.advance(DAY)
        w.service.run_jobs()
    (now,) = w.service.refunds_of(pid)
    assert now.status is RefundStatus.FAILED
    assert refund_failed_alerts(w) == {rf.id: True}
    assert w.service.payment(pid).amount_refunded == 0
    assert not w.violations()
