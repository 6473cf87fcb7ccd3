"""`paycore check --store URL` without the provider's books still runs every check that
needs only the store: a payment asking another amount than its order, a local
over-refund and a payment recording the wrong seller account are reported (they were
dropped with the provider-comparing checks they shared an invariant with)."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from tests.unit.test_check_command import cli

from paycore import invariants
from paycore_adapters.demo import shop_day

#: The store-only halves of the invariants that mixed the store and the provider's books,
#: and their provider-comparing halves.
STORE_ONLY = [
    "amount-matches-order",
    "one-currency-per-order",
    "payment-records-seller-account",
    "local-refunds-within-captured",
]
PROVIDER = [
    "intent-amount-matches-payment",
    "intent-currency-matches-order",
    "charge-pays-the-seller",
    "provider-refunds-within-captured",
]


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    assert shop_day(io.StringIO(), f"sqlite:{path}") == 0
    return path


def tamper(shop: Path, *statements: str) -> None:
    conn = sqlite3.connect(shop)
    with conn:
        for sql in statements:
            assert conn.execute(sql).rowcount == 1, sql
    conn.close()


def test_without_books_the_store_only_checks_run_and_the_others_are_named(shop: Path) -> None:
    code, out, _ = cli("check", "--store", f"sqlite:{shop}", "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(STORE_ONLY) <= set(doc["checked"])
    assert set(PROVIDER) <= set(doc["not_checked_without_provider"])
    assert {i.id for i in invariants.INVARIANTS} >= set(STORE_ONLY) | set(PROVIDER)


def test_a_tampered_amount_and_a_local_over_refund_are_reported_without_books(
    shop: Path,
) -> None:
    """pay_000004 asks 99 for an order of 64.00; pay_000001 (3600 captured) has local
    refunds of 1800 + 2500, its books kept to match; pay_000002 records another account."""
    tamper(
        shop,
        "UPDATE payments SET amount = 99 WHERE id = 'pay_000004'",
        "UPDATE refunds SET amount = 2500 WHERE id = 'rf_000002'",
        "UPDATE payments SET amount_refunded = 4300 WHERE id = 'pay_000001'",
        "UPDATE payments SET seller_account = 'acct_wrong' WHERE id = 'pay_000002'",
    )
    code, out, _ = cli("check", "--store", f"sqlite:{shop}")
    assert code == 1
    violated = [line for line in out.splitlines() if line.startswith("VIOLATED")]
    assert violated == [
        "VIOLATED [amount-matches-order] pay_000004: payment 0.99 EUR, order 64.00 EUR",
        "VIOLATED [payment-records-seller-account] pay_000002: payment records account "
        "'acct_wrong', its seller's is 'acct_ceramics'",
        "VIOLATED [local-refunds-within-captured] pay_000001: local refunds 4300 > captured 3600",
    ]
