"""Stories of requests still running at the provider when paycore moves on.

A request whose caller gave up (its read timed out) runs on at Stripe; until it ends, its
key is in use (409 ``idempotency_key_in_use``) and the object it changes is locked (429
``lock_timeout``) (docs.stripe.com/api/idempotent_requests, docs.stripe.com/error-codes).
The fake holds a request in flight on the harness's ``provider_request_held`` fault
(:mod:`paycore_adapters.fake_inflight`); these stories make sure every run meets both
answers, whatever the random examples draw.
"""

from __future__ import annotations

from collections.abc import Callable

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


def create_still_running_when_the_seller_stops(world: World) -> None:
    """A checkout's create is held at the provider: no answer, its replay is told the key
    is in use, its list shows nothing yet, and it waits. Meanwhile the seller loses
    charges at the provider: a second checkout is refused before any create (its payment
    fails in creation). The held create lands 90 s later, against the account as it is
    then, and is refused: the first checkout still lists nothing, waits out the landing
    window and ends as the second did. No intent in all."""
    from .stories import PLENTY, drain, until_step  # stories lists this one

    ready = set(world.runnable())
    world.begin_checkout(0, PLENTY, 1)
    for fid in set(world.runnable()) - ready:  # the checkout flow, when it started
        world.arm(FaultKind.REQUEST_HELD, "create_intent")
        until_step(world, fid, "find")
    world.merchant(0)  # the seller loses charges at the provider
    world.begin_checkout(1, PLENTY, 1)
    drain(world)
    world.w.clock.advance(HELD_MS)
    world.say(f"clock +{HELD_MS // 1000} s (the held request lands)")
    drain(world)


#: The stories of this module, as :data:`paycore_adapters.harness.stories.STORIES` lists them.
STORIES: dict[str, Callable[[World], None]] = {
    "refund_still_running_when_retried": refund_still_running_when_retried,
    "create_still_running_when_the_seller_stops": create_still_running_when_the_seller_stops,
}
