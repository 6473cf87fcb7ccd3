"""F1 (review of the provider model): the checkout trusts an empty search right after a
timeout.

It re-creates the checkout that sent an unanswered create straight to a search of the
provider by the payment's reference, and took an empty answer as "nothing was made": a
new key generation and a second create. Stripe's search lags behind writes, about a
minute and up to an hour in incidents, and is not for read-after-write flows
(docs.stripe.com/search, "Data freshness"); the fake models that (``search_lag_ms``).
Right after a lost answer the intent that was made is not found yet, so the second
create makes a second live intent for the same checkout session. The switch patches the
``create`` step (an ambiguous answer goes to ``find``, not to the replay of its key) and
the ``find`` step (a search, trusted when empty).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from paycore.flows import checkout
from paycore.flows.engine import Advance, Remote
from paycore.flows.identity import REFERENCE_KEY
from paycore.flows.steps import CheckoutStep
from paycore.ports import IntentView
from paycore.records import Flow
from paycore.unit import Unit

from .catalog import seeded
from .support import steps_patched

_CREATE = checkout._create


def _create(flow: Flow) -> Remote[IntentView]:
    """An unanswered create asks at once, instead of replaying its key first."""
    return attrs.evolve(_CREATE(flow), ask=CheckoutStep.FIND)


def _find(flow: Flow) -> Remote[list[IntentView]]:
    """Search by the payment's reference (it lags behind writes)."""
    ref = flow.params["reference"]
    return Remote(
        "search_intents",
        lambda p: p.search_intents(metadata_key=REFERENCE_KEY, value=ref),
        _after_search,
    )


def _after_search(u: Unit, flow: Flow, views: list[IntentView]) -> Advance:
    """An empty search is taken as proof that nothing was made: create again, new key."""
    found = checkout._mine(u, flow, views)
    if found:
        return checkout._adopt(u, flow, found[0], checkout._payment(u, flow))
    return Advance(
        to=CheckoutStep.CREATE,
        retry="no intent found after an unanswered create",
        data={"keygen": flow.data.get("keygen", 0) + 1},
    )


@seeded(
    "F1",
    "after an unanswered create the checkout searches the provider at once and takes an "
    "empty answer as proof that nothing was made; the search lags behind writes, so it "
    "creates again under a new key and the session has two live intents",
    "one-live-intent-per-session",
)
@contextmanager
def _f1() -> Iterator[None]:
    with steps_patched(
        checkout.DEF,
        replace={CheckoutStep.CREATE: _create, CheckoutStep.FIND: _find},
        edges={CheckoutStep.CREATE: [CheckoutStep.FIND]},
    ):
        yield
