"""F3 (review of the provider model): a refund whose request is still running is made again.

It re-creates the refund flow that, after a call with no answer (a timeout, or a 409
``idempotency_key_in_use`` while the first request with its key still ran), went straight
to the intent's list of refunds and took an empty list as "nothing was made": a new key
generation at once. Stripe runs a request on after its client gave up, and refuses its
key with 409 until it ends (docs.stripe.com/api/idempotent_requests,
docs.stripe.com/error-codes); an empty list right after the timeout proves nothing. The
fake models that (:mod:`paycore_adapters.fake_inflight`; the harness's
``provider_request_held`` fault and the story ``refund_still_running_when_retried``): the
held request lands after the new key's, and the refund is made twice at the provider.
The switch patches the ``call`` step (an unanswered call asks at once, without
replaying its key) and the ``resolve`` step (an empty list means a new key, at once).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from paycore.flows import refund_recovery, refunds
from paycore.flows.engine import Advance, Remote
from paycore.flows.steps import RefundStep
from paycore.ports import RefundView
from paycore.records import Flow
from paycore.unit import Unit

from .catalog import seeded
from .support import steps_patched

_CALL = refunds._call


def _call(flow: Flow) -> Remote[RefundView]:
    """An unanswered call lists at once, instead of replaying its key first."""
    return attrs.evolve(_CALL(flow), ask=RefundStep.RESOLVE)


def _resolve(flow: Flow) -> Remote[list[RefundView]]:
    return attrs.evolve(refund_recovery.resolve(flow), apply=_after_resolve)


def _after_resolve(u: Unit, flow: Flow, views: list[RefundView]) -> Advance:
    """Found or recorded: as paycore does. Not listed: a new key at once."""
    adv = refund_recovery.after_resolve(u, flow, views)
    if adv.transient:  # paycore waits for a request that may still land; not this flaw
        return Advance(
            to=RefundStep.CALL,
            retry="no refund found after an unanswered call",
            data={"keygen": flow.data.get("keygen", 0) + 1},
        )
    return adv


@seeded(
    "F3",
    "a refund whose call got no answer (or a 409: its key in use by a request still "
    "running) lists the refunds at once and takes an empty list as proof that nothing was "
    "made; the first request lands later and the refund is made twice at the provider",
    "one-provider-refund-per-refund",
    "provider-refunds-within-captured",
)
@contextmanager
def _f3() -> Iterator[None]:
    with steps_patched(refunds.DEF, replace={RefundStep.CALL: _call, RefundStep.RESOLVE: _resolve}):
        yield
