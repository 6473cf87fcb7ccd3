"""A lookup that finds nothing puts the caller's id into the error's ``fields`` as its
message shows it (:func:`paycore.shown.shown_id`), as the catalog's and the cart's
errors do: a 100,000-character id, an ANSI escape or a lone surrogate given to
``flow``, ``payment`` or ``resolve_alert`` came back whole in ``fields``, where a
structured log handler or the command line's ``--json`` writes it out.

Before: ``FlowNotFound``, ``PaymentNotFound`` and ``AlertNotFound`` held the id given."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from tests.support import make_shop

from paycore.errors import PaycoreError
from paycore.shown import shown_id
from paycore_adapters.memory import Wiring

LONG = "x" * 100_000
ANSI = "\x1b[31mRED\x1b[0m"
SURROGATE = "pay_\ud800"

#: Each lookup, the field its error names the id by, and its code.
LOOKUPS: dict[str, tuple[Callable[[Wiring, str], object], str, str]] = {
    "flow": (lambda w, i: w.service.flow(i), "flow_id", "flow_not_found"),
    "revive_flow": (lambda w, i: w.service.revive_flow(i), "flow_id", "flow_not_found"),
    "abandon_flow": (lambda w, i: w.service.abandon_flow(i), "flow_id", "flow_not_found"),
    "payment": (lambda w, i: w.service.payment(i), "payment_id", "payment_not_found"),
    "cancel_payment": (
        lambda w, i: w.service.cancel_payment(i),
        "payment_id",
        "payment_not_found",
    ),
    "resolve_alert": (
        lambda w, i: w.service.resolve_alert(i, "done"),
        "alert_id",
        "alert_not_found",
    ),
}


@pytest.mark.parametrize("name", sorted(LOOKUPS))
@pytest.mark.parametrize("bad", [LONG, ANSI, SURROGATE], ids=["long", "ansi", "surrogate"])
def test_an_id_that_names_nothing_is_in_fields_as_the_message_shows_it(name: str, bad: str) -> None:
    call, field, code = LOOKUPS[name]
    with pytest.raises(PaycoreError) as caught:
        call(make_shop(), bad)
    err = caught.value
    assert err.code == code
    if field in err.fields:  # a surrogate id names no payment before any lookup
        value = err.fields[field]
        assert value == shown_id(bad), (name, str(value)[:80])
        assert len(value) < 100 and "\x1b" not in value
        json.dumps(err.fields).encode("utf-8")  # no lone surrogate left


@pytest.mark.parametrize("name", sorted(LOOKUPS))
def test_an_ordinary_unknown_id_is_in_fields_as_it_is(name: str) -> None:
    call, field, _ = LOOKUPS[name]
    with pytest.raises(PaycoreError) as caught:
        call(make_shop(), "nope_000001")
    assert caught.value.fields[field] == "nope_000001"
