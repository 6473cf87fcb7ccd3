"""The harness's safety checks, re-running only the invariants whose inputs changed.

The harness checks every invariant after each rule that changed something, and most
rules change a few tables: a flow's step, an inbox row, one payment. An invariant is a
pure function of the tables it reads and of the provider's ledger, so its verdict
from the last check stands while none of those changed. :class:`Checker` notes, for
each invariant, which tables its last run read (through a snapshot that records
reads) and whether it read the ledger, with the store's per-table write counters
(:meth:`paycore_adapters.memory_store.MemoryStore.table_versions`) and the ledger's
key at the time; the next check re-runs it only when one of those moved.

It is sound because the inputs are recorded as the check ran: a check that takes
another branch on new data reads what it reads on that data, and that is recorded
in turn. A store without write counters is checked in full every time.
``VERIFY`` (set by a test) re-runs every reused verdict and asserts it is the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

import attrs

from paycore.invariants import INVARIANTS, Kind, Ledger, Violation, check
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
    """A ledger that notes which of its attributes were read."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.used: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.used.add(name)
        return getattr(self._ledger, name)


@attrs.define
class _Verdict:
    #: (table, write counter) for each table the check read.
    tables: tuple[tuple[str, int], ...]
    #: (ledger attribute, its key) for each attribute of the ledger the check read.
    ledger: tuple[tuple[str, object], ...]
    found: list[Violation]


class Checker:
    """Checks of one store, remembering each invariant's last verdict and inputs."""

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        self._verdicts: dict[str, _Verdict] = {}
        self._store: object = None
        #: Where invariant runs made and verdicts reused are counted (a world's counts).
        self.counts = counts if counts is not None else {}

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
        whenever it does (the provider's count of changes; the clock); an attribute it
        does not name is taken as changed every time."""
        versions = getattr(store, "table_versions", None)
        if versions is None:
            return check(snap, ledger, kinds)
        if store is not self._store:  # another store (a restore): nothing carries over
            self._verdicts.clear()
            self._store = store
        current: Mapping[str, int] = versions()
        wanted = set(kinds)
        out: list[Violation] = []
        for inv in INVARIANTS:
            if inv.kind not in wanted:
                continue
            last = self._verdicts.get(inv.id)
            if last is not None and _stands(last, current, ledger_keys):
                self._count(REUSED)
                if VERIFY:
                    fresh = inv.check(snap, ledger)
                    assert fresh == last.found, (inv.id, fresh, last.found)
                out.extend(last.found)
                continue
            self._count(RAN)
            reads, ledger_reads = _Reads(snap), _LedgerReads(ledger)
            found = inv.check(cast(Snapshot, reads), cast(Ledger, ledger_reads))
            tables = tuple((t, current.get(t, 0)) for t in sorted(reads.tables))
            used = tuple((a, ledger_keys.get(a)) for a in sorted(ledger_reads.used))
            self._verdicts[inv.id] = _Verdict(tables, used, found)
            out.extend(found)
        return out

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def _stands(last: _Verdict, current: Mapping[str, int], ledger_keys: Mapping[str, object]) -> bool:
    if not all(a in ledger_keys and ledger_keys[a] == key for a, key in last.ledger):
        return False  # an attribute with no key is taken as changed
    return all(current.get(t, 0) == n for t, n in last.tables)
