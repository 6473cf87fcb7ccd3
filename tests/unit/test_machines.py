"""State machines: one per aggregate type, built once, illegal transitions raise."""

from __future__ import annotations

import pytest
from transitions import Machine

from paycore.errors import IllegalTransition, PaycoreError
from paycore.machines import MACHINES, ORDER, PAYMENT
from paycore.status import OrderStatus, PaymentStatus


class TestStateMachine:
    def test_lookup_agrees_with_transitions(self) -> None:
        """The precomputed lookup gives the same destination as a transitions model would."""
        for m in MACHINES.values():
            for src, trigger, dst in m.edges():

                class Model:
                    pass

                model = Model()
                Machine(
                    model=model,
                    states=[s.value for s in m.states],
                    transitions=[
                        {"trigger": t, "source": [x.value for x in srcs], "dest": d.value}
                        for t, srcs, d in m.table
                    ],
                    initial=src.value,
                    auto_transitions=False,
                )
                getattr(model, trigger)()
                assert model.state == dst.value == m.next(src, trigger).value  # type: ignore[attr-defined]

    def test_illegal_transition_raises_domain_error(self) -> None:
        """A trigger not allowed from a state raises IllegalTransition with structured fields."""
        with pytest.raises(IllegalTransition) as info:
            PAYMENT.next(PaymentStatus.SUCCEEDED, "cancel")
        assert isinstance(info.value, PaycoreError)
        assert info.value.fields == {
            "aggregate": "payment",
            "state": "succeeded",
            "trigger": "cancel",
        }

    def test_terminal_states(self) -> None:
        """Succeeded, canceled and failed payments never move; paid orders only refund."""
        assert PAYMENT.terminal == {
            PaymentStatus.SUCCEEDED,
            PaymentStatus.CANCELED,
            PaymentStatus.FAILED,
        }
        assert OrderStatus.PAID not in ORDER.terminal
        assert {
            OrderStatus.CANCELED,
            OrderStatus.REFUNDED,
            OrderStatus.OUT_OF_STOCK,
        } <= ORDER.terminal

    def test_every_state_reachable_from_initial(self) -> None:
        """No state is dead code: each is reachable from the initial state."""
        for m in MACHINES.values():
            seen = {m.initial}
            frontier = [m.initial]
            while frontier:
                cur = frontier.pop()
                for src, _t, dst in m.edges():
                    if src == cur and dst not in seen:
                        seen.add(dst)
                        frontier.append(dst)
            assert seen == set(m.states), (m.aggregate, set(m.states) - seen)
