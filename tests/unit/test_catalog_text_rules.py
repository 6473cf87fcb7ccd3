"""What the catalog takes as an id, a free text and a seller's provider account, and how
the messages that name catalog ids show them.

A new id (a seller, a product, a SKU) has no control, format or separator character
and no whitespace at either end: a newline, an ANSI or OSC escape would otherwise reach
every message, log line and terminal that names it (tests/unit/test_catalog_old_ids.py
has the rule's other side: lookups take ids as the store holds them).
A free text (a name, a reason, a resolution) has a length cap.
A seller's provider account has the shape of a Stripe connected account id
(``acct_...``), checked when the seller is added, not at its first checkout. Rows
written before these rules still load, and every message that names their ids shows
them as :func:`paycore.shown.shown_id` does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs
import pytest
from tests.support import SESSION, SESSION_2, make_shop

from paycore import catalog
from paycore import schema as s
from paycore.errors import InvalidInput, PaycoreError, StockItemNotFound
from paycore.flows.checkout import CartItem
from paycore.invariants.stock import stock_belongs_to_seller
from paycore.money import Money
from paycore.ports import Snapshot
from paycore.records import OrderLine, Reservation, Stock
from paycore.unit import Unit
from paycore_adapters.memory import Wiring
from paycore_adapters.testing.rows import order

ESC = "s\x1b[2J\x1b[31mEVIL"
OSC = "p\x1b]0;pwned\x07"
NEWLINE = "SKU\nFAKE LINE"
BAD_IDS = [ESC, OSC, NEWLINE, "tab\there", " s1", "s1 ", "del\x7f", "nbsp\u00a0", "ls\u2028x"]


def _refused(w: Wiring, field: str, call: Callable[[], object]) -> InvalidInput:
    before = w.store.fingerprint()
    with pytest.raises(InvalidInput) as caught:
        call()
    assert caught.value.fields.get("field") == field, caught.value.fields
    assert w.store.fingerprint() == before
    assert "\x1b" not in caught.value.message and "\n" not in caught.value.message
    return caught.value


@pytest.mark.parametrize("bad", BAD_IDS)
def test_an_id_with_a_control_character_or_an_outer_space_is_refused(bad: str) -> None:
    w = make_shop()
    svc = w.service
    _refused(w, "seller_id", lambda: svc.add_seller(bad, "Shop", "acct_1"))
    _refused(w, "product_id", lambda: svc.add_product(bad, "s1", "SKU-X", "X", Money(100, "EUR")))
    _refused(w, "sku", lambda: svc.add_product("p_x", "s1", bad, "X", Money(100, "EUR")))
    # a lookup takes the id as the store may hold it: no product has this SKU
    with pytest.raises(StockItemNotFound):
        svc.restock("s1", bad, 1)


def test_an_ordinary_id_is_still_taken() -> None:
    w = make_shop()
    w.service.add_seller("seller-2.eu:Ünïcode", "Shop", "acct_2")
    w.service.add_product("p 2 with spaces", "seller-2.eu:Ünïcode", "SKU/2", "X", Money(100, "EUR"))


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("name", lambda w, v: w.service.add_seller("s9", v, "acct_9")),
        ("name", lambda w, v: w.service.add_product("p9", "s1", "SKU-9", v, Money(100, "EUR"))),
        ("reason", lambda w, v: w.service.adjust_stock("s1", "SKU-MUG", 1, v)),
    ],
    ids=["seller name", "product name", "stock reason"],
)
def test_a_free_text_is_capped(field: str, call: Callable[[Wiring, str], object]) -> None:
    w = make_shop()
    err = _refused(w, field, lambda: call(w, "n" * (catalog.MAX_TEXT_CHARS + 1)))
    assert str(catalog.MAX_TEXT_CHARS) in err.message
    call(w, "n" * catalog.MAX_TEXT_CHARS)  # the cap itself is taken


def test_an_alert_resolution_is_capped() -> None:
    w = make_shop()
    with w.store.transaction() as tx:
        alert = Unit(tx, 0).alert("provider_configuration", "acct_1", "a test alert")
    too_long = "r" * (catalog.MAX_TEXT_CHARS + 1)
    _refused(w, "resolution", lambda: w.service.resolve_alert(alert.id, too_long))


@pytest.mark.parametrize(
    "account",
    ["acct_1\nX-Evil: 1", "not-an-account", "acct_", "acct_1 ", "ACCT_1", "acct_ü", "acct_1/x"],
)
def test_a_provider_account_not_shaped_as_one_is_refused_at_add_seller(account: str) -> None:
    w = make_shop()
    err = _refused(w, "provider_account", lambda: w.service.add_seller("s9", "Shop", account))
    assert "acct_" in err.message


def test_a_provider_account_of_any_stripe_shape_is_taken() -> None:
    w = make_shop()
    for i, account in enumerate(["acct_1032D82eZvKYlo2C", "acct_contract_run_7_a", "acct_9"]):
        w.service.add_seller(f"s{i + 10}", "Shop", account)


@contextmanager
def _rules_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Write rows as a paycore before these rules did (no check on ids and accounts)."""
    with monkeypatch.context() as m:
        m.setattr(catalog, "ident", catalog.text)
        m.setattr(
            catalog, "account_id", lambda v: catalog.text("provider_account", v), raising=False
        )
        yield


