"""The harness drives the public service API and checks each answer against the store."""

from __future__ import annotations

import pytest

from paycore import schema as s
from paycore.flows import checkout
from paycore.machines import FLOW
from paycore.service import PaymentService
from paycore_adapters.harness import service_api
from paycore_adapters.harness.service_api import BAD_SESSIONS, CALLS
from paycore_adapters.harness.world import World


def code(name: str, arg: int = 0) -> int:
    return arg * len(CALLS) + CALLS.index(name)


def dead_checkout(world: World) -> None:
    """Session 0 has begun a one-unit checkout of p_scarce whose flow was dead-lettered."""
    world.begin_checkout(0, 0, 1)
    fid = checkout.flow_id_for(world.session(0))

    def kill(u: object) -> None:
        flow = u.get(s.FLOWS, fid)  # type: ignore[attr-defined]
        u.move(s.FLOWS, flow, FLOW, "dead_letter", last_error="test")  # type: ignore[attr-defined]

    world.engine.transact(kill)


class TestAnswersChecked:
    def test_correct_answers_leave_no_finding(self) -> None:
        """Checkout, confirm, refund and cancel through the service: nothing is wrong."""
        world = World()
        for c in (code("checkout", 1), code("confirm", 0), code("refund", 0)):
            service_api.call(world, c)
        service_api.call(world, code("checkout", 2))
        service_api.call(world, code("cancel", 1))
        assert world.findings == []
        assert world.counts["service_calls"] == 5
        assert any("service: create_refund" in line for line in world.timeline)

    def test_a_dead_checkout_must_not_come_back_as_a_result(self) -> None:
        """The service raises for a dead checkout; the harness accepts that."""
        world = World()
        dead_checkout(world)
        service_api.call(world, code("checkout", 0))
        assert world.findings == []
        assert world.timeline[-1].endswith("-> flow_pending")

    def test_a_service_answering_a_dead_checkout_normally_is_caught(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A service that returns a dead checkout as a normal result is a finding."""
        world = World()
        dead_checkout(world)
        monkeypatch.setattr(
            PaymentService,
            "_finish_replying",
            lambda self, fid, known=None: (self.engine.load(fid), None),
        )
        service_api.call(world, code("checkout", 0))
        assert [f.invariant for f in world.findings] == ["service-answers"]
        assert "whose flow is dead" in world.findings[0].detail

    @pytest.mark.parametrize("n", range(len(BAD_SESSIONS)))
    def test_malformed_session_ids_are_refused(self, n: int) -> None:
        """Each malformed session id is refused with a typed error, nothing written."""
        world = World()
        service_api.call(world, code("bad_session", n))
        assert world.findings == []

    def test_a_service_accepting_a_malformed_session_is_caught(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Session-id validation switched off: the harness notices."""
        world = World()
        monkeypatch.setattr(checkout, "check_session_id", lambda sid: sid)
        service_api.call(world, code("bad_session", 0))
        assert [f.invariant for f in world.findings] == ["service-answers"]

    def test_a_wrong_payment_status_in_an_answer_is_caught(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A confirm answer stating another status than the stored one is a finding."""
        world = World()
        service_api.call(world, code("checkout", 1))
        real = PaymentService._payment_result

        def stale(
            self: PaymentService, pid: str, url: str | None = None, known: object = None
        ) -> object:
            return real(self, pid, url, known).__class__(pid, "open")

        monkeypatch.setattr(PaymentService, "_payment_result", stale)
        service_api.call(world, code("confirm", 0))
        assert [f.subject for f in world.findings] == [world.payment_ids()[0]]
