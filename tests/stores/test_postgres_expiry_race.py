"""The processing hold's expiry racing a webhook that reopens the payment, on PostgreSQL.

The store draws audit numbers from a native sequence, a block per transaction: they order
one aggregate's history, not the commits of two. The janitor's processing hold reads the
payment processing and expires its stock while a webhook moves the payment processing ->
open; both commit (the only dependency runs janitor -> webhook), the webhook's entry
numbered below the janitor's. The serial order is the janitor's first: the expiry was
lawful, and ``stock-kept-for-live-payment`` must not report it (it did, comparing the
two aggregates' numbers, before the expiry said why it happened on the reservation).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import attrs
import pytest

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.flows.checkout import CartItem
from paycore.flows.sync import apply_intent
from paycore.invariants import check
from paycore.money import Money
from paycore.unit import Unit
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.postgres_store import PostgresStore


@pytest.fixture
def shop(migrated_postgres_dsn: str) -> Iterator[Wiring]:
    store = PostgresStore(migrated_postgres_dsn, migrate=True, max_size=4)
    w = in_memory(store=store, config=Config(processing_hold_ms=0))
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.service.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    w.service.restock("s1", "SKU-MUG", 3)
    yield w
    store.close()


def test_a_hold_expiry_numbered_after_the_reopen_is_still_lawful(shop: Wiring) -> None:
    svc = shop.service
    res = svc.create_payment_intent("cs_7f3a9c2e4b1d8a6f", [CartItem("p_mug", 1)])
    assert svc.confirm_payment(res.payment_id, payment_method="pm_failed_de").status == (
        "processing"
    )
    pid, oid = res.payment_id, res.order_id
    shop.clock.advance(svc.config.reservation_ttl_ms)  # the order expired, the hold is 0
    intent_id = svc.payment(pid).provider_intent_id or ""
    intent = shop.provider.retrieve_intent(intent_id)
    failed = attrs.evolve(intent, status="requires_payment_method")
    wrote, read, reopened = threading.Event(), threading.Event(), threading.Event()
    log: list[str] = []

    def webhook(u: Unit) -> None:  # the bank debit failed: processing -> open
        payment = u.get(s.PAYMENTS, pid)
        assert payment is not None
        apply_intent(u, payment, failed)
        wrote.set()
        assert read.wait(10)
        log.append("webhook commits")

    def janitor(u: Unit) -> None:  # the processing hold ran out: the real release
        payment = u.get(s.PAYMENTS, pid)
        assert payment is not None
        log.append(f"janitor reads payment {payment.status.value}")
        read.set()
        assert reopened.wait(10)
        order = u.get(s.ORDERS, oid)
        assert order is not None
        jobs._maybe_unhold(u, 0, order.expires_at, oid)
        log.append("janitor commits")

    other = threading.Thread(target=lambda: (svc.engine.transact(webhook), reopened.set()))
    other.start()
    assert wrote.wait(10)
    svc.engine.transact(janitor)
    other.join()
    assert log == ["janitor reads payment processing", "webhook commits", "janitor commits"]
    snap = shop.store.snapshot()
    entries = sorted(
        (a for a in snap.rows(s.AUDIT) if a.aggregate_id in (pid, f"{oid}/0")),
        key=lambda a: a.seq,
    )
    reopen = next(a for a in entries if a.trigger == "reopen")
    expiry = next(a for a in entries if a.to_status == "expired")
    assert reopen.seq < expiry.seq  # numbered against the serial order
    assert expiry.trigger == "expire_processing"
    assert svc.payment(pid).status == "open"
    assert check(snap, shop.ledger()) == []
