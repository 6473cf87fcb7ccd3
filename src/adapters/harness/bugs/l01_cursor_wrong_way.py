"""L1 (review of provider listing): the reconciler walks its list cursor the wrong way.

Stripe lists intents newest first and ``starting_after`` gives the older ones
(docs.stripe.com/api/pagination). The port used to promise the reverse, oldest first
with a cursor that went forward in time, and a reconciler written for it goes on from
where its last run stopped as if the intents made since came after that place. Over
Stripe's list that walk goes back in time: at the window's start it stops, keeping its
cursor there, instead of going around to the head of the list where the new intents
are. Every run after the first lists nothing new, so an intent orphaned after the first
run (its checkout gave up, or its answer was lost) is never found.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from paycore.flows import reconcile
from paycore.flows.defs import Advance
from paycore.records import Flow
from paycore.unit import Unit

from .catalog import seeded
from .support import patched


def _never_around(u: Unit, flow: Flow, data: dict[str, Any]) -> Advance:
    """The window's start ends the run where it stands: the head is never listed again."""
    return reconcile._end(u, flow, data, data.get("last") or data.get("after"))


@seeded(
    "L1",
    "the reconciler walks its list cursor the wrong way: it goes on back in time from where "
    "the last run stopped and never around to the newest intents, so an orphaned charge "
    "made after its first run is never found",
    "no-orphaned-intent",
    "no-orphaned-charge",
)
@contextmanager
def _l1() -> Iterator[None]:
    with patched(("paycore.flows.reconcile._around", _never_around)):
        yield
