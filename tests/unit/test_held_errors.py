"""A provider error an engine holds until the next step applies it keeps no stack."""

from __future__ import annotations

import gc

from tests.support import begin_confirm, make_shop

from paycore import errors as err
from paycore.flows.checkout import CartItem


def _down_once(name: str, phase: str, key: str | None) -> None:
    if name == "confirm_intent" and phase == "before":
        raise err.ProviderUnavailable("injected: confirm_intent down")


class TestHeldErrors:
    def test_a_held_provider_error_carries_no_traceback(self) -> None:
        """The answer held between a call and its apply holds the error without the frames
        it was raised through (which would keep the provider's locals alive until the
        garbage collector finds the cycle)."""
        w = make_shop()
        pid = w.service.create_payment_intent("cs_held_error_0001", [CartItem("p_mug", 1)])
        fid = begin_confirm(w, pid.payment_id)
        assert fid is not None
        w.provider.fault = _down_once
        report = w.service.engine.step(fid)
        assert report.result == "provider_unavailable"
        ((_, _, _, outcome),) = w.service.engine.held_answers()
        assert isinstance(outcome.error, err.ProviderUnavailable)
        assert outcome.error.__traceback__ is None
        assert outcome.error.code == "provider_unavailable"

    def test_the_held_error_is_applied_as_before(self) -> None:
        """The error without its stack is still classified: the flow goes on to ask."""
        w = make_shop()
        pid = w.service.create_payment_intent("cs_held_error_0002", [CartItem("p_mug", 1)])
        fid = begin_confirm(w, pid.payment_id)
        assert fid is not None
        w.provider.fault = _down_once
        w.service.engine.step(fid)
        w.provider.fault = None
        gc.collect()
        w.service.engine.step(fid)
        flow = w.service.flow(fid)
        assert flow.step == "sync" and flow.data["last_error"] == "provider_unavailable"
