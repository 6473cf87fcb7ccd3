"""The invariant registry: what an invariant is, what it reports, and how the catalog runs.

A check is a generator over a :class:`paycore.ports.SnapshotView` of the store and a
:class:`Ledger` of the provider. It yields a :data:`Breach`, ``(subject, detail)``, for
each place its invariant does not hold, and nothing when it holds. The
:func:`invariant` decorator registers it in :data:`INVARIANTS` and turns it into a
function returning :class:`Violation` records stamped with the invariant's id, so no
check spells its own id.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Literal

import attrs

from paycore.ports import REFUND_LIVE, IntentView, RefundView, SnapshotView

Kind = Literal["safety", "convergence"]

#: Where every check is published: its name in the docs stays ``paycore.invariants.<check>``
#: whichever module of the package groups it.
PUBLIC_MODULE = "paycore.invariants"


@attrs.frozen
class Ledger:
    """The provider's side of the books, as the invariants see it."""

    intents: Sequence[IntentView] = ()
    refunds: Sequence[RefundView] = ()
    #: When the snapshot was taken (ms); time-bound invariants need it.
    now: int | None = None
    #: Whether this installation charges through Connect, as the provider it talks to is
    #: set up (the Stripe adapter's ``connect`` switch; the fake takes each request's
    #: account as the destination): True, destination charges to sellers' connected
    #: accounts, so an intent naming no account pays no seller; False, a shop without
    #: Connect charging its own account, so its intents name none; None, not said.
    connect: bool | None = None
    #: Where the books begin (ms): they hold the intents created from then on, and those
    #: intents' refunds (``paycore check --provider``'s window); None, every intent ever
    #: made (the fake provider's whole books, as the harness and ``--fake-books`` give).
    since: int | None = None
    #: ``refunds`` by intent, in their order, built on the first look-up (the books are
    #: frozen): the checks ask once per intent, and a walk each would cost intents x refunds.
    _by_intent: dict[str, list[RefundView]] | None = attrs.field(
        init=False, default=None, eq=False, repr=False
    )

    def refunds_of(self, intent_id: str) -> Sequence[RefundView]:
        """The intent's refunds, whatever their status, in the books' order."""
        if self._by_intent is None:
            index: dict[str, list[RefundView]] = {}
            for r in self.refunds:
                index.setdefault(r.intent_id, []).append(r)
            object.__setattr__(self, "_by_intent", index)  # a cache of frozen books
            return index.get(intent_id, ())
        return self._by_intent.get(intent_id, ())

    def refunded(self, intent_id: str, statuses: Iterable[str] = REFUND_LIVE) -> int:
        """The amount of the intent's refunds in one of ``statuses`` (default: live ones)."""
        wanted = statuses if isinstance(statuses, (set, frozenset)) else set(statuses)
        return sum(r.amount for r in self.refunds_of(intent_id) if r.status in wanted)


class BooksUnavailable(LookupError):
    """Raised by a ledger that holds none of the provider's books (a check of the store
    alone) when a check reads them. A check that can judge without the books catches it;
    any other is reported as not checked."""


@attrs.frozen
class Violation:
    """One place where an invariant does not hold: its id, the subject and what is wrong."""

    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.subject}: {self.detail}"


#: What a check yields where its invariant does not hold: the subject (usually a record's
#: id) and what is wrong with it.
Breach = tuple[str, str]
#: A check as written: it yields its breaches.
Finds = Callable[[SnapshotView, Ledger], Iterator[Breach]]
#: A check as registered: it returns its violations, stamped with the invariant's id.
Check = Callable[[SnapshotView, Ledger], list[Violation]]


@attrs.frozen
class Invariant:
    """A named invariant: stable id, one-sentence statement, kind, the seed findings it
    guards, and its check."""

    id: str
    statement: str
    kind: Kind
    findings: tuple[str, ...]
    check: Check


INVARIANTS: list[Invariant] = []


def invariant(id: str, statement: str, kind: Kind, findings: str = "") -> Callable[[Finds], Check]:
    """Register the decorated check under ``id``; the check yields ``(subject, detail)`` pairs.

    Args:
        id: the stable id, as the docs, reports and seeded bugs name the invariant.
        statement: one sentence saying what holds.
        kind: ``safety`` (after every step) or ``convergence`` (once quiet).
        findings: the seed findings it guards, space-separated (``"S4 S5"``).

    Example::

        @invariant("no-oversell", "Held plus committed never exceeds on hand.", "safety")
        def no_oversell(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
            for st in snap.rows(s.STOCK):
                if st.held + st.committed > st.on_hand:
                    yield st.key, f"held {st.held} + committed {st.committed} > {st.on_hand}"
    """

    def register(finds: Finds) -> Check:
        @functools.wraps(finds)
        def stamped(snap: SnapshotView, ledger: Ledger) -> list[Violation]:
            return [Violation(id, subject, detail) for subject, detail in finds(snap, ledger)]

        stamped.__module__ = PUBLIC_MODULE
        INVARIANTS.append(Invariant(id, statement, kind, tuple(findings.split()), stamped))
        return stamped

    return register


def check(
    snapshot: SnapshotView, ledger: Ledger, kinds: Iterable[Kind] = ("safety",)
) -> list[Violation]:
    """Every violation of every invariant of the given kinds, in catalog order.

    Args:
        snapshot: the store, as one consistent read.
        ledger: the provider's intents and refunds at the same moment.
        kinds: which invariants to run (default: safety only).

    Example::

        bad = check(store.snapshot(), ledger, ("safety", "convergence"))
    """
    wanted = set(kinds)
    out: list[Violation] = []
    for inv in INVARIANTS:
        if inv.kind in wanted:
            out.extend(inv.check(snapshot, ledger))
    return out
