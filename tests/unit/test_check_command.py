"""`paycore check --store URL`: the invariants, read-only, against a store on disk."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from tests.support import cli

from paycore import invariants
from paycore_adapters.demo import shop_day
from paycore_adapters.demo_days import books_path


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    assert shop_day(io.StringIO(), f"sqlite:{path}") == 0
    return path


def test_a_healthy_store_passes_and_says_what_it_could_not_check(shop: Path) -> None:
    before = shop.read_bytes()
    code, out, _ = cli("check", "--store", f"sqlite:{shop}", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["violations"] == []
    safety = {i.id for i in invariants.INVARIANTS if i.kind == "safety"}
    assert set(doc["checked"]) | set(doc["not_checked_without_provider"]) == safety
    assert "no-oversell" in doc["checked"]
    assert "no-double-charge" in doc["not_checked_without_provider"]
    assert shop.read_bytes() == before  # read-only


def test_with_the_fake_providers_books_every_invariant_runs(shop: Path) -> None:
    code, out, _ = cli(
        "check", "--store", f"sqlite:{shop}", "--all", "--fake-books", str(books_path(shop))
    )
    assert code == 0
    n = len(invariants.INVARIANTS)
    assert out.startswith(f"{n} invariants checked, 0 violations; not checked")
    assert "provider's books: none" in out


def test_a_violation_in_the_database_exits_1_and_names_the_invariant(shop: Path) -> None:
    conn = sqlite3.connect(shop)
    with conn:  # an operator's bad hand edit: more committed than ever was on hand
        conn.execute("UPDATE stock SET committed = on_hand + 5 WHERE sku = 'MUG-BLUE'")
    conn.close()
    code, out, _ = cli("check", "--store", f"sqlite:{shop}")
    assert code == 1
    assert "VIOLATED [no-oversell]" in out


def test_a_missing_store_is_an_error_not_a_pass(tmp_path: Path) -> None:
    code, _, err = cli("check", "--store", f"sqlite:{tmp_path / 'none.db'}")
    assert code == 2 and "store_file_missing" in err
