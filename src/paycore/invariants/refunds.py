"""Invariants on refunds: within what was captured, recorded locally, and covering the money
paycore decided to return."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator

from paycore import schema as s
from paycore.invariants.common import (
    INSTALLATION_KEY,
    REFERENCE_KEY,
    installation,
    payments_by_intent,
    refund_made_for,
)
from paycore.invariants.registry import BooksUnavailable, Breach, Ledger, invariant
from paycore.ports import REFUND_LIVE, RefundView, SnapshotView
from paycore.records import Refund
from paycore.status import OrderStatus, RefundStatus, ReservationStatus

_LIVE_LOCALLY = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)
_STILL_PAID = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


@invariant(
    "local-refunds-within-captured",
    "For every payment, the pending plus succeeded refunds paycore made never exceed the "
    "amount it captured, nor do the refunds the provider took, paycore's succeeded ones "
    "and the pending or succeeded ones made outside paycore, save one the provider's books "
    "show failed or canceled since (paycore has yet to hear of it); that second sum is "
    "judged only with books that would show such a refund.",
    "safety",
    "S6 S13",
)
def local_refunds_within_captured(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    """paycore's own pending refund is left out of the second sum: one not answered yet
    beside a dashboard refund of everything may be refused by the provider, and is no
    second return of the money. Refunds made outside paycore are not left out of it:
    the provider took them. Sums per payment are kept, not refunds: the refunds of a
    payment over its capture are read again, only then."""
    own: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    for r in snap.rows(s.REFUNDS):
        if r.status in _LIVE_LOCALLY and not r.external:
            own[r.payment_id] += r.amount.amount
        if _taken(r):
            taken[r.payment_id] += r.amount.amount
    found: list[Breach] = []
    over: dict[str, int] = {}  # payment -> captured, for those the second sum exceeds
    for pid in sorted(own.keys() | taken.keys()):
        p = snap.get(s.PAYMENTS, pid)
        captured = p.amount_received if p else 0
        if own[pid] > captured:
            found.append((pid, f"local refunds {own[pid]} > captured {captured}"))
        elif taken[pid] > captured:
            over[pid] = captured
    if over:
        reversed_since = _ended_at_provider(snap, ledger, over.keys())
        for pid, captured in over.items():
            amount = taken[pid] - reversed_since[pid]
            if amount > captured and _books_show_reversals(snap, ledger, pid):
                taken_by = "refunds the provider took, paycore's and external,"
                found.append((pid, f"{taken_by} {amount} > captured {captured}"))
    yield from sorted(found)


def _books_show_reversals(snap: SnapshotView, ledger: Ledger, payment_id: str) -> bool:
    """Would the provider's books show a refund of ``payment_id`` that the bank reversed
    (paycore's own refund may be one it has yet to hear of, its webhook lost)? Only the
    whole books, or a window that began before the payment: without them the second sum
    cannot tell a refund taken twice from one reversed since, and is not judged."""
    try:
        ledger.refunds  # noqa: B018  # raises BooksUnavailable for a check of the store alone
    except BooksUnavailable:
        return False
    payment = snap.get(s.PAYMENTS, payment_id)
    return ledger.since is None or (payment is not None and payment.created_at >= ledger.since)


def _taken(r: Refund) -> bool:
    """Did the provider take ``r``: paycore's refund once succeeded, one made outside
    paycore while pending or succeeded (it exists only at the provider's word)?"""
    return r.status is RefundStatus.SUCCEEDED or (r.external and r.status in _LIVE_LOCALLY)


def _ended_at_provider(
    snap: SnapshotView, ledger: Ledger, payments: Collection[str]
) -> Counter[str]:
    """Per payment of ``payments``, the amount of its taken refunds (:func:`_taken`) that
    the provider's books show failed or canceled since (a refund the bank reversed after
    it succeeded, which paycore has yet to hear of); nothing without the books (a check of
    the store alone)."""
    out: Counter[str] = Counter()
    try:
        ended = {v.id for v in ledger.refunds if v.status in ("failed", "canceled")}
    except BooksUnavailable:
        return out
    if ended:
        for r in snap.rows(s.REFUNDS):
            if r.payment_id in payments and _taken(r) and r.provider_refund_id in ended:
                out[r.payment_id] += r.amount.amount
    return out


@invariant(
    "provider-refunds-within-captured",
    "At the provider, an intent's pending plus succeeded refunds never exceed what it "
    "captured, nor, for an intent a payment records, the refunds recorded locally, "
    "counting refunds made outside paycore once they are recorded.",
    "safety",
    "S6 S13",
)
def provider_refunds_within_captured(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    recorded: Counter[str] = Counter()
    recorded_ids: set[str] = set()
    references: dict[str, str | None] = {}
    for r in snap.rows(s.REFUNDS):
        if r.provider_refund_id is not None:
            recorded_ids.add(r.provider_refund_id)
        references[r.id] = r.reference
        if r.status in _LIVE_LOCALLY:
            recorded[r.payment_id] += r.amount.amount
    owned = payments_by_intent(snap)
    for v in ledger.intents:
        amount = seen = 0  # most intents have no refund: no list, no sums
        if given := ledger.refunds_of(v.id):
            refunds = [g for g in given if g.status in REFUND_LIVE]
            amount = sum(g.amount for g in refunds)
            # A refund made outside paycore that paycore has not seen yet is not a refund
            # paycore made behind its own books: refunds-recorded asks that it is recorded
            # once quiet.
            seen = sum(
                g.amount for g in refunds if g.id in recorded_ids or _made_here(g, references)
            )
        mine = owned.get(v.id)
        if mine is not None and seen > recorded.get(mine.id, 0):
            yield v.id, f"provider refunds {seen} > the {recorded.get(mine.id, 0)} recorded locally"
        # A refund of a bank debit still processing waits on its charge (``pending_reason``
        # charge_pending, docs.stripe.com/api/refunds/object): what the debit will capture
        # bounds it; once the debit fails the refund is no longer live.
        captured = v.amount if v.status == "processing" else v.amount_received
        if amount > captured:
            yield v.id, f"provider refunds {amount} > captured {captured}"


def _made_here(view: RefundView, references: dict[str, str | None]) -> bool:
    """Did paycore make ``view`` for a refund of this store's history? It names a local
    refund id; not when that id is held here by a refund with another reference: local ids
    repeat after a restore from backup, and a refund made for the lost ``rf_000007`` is
    money returned that this store no longer knew of, found as an external refund (a new
    ``rf_000007`` holds the id now). A provider refund without a reference (made before
    refunds carried one), or naming an id this store never held, counts as made here."""
    local = view.metadata.get("refund_id")
    if local is None:
        return False
    reference = view.metadata.get(REFERENCE_KEY)
    return reference is None or local not in references or references[local] == reference


@invariant(
    "refunds-recorded",
    "When quiet, every pending or succeeded provider refund of an intent a local payment "
    "records is recorded as a local refund, including refunds made outside paycore.",
    "convergence",
    "",
)
def refunds_recorded(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    owned = payments_by_intent(snap)
    recorded = {r.provider_refund_id for r in snap.rows(s.REFUNDS)}
    for r in ledger.refunds:
        if r.intent_id in owned and r.status in REFUND_LIVE and r.id not in recorded:
            yield (
                r.id,
                (
                    f"{r.status} refund of {r.amount} on {r.intent_id} (payment "
                    f"{owned[r.intent_id].id}) is not recorded"
                ),
            )


@invariant(
    "decided-refunds-covered",
    "Money paycore decided to return (an order refunded, or closed as out of stock) is "
    "covered by pending or succeeded refunds, or else a refund_failed alert names one of "
    "its payment's refunds and is open, or was closed by an operator recording that the "
    "money went back outside paycore.",
    "safety",
    "S14",
)
def decided_refunds_covered(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    """A refund that fails silently leaves the customer charged with nothing to show for it
    and every other invariant holding; this one catches it."""
    live: Counter[str] = Counter()
    for r in snap.rows(s.REFUNDS):
        if r.status in _LIVE_LOCALLY:
            live[r.payment_id] += r.amount.amount
    alerted = {
        str(a.fields.get("payment_id"))
        for a in snap.rows(s.ALERTS)
        if a.kind == "refund_failed" and (a.open or a.fields.get("settled_outside") is True)
    }
    for order in snap.rows(s.ORDERS):
        if order.status not in (OrderStatus.REFUNDED, OrderStatus.OUT_OF_STOCK):
            continue
        p = snap.get(s.PAYMENTS, order.payment_id)
        if p is None or p.amount_received <= live[p.id] or p.id in alerted:
            continue
        yield (
            order.id,
            (
                f"{order.status.value}: {p.amount_received - live[p.id]} of payment {p.id} "
                "is neither being refunded nor alerted"
            ),
        )


@invariant(
    "one-provider-refund-per-refund",
    "At the provider, a refund this installation made (named by the random reference in "
    "the provider refund's metadata, or by its local refund id where it carries no "
    "reference) is at most one pending or succeeded provider refund: a second one is "
    "money returned twice, even when it is recorded as an external refund.",
    "safety",
    "S6",
)
def one_provider_refund_per_refund(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    """Local refund ids repeat after a restore from backup (the lost ``rf_000006`` and the
    new one are two refunds), so the reference, random per refund, names one refund."""
    mine = installation(snap)
    if mine is None:
        return
    per: dict[str, list[RefundView]] = {}
    for r in ledger.refunds:
        made_for = refund_made_for(r)
        if made_for and r.metadata.get(INSTALLATION_KEY) == mine and r.status in REFUND_LIVE:
            per.setdefault(made_for, []).append(r)
    for made_for, views in sorted(per.items()):
        if len(views) > 1:
            local = views[0].metadata.get("refund_id", made_for)
            yield local, f"provider refunds {', '.join(sorted(v.id for v in views))}"


@invariant(
    "refund-books-kept",
    "A payment's amount_refunded is the sum of its succeeded local refunds; once its "
    "succeeded refunds cover the amount received, its order is no longer paid or "
    "partially refunded; and a refunded order one of whose succeeded refunds was made "
    "with restock=True (the goods came back) holds no committed stock.",
    "safety",
)
def refund_books_kept(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    """The order's status and the stock follow the refunds that succeeded
    (``flows.refunds.apply_refund``): a refund that settled but left the order paid, or
    took the goods back without putting them on sale, keeps every other check quiet."""
    succeeded: Counter[str] = Counter()
    restocked: set[str] = set()
    for r in snap.rows(s.REFUNDS):
        if r.status is RefundStatus.SUCCEEDED:
            succeeded[r.payment_id] += r.amount.amount
            if r.restock:
                restocked.add(r.payment_id)
    for p in snap.rows(s.PAYMENTS):
        if p.amount_refunded != succeeded[p.id]:
            yield p.id, f"amount_refunded {p.amount_refunded}, succeeded refunds {succeeded[p.id]}"
        if not p.amount_received or succeeded[p.id] < p.amount_received:
            continue
        order = snap.get(s.ORDERS, p.order_id)
        if order is not None and order.status in _STILL_PAID:
            yield (
                order.id,
                f"{order.status.value} though refunds of {succeeded[p.id]} of the "
                f"{p.amount_received} received succeeded",
            )
    committed = {
        r.order_id for r in snap.rows(s.RESERVATIONS) if r.status is ReservationStatus.COMMITTED
    }
    for pid in sorted(restocked):
        paid = snap.get(s.PAYMENTS, pid)
        order = snap.get(s.ORDERS, paid.order_id) if paid else None
        if order is not None and order.status is OrderStatus.REFUNDED and order.id in committed:
            yield order.id, "refunded with restock, yet its stock is still committed"
