"""What the seeded bugs share: patching helpers, a filtering unit and unchecked stock.

A bug patches a name where it is looked up: a module that did ``from x import f``
holds its own reference, so that module is patched, and a flow's step table
(``FlowDef.steps``) holds the step functions themselves, so it is patched with
``mock.patch.dict`` (:func:`steps_patched`).
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, cast
from unittest import mock

import attrs

from paycore import schema as s
from paycore.errors import CommitUnknown, OperationalError
from paycore.flows.engine import Advance, Engine, FlowDef, StepFn, StepReport, StepSpec
from paycore.records import Flow, Stock
from paycore.schema import Table
from paycore.status import FlowStatus
from paycore.unit import Unit, evolve


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


class UnitView:
    """A :class:`Unit` that drops some writes or lookups: the bug writes them elsewhere,
    or never, or does not see them.

    Everything else goes to the real unit, so the wrapped paycore code runs unchanged.
    """

    def __init__(
        self,
        u: Unit,
        *,
        skip: frozenset[str] = frozenset(),
        no_stock: bool = False,
        unseen: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self._u = u
        self._skip = skip  # tables whose inserts are dropped
        self._no_stock = no_stock  # drop stock counter changes
        self._unseen = unseen  # (table, field) lookups that find nothing

    def __getattr__(self, name: str) -> Any:
        return getattr(self._u, name)

    def create(self, table: Table[Any], record: Any, machine: Any = None) -> Any:
        if table.name in self._skip:
            return record
        return self._u.create(table, record, machine)

    def change_stock(self, seller_id: str, sku: str, **changes: Any) -> Any:
        # A view's stock() may not be the row (it is how some bugs miscount): the change
        # is made on the row as it is, never on what the view showed.
        changes.pop("current", None)
        if self._no_stock:
            return self._u.stock(seller_id, sku)
        return self._u.change_stock(seller_id, sku, **changes)

    def find(self, table: Table[Any], field: str, value: object) -> list[Any]:
        if (table.name, field) in self._unseen:
            return []
        return self._u.find(table, field, value)

    def unit(self) -> Unit:
        """This view where paycore's code expects a unit."""
        return cast(Unit, self)


class Unchecked(UnitView):
    """A unit on which every count looks available and every stock change is written as
    asked, unchecked (:func:`force_stock`), as the old inventory service did."""

    def stock(self, seller_id: str, sku: str) -> Stock:
        return evolve(self._u.stock(seller_id, sku), {"on_hand": sys.maxsize})

    def change_stock(self, seller_id: str, sku: str, **changes: Any) -> Any:
        changes.pop("current", None)  # as in UnitView: the row as it is
        force_stock(self._u, seller_id, sku, **changes)
        return self._u.stock(seller_id, sku)


Apply = Callable[[Unit, Flow], Advance]
#: What a forgiven store failure does instead: ``(engine, flow_id, effect, version, error)``.
Forgive = Callable[[Engine, str, str, int, str], StepReport]


def store_failures_forgiven(
    forgiven: Callable[[str], bool], instead: Forgive
) -> AbstractContextManager[Any]:
    """Wrap ``Engine._commit_step`` until the block ends: a store failure (a commit
    known to have failed) while applying an effect ``forgiven`` accepts is handed to
    ``instead`` rather than raised, as the old service logged and forgot them."""
    real = Engine._commit_step

    def commit_step(
        self: Engine,
        flow_id: str,
        effect: str,
        fn: Apply,
        *,
        expect_version: int,
        at: str | None = None,
    ) -> StepReport:
        try:
            return real(self, flow_id, effect, fn, expect_version=expect_version, at=at)
        except OperationalError as exc:
            if isinstance(exc, CommitUnknown) or not forgiven(effect):
                raise
            error = f"{exc.code}: {exc.message}"
        return instead(self, flow_id, effect, expect_version, error)

    return mock.patch.object(Engine, "_commit_step", commit_step)


def still_current(u: Unit, flow_id: str, version: int) -> Flow | None:
    """The flow, if it is still active at ``version`` (nobody moved it on meanwhile)."""
    flow = u.get(s.FLOWS, flow_id)
    if flow is None or flow.version != version or flow.status is not FlowStatus.ACTIVE:
        return None
    return flow
