"""The explorer's copy of a world: independent of the original, sharing what is immutable."""

from __future__ import annotations

import abc
import random
from collections import Counter

import attrs

from paycore_adapters.harness.explore import copyable, fork
from paycore_adapters.harness.world import World


@attrs.frozen
class Record:
    n: int


class Holder(abc.ABC):  # noqa: B024 (abc.ABC declares an empty __slots__: nothing to copy)
    def __init__(self, record: Record) -> None:
        self.record = record
        self.counts: Counter[str] = Counter(a=1)
        self.tags = {"x", "y"}
        self.frozen = frozenset({"z"})
        self.rng = random.Random(7)
        self.read = self.get  # a bound method: bound to the copy in the copy

    def get(self) -> Record:
        return self.record


class Slotted:
    __slots__ = ("__hidden", "items", "record")

    def __init__(self, record: Record) -> None:
        self.__hidden = [record]
        self.record = record
        self.items = [1, 2]

    def hidden(self) -> list[Record]:
        return self.__hidden


def forked_with(extra: object) -> tuple[World, World]:
    world = World(scarce_stock=1)
    world.extra = extra  # type: ignore[attr-defined]
    with copyable():
        return world, fork(world)


def test_a_plain_object_is_copied_and_its_frozen_records_shared() -> None:
    """An object of a class with an empty ``__slots__`` base (``abc.ABC``) is copied by its
    attributes: containers new, frozen records shared, a bound method bound to the copy,
    a random generator in the same state."""
    original, copied = forked_with(Holder(Record(1)))
    a, b = original.extra, copied.extra  # type: ignore[attr-defined]
    assert b is not a and b.record is a.record
    assert b.counts == a.counts and b.counts is not a.counts
    b.counts["a"] += 1
    assert a.counts["a"] == 1
    assert b.tags == a.tags and b.tags is not a.tags
    assert b.frozen is a.frozen
    assert b.read.__self__ is b and b.read() is a.record
    assert [b.rng.random() for _ in range(3)] == [a.rng.random() for _ in range(3)]


def test_an_object_with_slots_is_copied_slot_by_slot() -> None:
    """Every slot is copied, a private one included; frozen records stay shared."""
    original, copied = forked_with(Slotted(Record(2)))
    a, b = original.extra, copied.extra  # type: ignore[attr-defined]
    assert b is not a and b.record is a.record
    assert b.hidden() == a.hidden() and b.hidden() is not a.hidden()
    assert b.hidden()[0] is a.record
    b.items.append(3)
    assert a.items == [1, 2]
