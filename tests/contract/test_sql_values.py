"""Nested values in JSON columns: plain where plain, tagged only where JSON is ambiguous."""

from __future__ import annotations

import json

import pytest

from paycore import records as r
from paycore.money import Money
from paycore.status import PaymentStatus
from paycore_adapters.sql import values


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [1, "x", None, True]},
        {"items": (("p1", 2), ("p2", 1))},
        {"$starts_with_dollar": 1},
        {1: "int key", (1, 2): "tuple key"},
        (r.OrderLine("p", "SKU", "s", "Mug", Money(1250, "EUR"), 2),),
        {"status": PaymentStatus.SUCCEEDED},
        [],
        {},
    ],
)
def test_round_trip(value: object) -> None:
    back = values.loads(values.dumps(value))
    assert back == value
    assert repr(back) == repr(value)  # types too: a str enum equals its value as a str


def test_plain_mappings_stay_plain_json() -> None:
    assert json.loads(values.dumps({"a": [1, {"b": None}]})) == {"a": [1, {"b": None}]}


def test_only_paycore_classes_are_built_from_stored_text() -> None:
    with pytest.raises(values.StoredValueInvalid):
        values.loads('{"$record": "Popen", "fields": {}}')
    with pytest.raises(TypeError):
        values.dumps({"x": object()})
