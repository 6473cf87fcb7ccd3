"""S1: a created intent whose local write failed is neither adopted nor canceled.

Three small bends of the checkout flow: each create attempt gets a fresh idempotency
key (``checkout.key``), an unanswered create is tried again instead of asking the
provider what it made (the ``create`` step's ``ask`` is dropped), and the rollback
closes the order as if its search had found nothing (``_after_abort_lookup`` sees an
empty list), so what it found is neither canceled nor recorded.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from paycore.flows import checkout
from paycore.flows.engine import Advance, Remote, key
from paycore.flows.steps import CheckoutStep
from paycore.ports import IntentView
from paycore.records import Flow
from paycore.unit import Unit

from .catalog import seeded
from .support import patched, steps_patched

_KEY = key
_CREATE = checkout._create
_ABORT_LOOKUP = checkout._after_abort_lookup


def _create(flow: Flow) -> Remote[IntentView]:
    """An unanswered create is simply tried again (with a new key: a new request)."""
    return attrs.evolve(_CREATE(flow), ask=None)


def _after_abort_lookup(u: Unit, flow: Flow, views: list[IntentView]) -> Advance:
    """The rollback releases the stock and closes the order as if no intent existed."""
    return _ABORT_LOOKUP(u, flow, [])


@seeded(
    "S1",
    "a created intent whose local write failed is neither adopted nor canceled: a retried "
    "create after a lost answer (crash, failed commit) uses a new idempotency key and makes "
    "another intent, and the rollback closes the order without canceling what it finds",
    "one-live-intent-per-session",
)
@contextmanager
def _s1() -> Iterator[None]:
    attempt = itertools.count(1)

    def fresh_key(flow: Flow, step: str) -> str:
        if step == "create":
            # Nothing ties the call to the checkout: each attempt is a new request.
            return f"{flow.id}:create:attempt-{next(attempt)}"
        return _KEY(flow, step)

    with (
        patched(
            ("paycore.flows.checkout.key", fresh_key),
            ("paycore.flows.checkout._after_abort_lookup", _after_abort_lookup),
        ),
        steps_patched(checkout.DEF, replace={CheckoutStep.CREATE: _create}),
    ):
        yield
