"""The checkout's lookup window: the intents its create requests can have made, read
from the provider's list by ``created`` window (see :mod:`paycore.flows.checkout`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import attrs

from paycore.flows.engine import Advance, Remote
from paycore.flows.params import CheckoutParams, params_of
from paycore.flows.steps import CheckoutStep as Step
from paycore.listing import intents_between, seconds_from, seconds_until
from paycore.ports import IntentView
from paycore.records import Flow
from paycore.unit import Unit

Found = list[IntentView]

#: How far the window of the lookups reaches past both ends: the provider stamps
#: ``created`` with its own clock, which may be behind this one or ahead of it.
LOOKBACK_S = 300

#: ``Flow.data``: by when every create request had gone out (ms), kept by ``find`` and
#: ``abort`` for the abort that follows them; None once ``find`` goes back to ``create``.
SENT_BY = "creates_sent_by"


def sent_by(flow: Flow) -> int:
    """By when the last create request went out, at a lookup step: creates leave only from
    ``check_seller``, ``create`` and ``replay``, and the move on from them (applying the
    last answer, or the engine's ask-first) comes after: ``step_at`` at ``find``, or at an
    ``abort`` entered from them."""
    recorded = flow.data.get(SENT_BY)
    if recorded is not None and flow.step != Step.FIND:
        return int(recorded)
    return int(flow.data.get("step_at", flow.created_at))


def lookup(flow: Flow, then: Callable[[Unit, Flow, Found], Advance]) -> Remote[Found]:
    """The intents the creates can have made, from the list by ``created`` window, which
    does not lag (docs.stripe.com/search, "Data freshness"): from the checkout's start to
    ``landing_ms`` after its last create request, ``LOOKBACK_S`` wider at both ends. A
    lookup made long after reads no intent the account made since."""
    since = seconds_from(flow.created_at) - LOOKBACK_S
    until = seconds_until(sent_by(flow) + params_of(CheckoutParams, flow).landing_ms) + LOOKBACK_S
    call = partial(intents_between, created_gte_s=since, created_lt_s=until)
    return Remote("list_intents", call, partial(_from_the_read, then))


#: The times a lookup's wait counts from (:func:`sent_by`).
_SENT_TIMES = ("step_at", SENT_BY)


def _from_the_read(
    then: Callable[[Unit, Flow, Found], Advance], u: Unit, flow: Flow, views: Found
) -> Advance:
    """Apply a lookup's answer with the times its wait counts from no later than when the
    list was read (``u.answered_at()``). A time ahead of the read was written by a clock
    that ran ahead (a jump of the host's time): every create request went out before the
    list was read whatever it says, so the wait for one that may still land counts from
    the read, not for as long as the jump (as a refund's ``resolve``,
    :func:`paycore.flows.refund_recovery.after_resolve`). A lookup that stays at its step
    keeps the times as read, so the next one counts from the same moment."""
    read_at = u.answered_at()
    ahead = {k: read_at for k in _SENT_TIMES if int(flow.data.get(k) or 0) > read_at}
    if not ahead:
        return then(u, flow, views)
    adv = then(u, attrs.evolve(flow, data={**flow.data, **ahead}), views)
    if adv.to is None or str(adv.to) == flow.step:
        return attrs.evolve(adv, data={**ahead, **adv.data})
    return adv
