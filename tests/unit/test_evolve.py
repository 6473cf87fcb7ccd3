"""``paycore.unit.evolve``: the generated copy-with-changes every write goes through.

It must agree with ``attrs.evolve`` field for field on every record type the store
holds, leave the original untouched, and refuse a field the record does not have.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paycore.money import Money
from paycore.records import Flow, Payment, Stock
from paycore.schema import TABLES
from paycore.unit import evolve


def _payment() -> Payment:
    return Payment(
        id="pay_000001",
        order_id="ord_000001",
        checkout_session_id="cs_evolve_00000001",
        seller_account="acct_1",
        amount=Money(1250, "EUR"),
        created_at=5,
        lock_owner="checkout:cs_evolve_00000001",
        reference="pref_1",
    )


def _flow() -> Flow:
    return Flow(id="confirm:pay_000001:1", kind="confirm", step="call", created_at=7, params={})


SAMPLES: list[Any] = [_payment(), _flow(), Stock("s1", "SKU-1", on_hand=3)]


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
@settings(suppress_health_check=[HealthCheck.too_slow])  # a loaded machine is not a failure
@given(data=st.data())
def test_agrees_with_attrs_evolve_on_any_subset_of_fields(record: Any, data: st.DataObject) -> None:
    names = [f.name for f in attrs.fields(type(record))]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True))
    changes = {n: data.draw(st.integers() | st.text(max_size=3) | st.none()) for n in chosen}
    before = attrs.asdict(record, recurse=False)

    new = evolve(record, dict(changes))

    assert type(new) is type(record)
    assert attrs.asdict(new, recurse=False) == {**before, **changes}
    assert attrs.asdict(record, recurse=False) == before  # the original is untouched


def test_every_stored_record_type_can_be_evolved() -> None:
    for table in TABLES:
        first = attrs.fields(table.type)[0].name
        row = object.__new__(table.type)
        for f in attrs.fields(table.type):
            object.__setattr__(row, f.name, f"v_{f.name}")
        new = evolve(row, {first: "changed"})
        assert getattr(new, first) == "changed", table.name
        others = [f.name for f in attrs.fields(table.type)][1:]
        assert all(getattr(new, n) == f"v_{n}" for n in others), table.name


def test_an_unknown_field_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="no_such_field"):
        evolve(_payment(), {"no_such_field": 1})


def test_the_audit_constructor_makes_what_attrs_makes_field_for_field() -> None:
    """Every audit entry is made by the generated positional constructor: it must be
    the record the attrs ``__init__`` makes from the same values, of the same class."""
    from paycore.records import AuditEntry
    from paycore.unit import _audit_entry

    for values in [
        (1, 5, "payment", "pay_000001", None, "creating", "create", None),
        (7, 9, "flow", "checkout:cs_1", "active", "succeeded", "finish", "checkout:cs_1"),
    ]:
        made, reference = _audit_entry(*values), AuditEntry(*values)
        assert type(made) is AuditEntry
        assert made == reference
        assert attrs.astuple(made) == values
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            made.seq = 2  # type: ignore[misc]


def test_the_constructor_refuses_a_record_that_converts_or_validates() -> None:
    """A record whose ``__init__`` converts a field (Flow's params) cannot be made
    past it: the generator refuses instead of skipping the conversion."""
    from paycore.unit import _constructor

    with pytest.raises(TypeError, match="converts or validates"):
        _constructor(Flow)
