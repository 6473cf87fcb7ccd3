"""The world's actions from outside paycore: refunds made in the provider's dashboard."""

from __future__ import annotations

import pytest

from paycore import schema as s
from paycore.status import OrderStatus
from paycore_adapters.harness.bugs import switched_on
from paycore_adapters.harness.world import World


def paid_world() -> World:
    world = World()
    world.shop(0, 1, 1, 0)  # one unit of the plentiful product, a card that works
    (payment,) = world.view().rows(s.PAYMENTS)
    assert payment.status.value == "succeeded"
    return world


class TestDashboardRefund:
    @pytest.mark.parametrize("lost", [False, True])
    def test_a_whole_dashboard_refund_is_recorded_and_refunds_the_order(self, lost: bool) -> None:
        """Delivered or lost, its webhook or the reconciler's scan records it once quiet."""
        world = paid_world()
        world.merchant(8 + (2 if lost else 0) + 1)  # whole, webhook delivered or lost
        (at_provider,) = world.w.provider.refunds()
        assert at_provider.metadata == {}
        assert world.quiesce()
        assert world.violations(("safety", "convergence")) == []
        (refund,) = world.view().rows(s.REFUNDS)
        assert refund.external and refund.provider_refund_id == at_provider.id
        (order,) = world.view().rows(s.ORDERS)
        assert order.status is OrderStatus.REFUNDED

    def test_half_is_refunded_when_half_is_asked(self) -> None:
        """The partial variant refunds half of what is left."""
        world = paid_world()
        world.merchant(8)
        (at_provider,) = world.w.provider.refunds()
        assert at_provider.amount == 125

    def test_before_the_fix_the_lost_webhook_refund_is_caught(self) -> None:
        """With I4 on (nothing records an outside refund), the quiet shop violates
        refunds-recorded."""
        with switched_on("I4"):
            world = paid_world()
            world.merchant(8 + 2 + 1)
            world.quiesce()
            found = {v.invariant for v in world.violations(("safety", "convergence"))}
        assert "refunds-recorded" in found
