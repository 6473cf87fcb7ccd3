"""Stories of requests still running at the provider when paycore moves on.

A request whose caller gave up (its read timed out) runs on at Stripe; until it ends, its
key is in use (409 ``idempotency_key_in_use``) and the object it changes is locked (429
``lock_timeout``) (docs.stripe.com/api/idempotent_requests, docs.stripe.com/error-codes).
The fake holds a request in flight on the harness's ``provider_request_held`` fault
(:mod:`paycore_adapters.fake_inflight`); these stories make sure every run meets both
answers, whatever the random examples draw.
"""

from __future__ import annotations

from .faults import HELD_MS, FaultKind
from .world import World


def refund_still_running_when_retried(world: World) -> None:
    """A refund's request is held in flight: its flow gets no answer, its replay is told
    the key is in use, and its look-up lists nothing yet, so it waits (no new key). A
    second refund of the same payment meets the intent's lock and retries. The held
    request lands a minute and a half later; the first flow finds it, the second
    refunds what is left: one provider refund each."""
    from .stories import PLENTY, VISA, drain, until_step  # stories lists this one

    world.shop(0, PLENTY, 1, VISA)
    ready = set(world.runnable())
    world.begin_refund(0, 100, 0)
    for fid in set(world.runnable()) - ready:  # the refund flow, when it started
        world.arm(FaultKind.REQUEST_HELD, "create_refund")
        until_step(world, fid, "resolve")
    world.begin_refund(0, None, 1)
    drain(world)
    world.w.clock.advance(HELD_MS)
    world.say(f"clock +{HELD_MS // 1000} s (the held request lands)")
    drain(world)