def _old_shop(monkeypatch: pytest.MonkeyPatch, *, account: str = "acct_1") -> Wiring:
    w = make_shop()
    with _rules_off(monkeypatch):
        w.service.add_seller(ESC, "Evil", account)
        w.service.add_product(OSC, ESC, NEWLINE, "n", Money(1000, "EUR"))
        w.service.add_product("p_usd", ESC, "SKU-USD", "n", Money(1000, "USD"))
        w.service.restock(ESC, NEWLINE, 1)
    return w


def _message(call: Callable[[], object]) -> str:
    with pytest.raises(PaycoreError) as caught:
        call()
    message = caught.value.message
    assert "\x1b" not in message and "\n" not in message and "\x07" not in message, message
    return message


def test_rows_written_before_the_rules_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    w = _old_shop(monkeypatch)
    result = w.service.create_payment_intent(SESSION, [CartItem(OSC, 1)])
    assert result.payment_id
    assert w.store.snapshot().get(s.SELLERS, ESC) is not None


def test_messages_show_old_ids_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    w = _old_shop(monkeypatch)
    svc = w.service
    svc.create_payment_intent(SESSION, [CartItem(OSC, 1)])
    out_of_stock = _message(lambda: svc.create_payment_intent(SESSION_2, [CartItem(OSC, 1)]))
    assert repr(NEWLINE) in out_of_stock and repr(ESC) in out_of_stock
    mixed = _message(
        lambda: svc.create_payment_intent(
            "cs_test_0000000003", [CartItem(OSC, 1), CartItem("p_mug", 1)]
        )
    )
    assert repr(ESC) in mixed
    currencies = _message(
        lambda: svc.create_payment_intent(
            "cs_test_0000000004", [CartItem(OSC, 1), CartItem("p_usd", 1)]
        )
    )
    assert "\x1b" not in currencies
    with _rules_off(monkeypatch):
        below = _message(lambda: svc.adjust_stock(ESC, NEWLINE, -1, "count"))
        svc.set_charges_enabled(ESC, False)
    assert repr(NEWLINE) in below
    _message(lambda: svc.create_payment_intent("cs_test_0000000005", [CartItem("p_usd", 1)]))


def test_an_old_seller_account_the_provider_does_not_know_is_shown_escaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = _old_shop(monkeypatch, account="acct_1\nX-Evil: 1")
    message = _message(lambda: w.service.create_payment_intent(SESSION, [CartItem(OSC, 1)]))
    assert "acct_1\\nX-Evil: 1" in message


def test_the_stock_invariant_shows_ids_escaped() -> None:
    line = OrderLine("p1", NEWLINE, ESC, "n", Money(100, "EUR"), 2)
    held = Reservation("o1/0", "o1", OSC, 1, 10, seller_id=ESC)
    stray = Stock(ESC, OSC, on_hand=1)
    snap = Snapshot(
        {
            s.ORDERS.name: {"o1": attrs.evolve(order("o1"), lines=(line,))},
            s.RESERVATIONS.name: {held.id: held},
            s.STOCK.name: {stray.key: stray},
        }
    )
    found = list(stock_belongs_to_seller(snap, None))  # type: ignore[arg-type]
    assert len(found) == 2
    for v in found:
        assert "\x1b" not in str(v) and "\n" not in str(v), v
