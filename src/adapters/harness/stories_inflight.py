"""Stories of requests whose answer paycore never got: still running at the provider, or
made and their answers lost, when paycore moves on.

A request whose caller gave up (its read timed out) runs on at Stripe; until it ends, its
key is in use (409 ``idempotency_key_in_use``) and the object it changes is locked (429
``lock_timeout``) (docs.stripe.com/api/idempotent_requests, docs.stripe.com/error-codes).
The fake holds a request in flight on the harness's ``provider_request_held`` fault
(:mod:`paycore_adapters.fake_inflight`); these stories make sure every run meets both
answers, whatever the random examples draw. A lost answer is the harness's
``provider_fail_after`` fault.
"""

from __future__ import annotations

from collections.abc import Callable

from paycore import schema as s
from paycore.flows.params import REFUND_LANDING_MS

from .faults import HELD_MS, FaultKind
from .story_steps import drain, jobs
from .world import World

#: ``World.advance``'s jumps past the reservation time-to-live and past the provider's
#: idempotency-key retention (fault kinds of their own).
PAST_RESERVATION_TTL, PAST_KEY_RETENTION = 2, 3


def refund_answer_lost_behind_newer_refunds(world: World) -> None:
    """The answers of a refund's call and of its replay are lost, and so are its webhooks
    for a while (held back, delivered late); the shop then refunds the payment twice in
    its dashboard, so the lost refund is third in the list, past the first page (the
    harness lists two a page). Its flow must read every page to find it, not refund
    again (seeded bug L2 does; the provider refuses it, too little being left, and the
    flow, finding nothing in the list's first page, fails a refund the provider made)."""
    from .stories import PLENTY, VISA, until_step  # stories lists this one

    world.shop(0, PLENTY, 1, VISA)
    ready = set(world.runnable())
    world.begin_refund(0, 60, 0)
    started = set(world.runnable()) - ready  # the refund flow, when it started
    for fid in started:
        world.arm(FaultKind.RESPONSE_LOST, "create_refund")
        world.arm(FaultKind.RESPONSE_LOST, "create_refund")
        until_step(world, fid, "resolve")
    world.pull_webhooks()
    late = list(world.pending)  # the lost refund's webhooks: only the list finds it now
    world.pending.clear()
    for _ in range(2):
        world.dashboard_refund(0)  # half of what is left; its webhook is sent
    world.w.clock.advance(REFUND_LANDING_MS)  # past the landing, no webhook delivered yet
    for fid in started:
        until_step(world, fid, "call")  # its look finds it on the last page (L2: not)
        flow = world.view().get(s.FLOWS, fid)
        if flow is not None:  # a new key's call, after its backoff: before the webhooks
            world.w.clock.advance(max(0, flow.next_run_at - world.w.clock.now()))
    drain(world)
    world.pending.extend(late)
    drain(world)
    jobs(world)


def refund_still_running_when_retried(world: World) -> None:
    """A refund's request is held in flight: its flow gets no answer, its replay is told
    the key is in use, and its look-up lists nothing yet, so it waits (no new key). A
    second refund of the same payment meets the intent's lock and retries. The held
    request lands a minute and a half later, while the clock runs on past the reservation
    time-to-live; the first flow finds it, the second refunds what is left: one provider
    refund each."""
    from .stories import PLENTY, VISA, until_step  # stories lists this one

    world.shop(0, PLENTY, 1, VISA)
    ready = set(world.runnable())
    world.begin_refund(0, 100, 0)
    for fid in set(world.runnable()) - ready:  # the refund flow, when it started
        world.arm(FaultKind.REQUEST_HELD, "create_refund")
        until_step(world, fid, "resolve")
    world.begin_refund(0, None, 1)
    drain(world)
    world.advance(PAST_RESERVATION_TTL)  # long past HELD_MS: the held request lands first
    drain(world)


def create_still_running_when_the_seller_stops(world: World) -> None:
    """A checkout's create is held at the provider: no answer, its replay is told the key
    is in use, its list shows nothing yet, and it waits. Meanwhile the seller loses
    charges at the provider: a second checkout is refused before any create (its payment
    fails in creation). The held create lands 90 s later, against the account as it is
    then, and is refused: the first checkout still lists nothing, waits out the landing
    window and ends as the second did. No intent in all."""
    from .stories import PLENTY, until_step  # stories lists this one

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


def create_answer_lost_for_a_day(world: World) -> None:
    """A checkout's create lands but its answer is lost; its flow, due to replay the
    request under the same key, runs again only after a day. Stripe keeps a key at least
    24 hours and may forget it after (docs.stripe.com/api/idempotent_requests; the fake
    forgets it then), so the replay must ask the provider first and find the intent, not
    send the create again (seeded bug F4 does: a second intent for one checkout)."""
    from paycore.flows.checkout import flow_id_for

    from .stories import PLENTY, until_step  # stories lists this one

    world.begin_checkout(0, PLENTY, 1)
    fid = flow_id_for(world.session(0))
    world.arm(FaultKind.RESPONSE_LOST, "create_intent")
    until_step(world, fid, "replay")
    world.advance(PAST_KEY_RETENTION)
    # The checkout alone, and the story ends: safety is checked before the janitor and
    # the reconciler clean up what a second create left (two live intents, one session).
    until_step(world, fid, "-")


#: The stories of this module, as :data:`paycore_adapters.harness.stories.STORIES` lists them.
STORIES: dict[str, Callable[[World], None]] = {
    "refund_answer_lost_behind_newer_refunds": refund_answer_lost_behind_newer_refunds,
    "refund_still_running_when_retried": refund_still_running_when_retried,
    "create_still_running_when_the_seller_stops": create_still_running_when_the_seller_stops,
    "create_answer_lost_for_a_day": create_answer_lost_for_a_day,
}
