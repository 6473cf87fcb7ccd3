"""I3 (issue 7): the checkout's search takes another store's intent for its own.

It re-creates the checkout that searched the provider by ``payment_id`` and adopted
the oldest match (ids repeat across stores and restores): the checkout's ``_is_mine``
test and its ``_search`` are swapped for ones keyed by ``payment_id``. The harness's
world starts with such objects on its account
(:data:`paycore_adapters.harness.foreign.CROWD`), so it is caught.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from paycore.flows.engine import Remote
from paycore.ports import IntentView
from paycore.records import Flow, Payment
from paycore.unit import Unit

from .catalog import seeded
from .support import patched


def _by_payment_id(u: Unit, flow: Flow, view: IntentView, payment: Payment | None = None) -> bool:
    return bool(view.metadata.get("payment_id") == flow.params["payment_id"])


Found = list[IntentView]


def _search_by_payment_id(flow: Flow, then: Callable[[Unit, Flow, Found], Any]) -> Remote[Found]:
    pid = flow.params["payment_id"]
    return Remote(
        "search_intents", lambda p: p.search_intents(metadata_key="payment_id", value=pid), then
    )


@seeded(
    "I3",
    "after an ambiguous create the checkout searches the provider by payment id and adopts "
    "the oldest match: another store's or a restored backup's intent pays for the order",
    "intent-is-the-payments",
)
@contextmanager
def _i3() -> Iterator[None]:
    with patched(
        ("paycore.flows.checkout._is_mine", _by_payment_id),
        ("paycore.flows.checkout._lookup", _search_by_payment_id),
    ):
        yield
