"""A flow that keeps going round the ask-first trip (send, no answer, ask, nothing
there, send again) without getting anywhere is stalled, and `attention` shows it;
a round trip that converges raises nothing.

The trip crosses steps: a send step whose request may be lost moves to the step that
asks the provider first. That move is no progress: the stall streak
(``retrying_since``) goes on through it, so the flow's ``flow_stalled`` alert comes
after ``stall_alert_after_ms`` of going round, and closes once the flow moves on."""

from __future__ import annotations

import pytest
from tests.chaos.test_outages import MINUTE, SECOND, make_shop_with, ride_out
from tests.support import SESSION, converged, flow_of

from paycore.config import Config
from paycore.errors import FlowPending, ProviderError, ProviderUnavailable
from paycore.flows.checkout import CartItem
from paycore.status import FlowStatus
from paycore_adapters.memory import Wiring


def creates_lost_for(w: Wiring, duration_ms: int) -> int:
    """Every ``create_intent`` is lost on its way (a 5xx before any effect, the
    ambiguous case) for ``duration_ms`` from now; every other call is answered."""
    until = w.clock.now() + duration_ms

    def fault(name: str, phase: str, key: str | None) -> None:
        if name == "create_intent" and w.clock.now() < until:
            raise ProviderUnavailable(f"{name}: 503 from the provider (lost)")

    w.provider.fault = fault  # type: ignore[attr-defined]
    return until


def stalled(w: Wiring) -> list[str]:
    return [a.subject for a in w.service.attention() if a.kind == "flow_stalled"]


@pytest.mark.parametrize("honours_keys", [True, False])
def test_a_checkout_going_round_the_ask_first_trip_is_shown_stalled(
    honours_keys: bool,
) -> None:
    """On a provider that ignores keys a lost create is never sent again unasked: each
    round goes create, ask first (find), nothing, create. 40 minutes of it raise
    ``flow_stalled``, as the same 40 minutes do on a provider that honours keys."""
    w = make_shop_with(Config(provider_honours_keys=honours_keys))
    until = creates_lost_for(w, 40 * MINUTE)
    with pytest.raises((FlowPending, ProviderError)):
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    ride_out(w, until, tick_ms=30 * SECOND)
    flow = flow_of(w, f"checkout:{SESSION}")
    assert flow.status is FlowStatus.ACTIVE and int(flow.data.get("keygen", 0)) >= 2
    assert stalled(w) == [flow.id]
    ride_out(w, until + 30 * MINUTE, tick_ms=30 * SECOND)
    assert flow_of(w, flow.id).status is FlowStatus.SUCCEEDED
    assert stalled(w) == []  # closed once the flow moved on
    converged(w)


def test_one_round_trip_that_converges_raises_nothing() -> None:
    """One lost create on a provider that ignores keys: ask, wait for it to land, send
    again, done: minutes, not a stall."""
    w = make_shop_with(Config(provider_honours_keys=False))
    until = creates_lost_for(w, 2 * SECOND)
    with pytest.raises((FlowPending, ProviderError)):
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    ride_out(w, until + 20 * MINUTE, tick_ms=30 * SECOND)
    assert flow_of(w, f"checkout:{SESSION}").status is FlowStatus.SUCCEEDED
    assert "flow_stalled" not in {a.kind for a in w.alerts.raised}
    converged(w)
