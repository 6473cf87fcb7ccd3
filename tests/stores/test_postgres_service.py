"""paycore's service on the PostgreSQL store: a payment's whole life, and service
instances in threads racing for scarce stock (their transactions conflict for real, and
the engine runs the refused ones again), with the safety invariants holding after each."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from paycore.config import Config
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.records import stock_key
from paycore.schema import STOCK
from paycore.service import PaymentService
from paycore_adapters.harness.concurrency import race
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.postgres_store import PostgresStore

RACERS = 5


@pytest.fixture
def shop(migrated_postgres_dsn: str) -> Iterator[Wiring]:
    store = PostgresStore(migrated_postgres_dsn, migrate=True, max_size=8)
    w = in_memory(store=store)
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.service.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    w.service.restock("s1", "SKU-MUG", 3)
    yield w
    bad = w.violations("safety")
    store.close()
    assert not bad, "\n".join(map(str, bad))


def test_a_payment_lives_its_whole_life(shop: Wiring) -> None:
    """Checkout, confirm, a partial refund and a round of jobs: every invariant holds."""
    svc = shop.service
    checkout = svc.create_payment_intent("cs_7f3a9c2e4b1d8a6f", [CartItem("p_mug", 2)])
    paid = svc.confirm_payment(checkout.payment_id, payment_method="pm_card_visa")
    assert paid.status == "succeeded"
    assert svc.order(checkout.order_id).status == "paid"
    refund = svc.create_refund(checkout.payment_id, 1250, idempotency_key="rma-1")
    assert refund.status == "succeeded"
    svc.run_jobs()
    assert shop.violations() == []


def test_instances_racing_for_the_last_units_never_oversell(shop: Wiring) -> None:
    """Five service instances, each in its own thread, buy one of three mugs at once:
    three succeed, two are told the mugs are gone, and nothing is held or sold twice."""
    w = shop
    # Five transactions on one stock row at once: each round one commits and the others
    # run again, so the last may need more than the default bound of retries.
    config = Config(store_conflict_retries=RACERS * 3)
    instances = [
        PaymentService(w.store, w.provider, w.clock, w.alerts, w.notifier, config, f"i{n}")
        for n in range(RACERS)
    ]

    def buy(svc: PaymentService, n: int) -> None:
        checkout = svc.create_payment_intent(f"cs_race_{n:012d}", [CartItem("p_mug", 1)])
        svc.confirm_payment(checkout.payment_id, payment_method="pm_card_visa")

    outcomes = race([partial(buy, svc, n) for n, svc in enumerate(instances)])
    assert sorted(outcomes).count("ok") == 3, outcomes
    assert set(outcomes) - {"ok"} <= {"out_of_stock"}, outcomes
    stock = w.store.snapshot().get(STOCK, stock_key("s1", "SKU-MUG"))
    assert stock is not None
    assert (stock.on_hand, stock.held, stock.committed) == (3, 0, 3)
