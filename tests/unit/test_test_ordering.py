"""The suite's test order: longest first for the parallel run, shortest first under a mutant."""

from __future__ import annotations

from typing import Any

import pytest
from tests import ordering


class _Item:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid


def _items(*ids: str) -> list[Any]:
    return [_Item(i) for i in ids]


def test_shortest_first_puts_untimed_tests_first_in_their_collected_order() -> None:
    items = _items("a", "slow", "b", "slower", "c")
    seconds = {"slow": 3.0, "slower": 9.0, "gone": 1.0}
    assert [i.nodeid for i in ordering.shortest_first(items, seconds)] == [
        "a",
        "b",
        "c",
        "slow",
        "slower",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("stats", False), ("paycore.unit.x_f__mutmut_3", True)],
)
def test_a_mutant_is_recognised_by_the_runner_variable(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("MUTANT_UNDER_TEST", raising=False)
    else:
        monkeypatch.setenv("MUTANT_UNDER_TEST", value)
    assert ordering.under_mutant() is expected


def test_under_a_mutant_the_collection_runs_shortest_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MUTANT_UNDER_TEST", "paycore.unit.x_f__mutmut_3")
    monkeypatch.setattr(ordering, "load_timings", lambda: {"long": 5.0, "mid": 2.0})
    items = _items("long", "quick", "mid")
    ordering.pytest_collection_modifyitems(pytest.Config.__new__(pytest.Config), items)
    assert [i.nodeid for i in items] == ["quick", "mid", "long"]


def test_otherwise_the_collection_runs_longest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUTANT_UNDER_TEST", raising=False)
    monkeypatch.setattr(ordering, "load_timings", lambda: {"long": 5.0, "mid": 2.0})
    items = _items("quick", "mid", "long")
    ordering.pytest_collection_modifyitems(pytest.Config.__new__(pytest.Config), items)
    assert [i.nodeid for i in items] == ["long", "mid", "quick"]
