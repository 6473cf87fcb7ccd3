"""The seeded-bug catalog: one switch per seed finding, re-creating the old service's flaw.

Each switch is a context manager that patches paycore's flows for the
duration of a harness run and restores them on exit. Production code has no
flag, branch or hook for them: the flaws exist only inside ``switched_on``,
which lives in this test-support package. The harness must catch every one
(``tests/chaos/test_seeded_bugs.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any
from unittest import mock

import attrs

from paycore import schema as s
from paycore.flows.engine import FlowDef, StepFn, StepSpec
from paycore.status import RefundStatus
from paycore.unit import Unit, evolve

Patch = Callable[[], AbstractContextManager[None]]


@attrs.frozen
class SeededBug:
    id: str
    finding: str
    #: Invariants expected to catch it (any one suffices).
    expected: tuple[str, ...]
    patch: Patch


BUGS: dict[str, SeededBug] = {}


def seeded(id: str, finding: str, *expected: str) -> Callable[[Patch], Patch]:
    def register(fn: Patch) -> Patch:
        BUGS[id] = SeededBug(id, finding, expected, fn)
        return fn

    return register


@contextmanager
def switched_on(bug_id: str) -> Iterator[None]:
    """Re-create one seed flaw until the block ends."""
    try:
        bug = BUGS[bug_id]
    except KeyError:
        raise ValueError(f"no seeded bug {bug_id!r}; known: {', '.join(BUGS)}") from None
    with bug.patch():
        yield


# --- helpers shared by the switches ----------------------------------------------------


@contextmanager
def patched(*targets: tuple[str, object]) -> Iterator[None]:
    """``mock.patch`` each ``(target, replacement)`` until the block ends."""
    with ExitStack() as stack:
        for target, new in targets:
            stack.enter_context(mock.patch(target, new))
        yield


class BugStep(enum.StrEnum):
    """Steps that exist only in a seeded bug's version of a flow."""

    RESERVE = "reserve"
    RELEASE_STOCK = "release_stock"
    CLOSE_ORDER = "close_order"


def steps_patched(
    fdef: FlowDef,
    *,
    replace: Mapping[str, StepFn] | None = None,
    add: Mapping[str, StepSpec] | None = None,
    edges: Mapping[str, Iterable[str]] | None = None,
) -> AbstractContextManager[Any]:
    """Patch a flow kind's step table until the block ends: ``replace`` what runs at some
    steps, ``add`` steps of the bug's own, and declare ``edges`` into them."""
    entries: dict[str, StepSpec] = {}
    for name, run in (replace or {}).items():
        entries[name] = attrs.evolve(fdef.steps[name], run=run)
    for name, targets in (edges or {}).items():
        spec = entries.get(name, fdef.steps[name])
        entries[name] = attrs.evolve(spec, next=spec.next | frozenset(targets))
    entries.update(add or {})
    return mock.patch.dict(fdef.steps, entries)


def force_stock(u: Unit, seller_id: str, sku: str, *, held: int = 0, committed: int = 0) -> None:
    """Write a seller's counters of a SKU unchecked, as the old inventory service did
    (``Unit.change_stock`` refuses to hold more than is available or to go below it)."""
    st = u.stock(seller_id, sku)
    changes = {"held": st.held + held, "committed": st.committed + committed}
    new = evolve(st, {**changes, "version": st.version + 1})
    if u.get(s.STOCK, st.key) is None:
        u.tx.insert(s.STOCK, new)
    else:
        u.tx.update(s.STOCK, new)


# --- the catalog -----------------------------------------------------------------------


@seeded(
    "S13",
    "partial refunds checked against succeeded refunds only: pending ones are forgotten, so "
    "two refunds in flight can together exceed the captured amount",
    "refunds-within-captured",
)
@contextmanager
def _s13() -> Iterator[None]:
    def refundable(u: Unit, payment: Any) -> int:
        taken = sum(
            r.amount.amount
            for r in u.find(s.REFUNDS, "payment_id", payment.id)
            if r.status is RefundStatus.SUCCEEDED
        )
        return int(payment.amount_received - taken)

    with mock.patch("paycore.flows.refunds.refundable", refundable):
        yield


# The rest of the catalog registers itself on import (kept in modules by area).
from . import (  # noqa: E402, F401
    bugs_checkout,
    bugs_external,
    bugs_identity,
    bugs_outages,
    bugs_payments,
    bugs_refunds,
)

__all__ = ["BUGS", "BugStep", "SeededBug", "seeded", "steps_patched", "switched_on"]
