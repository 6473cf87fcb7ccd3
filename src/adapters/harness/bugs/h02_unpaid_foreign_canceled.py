"""H2 (review of the harness's blind spots): the reconciler cancels others' unpaid intents.

The reconciler takes a cancelable intent no payment records as its own orphan whoever
made it (``reconcile.is_ours`` answers yes while it looks at one), so it cancels
another store's unpaid intent and a payment link, which carry no refund for
``foreign-left-alone`` to see. Seeded bug I11 (every intent taken as its own) is caught
by the refunds it makes; this narrower flaw only by the world's check that what it
planted for others stays as planted (``foreign-kept-as-planted``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from paycore.flows import reconcile
from paycore.flows.identity import is_ours
from paycore.flows.sync import CANCELABLE
from paycore.ports import IntentView
from paycore.unit import Unit

from .catalog import seeded
from .support import patched

_IS_OURS = is_ours
_RECONCILE_ONE = reconcile.reconcile_one
#: Whether the intent being reconciled now can still be canceled.
_CANCELABLE = [False]


def _reconcile_one(u: Unit, *, view: IntentView, **rest: Any) -> Any:
    _CANCELABLE[0] = view.status in CANCELABLE
    try:
        return _RECONCILE_ONE(u, view=view, **rest)
    finally:
        _CANCELABLE[0] = False


def _is_ours(metadata: Mapping[str, str], installation: str | None) -> bool:
    return _CANCELABLE[0] or _IS_OURS(metadata, installation)


@seeded(
    "H2",
    "the reconciler cancels unpaid intents no payment records whoever made them: another "
    "store's unpaid intent, a payment link",
    "foreign-kept-as-planted",
)
@contextmanager
def _h2() -> Iterator[None]:
    with patched(
        ("paycore.flows.reconcile.reconcile_one", _reconcile_one),
        ("paycore.flows.reconcile.is_ours", _is_ours),
    ):
        yield
