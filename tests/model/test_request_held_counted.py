"""``provider_request_held`` is counted only when a request was held: on a provider that
cannot hold one, the armed fault fails the call before it and is counted as such, so the
gate that every kind of fault fires cannot pass on a fault that never happened."""

from __future__ import annotations

import pytest

from paycore.errors import ProviderUnavailable
from paycore_adapters.harness.faults import FaultKind, FaultPlan


class TestHeldRequestCountedOnlyWhenHeld:
    def test_without_a_way_to_hold_it_is_a_plain_failure_before_the_call(self) -> None:
        plan = FaultPlan(hold=None)
        plan.arm(FaultKind.REQUEST_HELD)
        with pytest.raises(ProviderUnavailable):
            plan.provider_hook("create_intent", "before", "k1")
        assert dict(plan.fired) == {FaultKind.PROVIDER_DOWN: 1}

    def test_with_one_it_is_held_and_counted(self) -> None:
        held: list[str] = []
        plan = FaultPlan(hold=lambda call, **_: held.append(call))
        plan.arm(FaultKind.REQUEST_HELD)
        plan.provider_hook("create_intent", "before", "k1")
        assert held == ["create_intent"] and dict(plan.fired) == {FaultKind.REQUEST_HELD: 1}
