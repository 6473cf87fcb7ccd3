"""Records built through a draft (``paycore.unit._draft_class``): every write copies a
frozen record, and the copy is filled as a plain object of the same layout that then
becomes the record. The copy must be the record attrs would make, frozen like it, and
every stored record type must be built this way (a record that loses the shared layout
would silently fall back to the slower path)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from paycore.ports import IntentView
from paycore.records import AuditEntry, Flow
from paycore.schema import TABLES
from paycore.unit import _constructor, _draft_class, evolve


def _row(cls: type) -> Any:
    row = object.__new__(cls)
    for f in attrs.fields(cls):
        object.__setattr__(row, f.name, f"v_{f.name}")
    return row


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_every_stored_record_type_is_copied_through_a_draft(table: Any) -> None:
    """Each table's record class has a draft of its own layout."""
    draft = _draft_class(table.type)
    assert draft is not None, f"{table.type.__name__} records cannot be drafted"
    assert draft.__slots__ == table.type.__slots__


@pytest.mark.parametrize("cls", [Flow, AuditEntry, IntentView], ids=lambda c: c.__name__)
def test_a_drafted_copy_is_the_record_attrs_makes_and_stays_frozen(cls: type) -> None:
    row = _row(cls)
    first = attrs.fields(cls)[0].name
    new = evolve(row, {first: "changed"})
    assert type(new) is cls
    assert attrs.asdict(new, recurse=False) == {
        **attrs.asdict(row, recurse=False),
        first: "changed",
    }
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(new, first, "again")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        delattr(new, first)


def test_a_record_with_a_weakref_slot_has_no_draft_and_is_still_copied_right() -> None:
    """The fallback: a layout ``__class__`` assignment cannot cross is set slot by slot."""

    @attrs.frozen
    class Weak:
        a: int
        b: str = "x"

    assert "__weakref__" in Weak.__slots__
    assert _draft_class(Weak) is None
    new = evolve(Weak(1), {"b": "y"})
    assert (type(new), new.a, new.b) == (Weak, 1, "y")
    assert _constructor(Weak)(2, "z") == Weak(2, "z")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        new.a = 3  # type: ignore[misc]


def test_a_record_that_inherits_fields_has_no_draft() -> None:
    @attrs.frozen(weakref_slot=False)
    class Base:
        a: int

    @attrs.frozen(weakref_slot=False)
    class Child(Base):
        b: int = 0

    assert _draft_class(Child) is None
    assert evolve(Child(1, 2), {"a": 5}) == Child(5, 2)
