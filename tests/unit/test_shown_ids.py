"""An id from the caller that names nothing is shown in the error's message as it is
when it is an ordinary printable id, and as its repr cut short otherwise: a 100,000
character id does not make a 100,000 character message, a lone surrogate does not make
a message no UTF-8 log handler can write, and an ANSI escape is not printed raw by the
command line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support import SESSION, cli, make_shop

from paycore.config import Config
from paycore.errors import PaycoreError
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.shown import shown_id
from paycore_adapters.memory import Wiring

LONG = "x" * 100_000
SURROGATE = "pay_\ud800"
ANSI = "\x1b[31mRED\x1b[0m"

LOOKUPS: dict[str, Callable[[Wiring, str], object]] = {
    "flow": lambda w, i: w.service.flow(i),
    "revive_flow": lambda w, i: w.service.revive_flow(i),
    "abandon_flow": lambda w, i: w.service.abandon_flow(i),
    "run_flow": lambda w, i: w.service.run_flow(i),
    "payment": lambda w, i: w.service.payment(i),
    "confirm_payment": lambda w, i: w.service.confirm_payment(i, "pm_card_visa"),
    "cancel_payment": lambda w, i: w.service.cancel_payment(i),
    "create_refund": lambda w, i: w.service.create_refund(i, idempotency_key="k-1"),
    "resolve_alert": lambda w, i: w.service.resolve_alert(i, "done"),
    "set_charges_enabled": lambda w, i: w.service.set_charges_enabled(i, False),
    "checkout product": lambda w, i: w.service.create_payment_intent(SESSION, [CartItem(i, 1)]),
}


def test_an_ordinary_id_is_shown_as_it_is() -> None:
    assert shown_id("pay_000001") == "pay_000001"
    assert shown_id("checkout:cs_test_0000000001") == "checkout:cs_test_0000000001"


@pytest.mark.parametrize("name", sorted(LOOKUPS))
@pytest.mark.parametrize("bad", [LONG, SURROGATE, ANSI], ids=["long", "surrogate", "ansi"])
def test_a_bad_id_makes_a_short_printable_utf8_message(name: str, bad: str) -> None:
    w = make_shop()
    with pytest.raises(PaycoreError) as caught:
        LOOKUPS[name](w, bad)
    message = caught.value.message
    assert len(message) < 400, (name, len(message))
    message.encode("utf-8")  # a lone surrogate would raise here
    assert "\x1b" not in message


def test_an_ordinary_unknown_id_reads_as_before() -> None:
    w = make_shop()
    with pytest.raises(PaycoreError) as caught:
        w.service.payment("pay_nope")
    assert caught.value.message.startswith("no payment pay_nope: ")
    with pytest.raises(PaycoreError) as caught:
        w.service.flow("checkout:nope")
    assert caught.value.message.startswith("no flow checkout:nope: ")


def test_the_command_line_prints_no_escape(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'shop.db'}"
    assert cli("migrate", "--store", url)[0] == 0
    code, out, err = cli("flows", "abandon", ANSI, "--store", url)
    assert code == 2 and "\x1b" not in err + out
    assert "'\\x1b[31mRED\\x1b[0m'" in err


VALUES: dict[str, Callable[[Wiring, str], object]] = {
    "flow state": lambda w, v: w.service.flows(v),
    "refund reason": lambda w, v: w.service.create_refund("pay_000001", None, v, "k-1"),  # type: ignore[arg-type]
    "currency": lambda w, v: w.service.set_price("p_mug", Money(100, v)),
}


@pytest.mark.parametrize("name", sorted(VALUES))
@pytest.mark.parametrize("bad", [LONG, SURROGATE, ANSI], ids=["long", "surrogate", "ansi"])
def test_a_bad_value_is_shown_cut_short_too(name: str, bad: str) -> None:
    """Values the caller gave that name nothing valid (a state, a reason, a currency)
    are shown as their repr, cut short the same way."""
    with pytest.raises(PaycoreError) as caught:
        VALUES[name](make_shop(), bad)
    message = caught.value.message
    assert len(message) < 400, (name, len(message))
    message.encode("utf-8")
    assert "\x1b" not in message


HUGE = 10**5000  # Python refuses the repr of a whole number past 4,300 digits


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.service.create_refund("pay_000001", HUGE, None, "k-1"),
        lambda w: Money(-HUGE, "EUR"),
        lambda w: w.service.restock("s1", "SKU-MUG", HUGE),
        lambda w: w.service.create_payment_intent(SESSION, [CartItem("p_mug", -HUGE)]),
        lambda w: Config(lease_ms=HUGE),
    ],
    ids=["refund amount", "money", "restock", "cart quantity", "config"],
)
def test_a_huge_whole_number_is_a_typed_error_not_a_valueerror(
    call: Callable[[Wiring], object],
) -> None:
    with pytest.raises(PaycoreError, match="a whole number of 16610 bits"):
        call(make_shop())


@pytest.mark.parametrize(
    "cart",
    [[(HUGE,)], {"product_id": "p_mug", "quantity": [HUGE]}, [CartItem("p_mug", [HUGE])]],  # type: ignore[list-item]
    ids=["tuple holding one", "mapping holding a list of one", "quantity a list of one"],
)
def test_a_huge_whole_number_inside_a_value_is_a_typed_error(cart: object) -> None:
    """repr() of a list or a mapping that holds a past-4,300-digit number raises too: the
    message shows the value by its type, and the error is the typed one."""
    w = make_shop()
    before = w.store.fingerprint()
    with pytest.raises(PaycoreError):
        w.service.create_payment_intent(SESSION, cart)  # type: ignore[arg-type]
    assert w.store.fingerprint() == before
