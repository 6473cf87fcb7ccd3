"""Entry points given malformed input answer with the same typed error on every store
(memory, SQLite, PostgreSQL) and change nothing: ``start_webhook`` screens an event
before it looks it up, reads treat a malformed id as the writes do, and ``run_flow``
names a flow it cannot find. One shop per store and test (a PostgreSQL database costs
about half a second), each case checked in turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.stores.test_bad_input_every_store import (  # noqa: F401 (fixtures)
    PAY,
    shop,
    store,
)

from paycore import errors as E
from paycore.ports import ProviderEvent
from paycore_adapters.memory import Wiring

SUCCEEDED = "payment_intent.succeeded"
#: What is not a usable verified event, for start_webhook: refused before any lookup.
NOT_EVENTS: dict[str, Any] = {
    "id-nul": ProviderEvent("evt\x00", SUCCEEDED, 0, "payment_intent", "pi_1"),
    "id-surrogate": ProviderEvent("evt\ud800", SUCCEEDED, 0, "payment_intent", "pi_1"),
    "id-list": ProviderEvent(["evt_1"], SUCCEEDED, 0, "payment_intent", "pi_1"),  # type: ignore[arg-type]
    "object-nul": ProviderEvent("evt_1", SUCCEEDED, 0, "payment_intent", "pi\x00"),
    "a-str": "evt_1",
    "none": None,
    "a-dict": {"id": "evt_1"},
}
#: Ids that name no row: malformed (NUL, lone surrogate, empty, blank, a list, past the
#: id cap) or simply unknown.
NO_ROW: dict[str, Any] = {
    "nul": "x\x00",
    "surrogate": "x\ud800",
    "empty": "",
    "blank": " ",
    "list": ["pay_000001"],
    "long": "x" * 300,
    "unknown": "pay_999999",
}


def each_refused(w: Wiring, cls: type[E.PaycoreError], calls: dict[str, Callable[[], Any]]) -> None:
    """Every call raises exactly ``cls``, and together they leave the store as it was
    (one fingerprint before and one after: each costs a read of every table)."""
    before = w.store.fingerprint()  # type: ignore[attr-defined]
    wrong = []
    for name, call in calls.items():
        try:
            call()
        except Exception as exc:  # the type is the answer
            if type(exc) is not cls:
                wrong.append(f"{name}: {type(exc).__name__}: {ascii(str(exc))[:120]}")
        else:
            wrong.append(f"{name}: no error")
    assert not wrong, "\n".join(wrong)
    assert w.store.fingerprint() == before  # type: ignore[attr-defined]


class TestStartWebhook:
    def test_screened_before_the_lookup(self, shop: Wiring) -> None:  # noqa: F811
        """start_webhook refuses what handle_webhook refuses, with InvalidInput, the
        inbox untouched: never the store's error or an AttributeError."""
        calls = {k: (lambda e=e: shop.service.start_webhook(e)) for k, e in NOT_EVENTS.items()}
        each_refused(shop, E.InvalidInput, calls)


class TestReadsOfIdsThatNameNoRow:
    def test_refunds_of_a_malformed_id_is_payment_not_found(self, shop: Wiring) -> None:  # noqa: F811
        """refunds_of answers a malformed payment id (blank, NUL, lone surrogate, a list)
        as payment(), confirm_payment and create_refund do: PaymentNotFound, never an
        empty list that says "no refunds" about an id no payment can have."""
        malformed = {k: v for k, v in NO_ROW.items() if k not in ("long", "unknown")}
        calls = {k: (lambda v=v: shop.service.refunds_of(v)) for k, v in malformed.items()}
        each_refused(shop, E.PaymentNotFound, calls)
        assert shop.service.refunds_of(PAY) == []
        # Well-formed, naming no payment: no refunds (tests/unit/test_refund_requests.py).
        assert shop.service.refunds_of(NO_ROW["unknown"]) == []
        assert shop.service.refunds_of(NO_ROW["long"]) == []

    def test_run_flow_is_flow_not_found(self, shop: Wiring) -> None:  # noqa: F811
        """run_flow of an id that names no flow: FlowNotFound, as flow() says, never a
        LeaseLost, a TypeError or a strike recorded against nothing."""
        calls = {k: (lambda v=v: shop.service.run_flow(v)) for k, v in NO_ROW.items()}
        each_refused(shop, E.FlowNotFound, calls)
        done = shop.service.flow("checkout:cs_test_badinput01")
        assert shop.service.run_flow(done.id) == done
