"""StateMachine.recordable: the audit entries an aggregate's machine allows, as values."""

from __future__ import annotations

import pytest

from paycore.invariants.audit import legal_transitions
from paycore.machines import MACHINES, StateMachine
from paycore.records import AuditEntry
from paycore.schema import AUDIT


def _allowed(m: StateMachine, frm: str | None, trigger: str, to: str) -> bool:
    """What the audit check asks in full: creation, or an edge ``next`` takes."""
    if frm is None:
        return trigger == "create" and to == m.initial.value
    src = m.states(frm)
    return m.allows(src, trigger) and m.next(src, trigger).value == to


class _Snap:
    def __init__(self, entries: list[AuditEntry]) -> None:
        self.entries = entries

    def rows(self, table: object) -> list[AuditEntry]:
        assert table is AUDIT
        return self.entries


@pytest.mark.parametrize("name", sorted(MACHINES))
class TestRecordable:
    def test_holds_exactly_what_the_machine_allows(self, name: str) -> None:
        """Every (from, trigger, to) of every state and trigger is recordable exactly when
        the machine allows it, and creation only to the initial state."""
        m = MACHINES[name]
        values: list[str | None] = [None, *(st.value for st in m.states)]
        for frm in values:
            for trigger in [*sorted(m.triggers), "create"]:
                for to in values[1:]:
                    assert ((frm, trigger, to) in m.recordable) == _allowed(m, frm, trigger, to)

    def test_an_illegal_entry_is_still_reported(self, name: str) -> None:
        """The check lets legal entries through and reports the rest."""
        m = MACHINES[name]
        frm, trigger = next(
            (st, t) for st in m.states for t in sorted(m.triggers) if not m.allows(st, t)
        )
        bad = AuditEntry(1, 0, name, "x1", frm.value, m.initial.value, trigger, None)
        good = AuditEntry(2, 0, name, "x2", None, m.initial.value, "create", None)
        found = list(legal_transitions(_Snap([good, bad]), None))  # type: ignore[arg-type]
        assert [(v.invariant, v.subject) for v in found] == [("legal-transitions", f"{name} x1")]
