"""Entry points given malformed input answer with the same typed error on every store
(memory, SQLite, PostgreSQL) and change nothing: ``start_webhook`` screens an event
before it looks it up, reads treat a malformed id as the writes do, and ``run_flow``
names a flow it cannot find."""

from __future__ import annotations

from typing import Any

import pytest
from tests.stores.test_bad_input_every_store import (  # noqa: F401 (fixtures)
    PAY,
    UNNAMEABLE,
    refused,
    shop,
    store,
)

from paycore import errors as E
from paycore.ports import ProviderEvent
from paycore_adapters.memory import Wiring

#: What is not a usable verified event, for start_webhook: refused before any lookup.
NOT_EVENTS = [
    pytest.param(
        ProviderEvent("evt\x00", "payment_intent.succeeded", 0, "payment_intent", "pi_1"),
        id="id-nul",
    ),
    pytest.param(
        ProviderEvent("evt\ud800", "payment_intent.succeeded", 0, "payment_intent", "pi_1"),
        id="id-surrogate",
    ),
    pytest.param(
        ProviderEvent(["evt_1"], "payment_intent.succeeded", 0, "payment_intent", "pi_1"),
        id="id-list",
    ),  # type: ignore[arg-type]
    pytest.param(
        ProviderEvent("evt_1", "payment_intent.succeeded", 0, "payment_intent", "pi\x00"),
        id="object-nul",
    ),
    pytest.param("evt_1", id="a-str"),
    pytest.param(None, id="none"),
    pytest.param({"id": "evt_1"}, id="a-dict"),
]


class TestStartWebhook:
    @pytest.mark.parametrize("event", NOT_EVENTS)
    def test_screened_before_the_lookup(self, shop: Wiring, event: Any) -> None:  # noqa: F811
        """start_webhook refuses what handle_webhook refuses, with InvalidInput, the
        inbox untouched: never the store's error or an AttributeError."""
        refused(shop, E.InvalidInput, lambda: shop.service.start_webhook(event))
