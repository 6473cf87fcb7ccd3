"""JSON columns read in one pass by the parser (``values.loads``) give what the walk over
the parsed data (``values.decode``) gives, for every text ``values.dumps`` writes and
for tags in unusual places."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore import records as r
from paycore.money import Money
from paycore.status import OrderStatus, PaymentStatus
from paycore_adapters.sql import values

_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.sampled_from([PaymentStatus.SUCCEEDED, OrderStatus.PAID, Money(1250, "EUR")]),
    st.just(r.OrderLine("p", "SKU", "s", "Mug", Money(1250, "EUR"), 2)),
)
_KEYS = st.one_of(st.text(max_size=4), st.sampled_from(["$", "$tuple", "$map", "fields"]))
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=3),
        st.dictionaries(st.one_of(st.integers(), st.tuples(st.integers())), inner, max_size=2),
    ),
    max_leaves=12,
)


def _walked(text: str) -> object:
    return values.decode(json.loads(text))


@given(_VALUES)
def test_parsed_as_walked(value: object) -> None:
    text = values.dumps(value)
    back = values.loads(text)
    assert back == value
    assert repr(back) == repr(_walked(text)) == repr(value)


@pytest.mark.parametrize(
    "text",
    [
        '{"$map": [["$tuple", 1], [[1, 2], {"$tuple": [1]}]]}',  # "$" keys made by a $map
        '{"$tuple": [{"$map": [["$x", {"a": 1}]]}, []]}',
        '{"a": {"$enum": "OrderStatus", "value": "paid"}, "b": [{"$tuple": []}]}',
        '{"$map": [], "x": 1}',
        '[{"fields": {"$tuple": [1]}}]',
        b'{"$tuple": [1, 2]}',
    ],
)
def test_tags_anywhere(text: str | bytes) -> None:
    walked = values.decode(json.loads(text))
    assert repr(values.loads(text)) == repr(walked)


@pytest.mark.parametrize(
    "text",
    [
        '{"$record": "Popen", "fields": {}}',
        '[1, {"$x": 1}]',
        '{"a": {"$enum": "Nope", "value": 1}}',
    ],
)
def test_unknown_classes_refused_anywhere(text: str) -> None:
    with pytest.raises(values.StoredValueInvalid):
        values.decode(json.loads(text))
    with pytest.raises(values.StoredValueInvalid):
        values.loads(text)
