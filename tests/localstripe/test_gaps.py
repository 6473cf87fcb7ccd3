"""The expected-failure table of localstripe and its class decorator."""

from __future__ import annotations

import pytest

from paycore_adapters.testing import ProviderContract
from paycore_adapters.testing.expected_failures import CONNECT_CASES, NO_CONNECT
from paycore_adapters.testing.localstripe_gaps import GAPS, with_gaps

from . import test_contract


def _xfails(func: object) -> list[pytest.Mark]:
    return [m for m in getattr(func, "pytestmark", []) if m.name == "xfail"]


def test_every_gap_names_a_contract_case() -> None:
    """A renamed or removed case cannot leave a stale line behind."""
    assert all(callable(getattr(ProviderContract, name, None)) for name in GAPS)


def test_the_marks_are_strict_with_the_reason_and_leave_the_base_unmarked() -> None:
    """The subclass's cases are strict expected failures; the shipped contract's own
    functions (which the fake's tests run) carry no such mark."""
    for name, reason in GAPS.items():
        (mark,) = _xfails(getattr(test_contract.TestLocalstripeContract, name))
        assert mark.kwargs == {"strict": True, "reason": f"localstripe: {reason}"}
        assert _xfails(getattr(ProviderContract, name)) == []


def test_the_connect_cases_are_not_applicable_without_connect() -> None:
    """The adapter runs there without Connect: each connected-account case is a strict
    expected failure "no Connect in this mode", and none is in the localstripe table."""
    assert len(CONNECT_CASES) == 10 and not set(CONNECT_CASES) & set(GAPS)
    for name in CONNECT_CASES:
        (mark,) = _xfails(getattr(test_contract.TestLocalstripeContract, name))
        assert mark.kwargs == {"strict": True, "reason": NO_CONNECT}
        assert _xfails(getattr(ProviderContract, name)) == []


def test_parametrize_marks_survive_the_copy() -> None:
    """A parametrized case keeps its parameters on the marked copy."""
    name = "test_a_blocked_account_shows_why_and_is_refused"
    marks = getattr(test_contract.TestLocalstripeContract, name).pytestmark
    assert {m.name for m in marks} == {"parametrize", "xfail"}


def test_an_unknown_case_is_refused() -> None:
    class Other:
        pass

    with pytest.raises(AttributeError, match="no case"):
        with_gaps(Other)
