"""The harness's safety checks, re-running only the invariants whose inputs changed.

The harness checks every invariant after each rule that changed something, and most
rules change a few tables: a flow's step, an inbox row, one payment. An invariant is a
pure function of the tables it reads and of the provider's ledger, so its verdict
from the last check stands while none of those changed. :class:`Checker` notes, for
each invariant, which tables its last run read (through a snapshot that records
reads) and which attributes of the ledger it read, with the store's per-table write
counters (:meth:`paycore_adapters.memory_store.MemoryStore.table_versions`) and the
ledger's keys at the time; the next check re-runs it only when one of those moved.

It is sound because the inputs are recorded as the check ran: a check that takes
another branch on new data reads what it reads on that data, and that is recorded
in turn. A store without write counters is checked in full every time.
``VERIFY`` (set by a test) re-runs every reused verdict and asserts it is the same.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from typing import Any, TypeVar, cast

from paycore.invariants import INVARIANTS, Invariant, Kind, Ledger, Violation, check
from paycore.ports import Snapshot, Store
from paycore.schema import Table

T = TypeVar("T")

#: Re-run every reused verdict and assert it is what a full check finds (for tests).
VERIFY = False
#: The counts a checker keeps: invariant runs made, and verdicts reused instead.
RAN, REUSED = "invariant runs", "invariant verdicts reused"


class _Reads:
    """A snapshot that notes which tables were read."""

    __slots__ = ("snap", "tables")

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.tables: set[str] = set()

    def rows(self, table: Table[T]) -> list[T]:
        self.tables.add(table.name)
        return self.snap.rows(table)

    def get(self, table: Table[T], key: str) -> T | None:
        self.tables.add(table.name)
        return self.snap.get(table, key)


class _LedgerReads:
    """A ledger that notes which of its attributes were read. The first read of one
    keeps it on this object: the checks ask for ``refunded`` or ``refunds_of`` once per
    intent, and only the first of those asks needs noting (and the slow path of a
    missing attribute)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.used: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.used.add(name)
        value = getattr(self._ledger, name)
        self.__dict__[name] = value  # a ledger is frozen: its attributes never change
        return value


def _versions_of(
    names: tuple[str, ...], current: Mapping[str, int], getters: dict[tuple[str, ...], Any]
) -> Callable[..., object]:
    """A function of the write counters that gives the counters of ``names`` (one C call
    when every table has a counter; a table without one counts as never written).
    ``getters`` keeps the ones made for one store (whose tables are never dropped), by
    the tables they read: most runs of an invariant read what its last run read."""
    getter: Callable[..., object] | None = getters.get(names)
    if getter is not None:
        return getter
    if names and all(t in current for t in names):
        getter = getters[names] = itemgetter(*names)
        return getter
    return lambda versions: tuple(versions.get(t, 0) for t in names)


class _Verdict:
    """An invariant's last verdict and the inputs it was found on."""

    __slots__ = ("found", "ledger", "names", "seen", "versions")

    def __init__(
        self,
        names: tuple[str, ...],
        current: Mapping[str, int],
        ledger: tuple[tuple[str, object], ...],
        found: list[Violation],
        getters: dict[tuple[str, ...], Any],
    ) -> None:
        #: the tables the check read, and a function of the write counters giving theirs
        versions = getters.get(names)
        if versions is None:
            versions = _versions_of(names, current, getters)
        self.names, self.versions = names, versions
        #: their write counters then
        self.seen = self.versions(current)
        #: (ledger attribute, its key) for each attribute of the ledger the check read
        self.ledger = ledger
        self.found = found

    @property
    def tables(self) -> tuple[tuple[str, int], ...]:
        """(table, write counter) for each table the check read."""
        seen = self.seen if len(self.names) != 1 else (self.seen,)
        return tuple(zip(self.names, cast(tuple[int, ...], seen), strict=True))

    def stands(self, current: Mapping[str, int], ledger_keys: Mapping[str, object]) -> bool:
        for attribute, key in self.ledger:
            if attribute not in ledger_keys or ledger_keys[attribute] != key:
                return False  # an attribute with no key is taken as changed
        return self.versions(current) == self.seen


class Checker:
    """Checks of one store, remembering each invariant's last verdict and inputs."""

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        self._verdicts: dict[str, _Verdict] = {}
        self._getters: dict[tuple[str, ...], Any] = {}  # see ``_versions_of``
        self._store: object = None
        self._selected: dict[tuple[Kind, ...], list[Invariant]] = {}
        #: Where invariant runs made and verdicts reused are counted (a world's counts).
        self.counts = counts if counts is not None else {}

    def __deepcopy__(self, memo: dict[int, Any]) -> Checker:
        """A copy for a copied world (the explorer's fork): it shares the verdicts, which
        are never changed once made (a new run replaces one), and the invariants selected;
        its store and counts are the copied world's, found in ``memo``."""
        twin = Checker.__new__(Checker)
        twin._verdicts = dict(self._verdicts)
        twin._getters = dict(self._getters)
        twin._store = copy.deepcopy(self._store, memo)
        twin._selected = dict(self._selected)
        twin.counts = copy.deepcopy(self.counts, memo)
        return twin

    def check(
        self,
        store: Store,
        snap: Snapshot,
        ledger: Ledger,
        ledger_keys: Mapping[str, object],
        kinds: Iterable[Kind],
    ) -> list[Violation]:
        """Every violation of the invariants of ``kinds``, as :func:`check` finds them.

        ``ledger_keys`` says, for each attribute of the ledger, something that changes
        whenever it does (its value, when that compares cheaply; the clock); an
        attribute it does not name is taken as changed every time."""
        versions = getattr(store, "table_versions", None)
        if versions is None:
            return check(snap, ledger, kinds)
        if store is not self._store:  # another store (a restore): nothing carries over
            self._verdicts.clear()
            self._getters.clear()
            self._store = store
        current: Mapping[str, int] = versions()
        verdicts = self._verdicts
        out: list[Violation] = []
        reused = 0
        selected = self._invariants(kinds)
        for inv in selected:
            last = verdicts.get(inv.id)
            if last is not None and last.stands(current, ledger_keys):
                reused += 1
                if VERIFY:
                    fresh = inv.check(snap, ledger)
                    assert fresh == last.found, (inv.id, fresh, last.found)
            else:
                last = verdicts[inv.id] = _run(
                    inv, snap, ledger, current, ledger_keys, self._getters
                )
            if last.found:
                out.extend(last.found)
        self._count(RAN, len(selected) - reused)
        self._count(REUSED, reused)
        return out

    def _invariants(self, kinds: Iterable[Kind]) -> list[Invariant]:
        """The invariants of ``kinds``, in catalog order (looked up once per tuple of kinds)."""
        key = tuple(kinds)
        selected = self._selected.get(key)
        if selected is None:
            wanted = set(key)
            selected = self._selected[key] = [i for i in INVARIANTS if i.kind in wanted]
        return selected

    def _count(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n


def _run(
    inv: Invariant,
    snap: Snapshot,
    ledger: Ledger,
    current: Mapping[str, int],
    ledger_keys: Mapping[str, object],
    getters: dict[tuple[str, ...], Any],
) -> _Verdict:
    """Run ``inv``, noting what it read."""
    reads, ledger_reads = _Reads(snap), _LedgerReads(ledger)
    found = inv.check(reads, cast(Ledger, ledger_reads))
    used = ledger_reads.used  # most checks read no books
    seen = tuple([(a, ledger_keys.get(a)) for a in used]) if used else ()
    return _Verdict(tuple(reads.tables), current, seen, found, getters)
