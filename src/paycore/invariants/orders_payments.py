"""Invariants on orders, checkout sessions, payments and the provider intents they record."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

from paycore import schema as s
from paycore.invariants.common import (
    INSTALLATION_KEY,
    REFERENCE_KEY,
    installation,
    live,
    ours,
    payments_by_intent,
    recorded_intents,
)
from paycore.invariants.registry import Breach, Ledger, invariant
from paycore.ports import SnapshotView
from paycore.status import FlowStatus, OrderStatus, PaymentStatus


@invariant(
    "one-order-per-session",
    "A checkout session has at most one order, and an order has exactly one payment.",
    "safety",
    "S8 S15",
)
def one_order_per_session(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    per_session = Counter(o.checkout_session_id for o in snap.rows(s.ORDERS))
    for sid, n in sorted(per_session.items()):
        if n > 1:
            yield sid, f"{n} orders"
    for o in snap.rows(s.ORDERS):
        p = snap.get(s.PAYMENTS, o.payment_id)
        if p is None or p.order_id != o.id:
            yield o.id, "order without its payment"


@invariant(
    "payment-has-its-order",
    "Every payment belongs to an order that names it as its payment: checkout writes the "
    "two in one transaction, and neither is ever deleted.",
    "safety",
)
def payment_has_its_order(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    """A payment with no order takes money nothing was sold for, and every check that
    reads a payment through its order passes it by."""
    for p in snap.rows(s.PAYMENTS):
        order = snap.get(s.ORDERS, p.order_id)
        if order is None:
            yield p.id, f"its order {p.order_id} does not exist"
        elif order.payment_id != p.id:
            yield p.id, f"its order {order.id} names payment {order.payment_id}, not this one"


@invariant(
    "one-live-intent-per-session",
    "At the provider, a checkout session has at most one intent made by this installation that "
    "can take or keeps money.",
    "safety",
    "S1 S8",
)
def one_live_intent(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    per: defaultdict[str, list[str]] = defaultdict(list)
    for v in ours(snap, ledger):
        sid = v.metadata.get("checkout_session_id")
        if sid and live(ledger, v):
            per[sid].append(v.id)
    for sid, ids in sorted(per.items()):
        if len(ids) > 1:
            yield sid, f"live intents {', '.join(ids)}"


@invariant(
    "no-double-charge",
    "For every order, the money captured at the provider by the intents this installation "
    "made for the order's payments, net of refunds, never exceeds the order's total.",
    "safety",
    "S8 S9 S10",
)
def no_double_charge(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    # An intent counts for the order it names when it was made for one of that order's
    # payments (its reference): order ids repeat after a restore from backup, and a paid
    # intent of the lost history is an orphaned charge, not a second charge of the new
    # order. An intent without a reference (made before references, 2026-12-03) counts.
    references: defaultdict[str, set[str | None]] = defaultdict(set)
    for p in snap.rows(s.PAYMENTS):
        references[p.order_id].add(p.reference)
    net: Counter[str] = Counter()
    for v in ours(snap, ledger):
        oid, reference = v.metadata.get("order_id"), v.metadata.get(REFERENCE_KEY)
        if oid and (not reference or reference in references[oid] or None in references[oid]):
            net[oid] += v.amount_received - ledger.refunded(v.id, {"succeeded"})
    for oid, amount in sorted(net.items()):
        order = snap.get(s.ORDERS, oid)
        total = order.total.amount if order else 0
        if amount > total:
            yield oid, f"net captured {amount} > order total {total}"


@invariant(
    "no-orphaned-charge",
    "Every provider intent made by this installation that holds or took money (net of refunds) "
    "belongs to a local payment that records it, and to that payment's order.",
    "safety",
    "S1 S3 S13 S16",
)
def no_orphaned_charge(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    owned = payments_by_intent(snap)
    for v in ours(snap, ledger):
        holds = v.status in ("processing", "requires_capture") or (
            v.status == "succeeded" and v.amount_received > ledger.refunded(v.id, {"succeeded"})
        )
        if holds and (v.id not in owned or snap.get(s.ORDERS, owned[v.id].order_id) is None):
            yield v.id, f"{v.status} with no local payment"


@invariant(
    "closed-order-not-chargeable",
    "A canceled order's payment records no provider intent that can still be charged or "
    "that kept money.",
    "safety",
    "S3 S5 S18",
)
def closed_order_not_chargeable(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    # Only recorded intents: their client secret may be out. An unrecorded one nobody
    # can pay is an orphan, which `no-orphaned-intent` requires the reconciler to end.
    owned = payments_by_intent(snap)
    for v in ledger.intents:
        order = snap.get(s.ORDERS, owned[v.id].order_id) if v.id in owned else None
        if order is not None and order.status is OrderStatus.CANCELED and live(ledger, v):
            yield order.id, f"intent {v.id} is {v.status}"


_SUCCEEDED_ORDER = {
    OrderStatus.PAID,
    OrderStatus.PARTIALLY_REFUNDED,
    OrderStatus.REFUNDED,
    OrderStatus.OUT_OF_STOCK,
}
_ENDED_PAYMENT = (PaymentStatus.CANCELED, PaymentStatus.FAILED)


@invariant(
    "order-matches-payment",
    "An order is paid, refunded or out of stock only if its payment succeeded, canceled "
    "only if its payment was canceled or never created, and pending only while its payment "
    "is neither.",
    "safety",
    "S5 S9 S17",
)
def order_matches_payment(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    for o in snap.rows(s.ORDERS):
        p = snap.get(s.PAYMENTS, o.payment_id)
        if p is None:
            continue
        if o.status in _SUCCEEDED_ORDER and p.status is not PaymentStatus.SUCCEEDED:
            yield o.id, f"{o.status.value} but payment {p.status.value}"
        if o.status is OrderStatus.CANCELED and p.status not in _ENDED_PAYMENT:
            yield o.id, f"canceled but payment {p.status.value}"
        if o.status is OrderStatus.PENDING and p.status in _ENDED_PAYMENT:
            yield o.id, f"pending but payment {p.status.value}"
        if p.status is PaymentStatus.SUCCEEDED and o.status is OrderStatus.PENDING:
            yield o.id, "payment succeeded but order pending"


@invariant(
    "amount-matches-order",
    "Every payment asks for exactly its order's total.",
    "safety",
    "S12 S15",
)
def amount_matches_order(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    for p in snap.rows(s.PAYMENTS):
        order = snap.get(s.ORDERS, p.order_id)
        if order is not None and order.total != p.amount:
            yield p.id, f"payment {p.amount}, order {order.total}"


@invariant(
    "amount-received-within-amount",
    "No payment records more received than it asks (amount_received <= amount): every "
    "refund is bounded by what was received.",
    "safety",
)
def amount_received_within_amount(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    for p in snap.rows(s.PAYMENTS):
        if p.amount_received > p.amount.amount:
            yield p.id, f"received {p.amount_received} of an amount of {p.amount.amount}"


@invariant(
    "intent-amount-matches-payment",
    "Every provider intent a payment records asks for exactly the payment's amount, in its "
    "currency.",
    "safety",
    "S12 S15",
)
def intent_amount_matches_payment(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    for p, v in recorded_intents(snap, ledger):
        if (v.amount, v.currency) != (p.amount.amount, p.amount.currency):
            yield p.id, f"intent {v.id} asks {v.amount} {v.currency}, payment is {p.amount}"


#: Over a window of the provider's books (``Ledger.since``), a payment is looked for only
#: when it was made this long after the window began: its intent was created after it, by
#: the provider's clock, which this host's (or the host that wrote it) may be behind.
WINDOW_MARGIN_MS = 3_600_000


@invariant(
    "recorded-intent-exists",
    "Every provider intent a payment records is in the provider's books (over a window of "
    "them, for a payment made an hour or more after it began).",
    "safety",
)
def recorded_intent_exists(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    """A payment takes its intent's id from the provider's answer, so the intent exists:
    one the provider does not know is a record written by hand, a store of another
    account, or a forged charge, and every check comparing the two passes it by."""
    known = {v.id for v in ledger.intents}
    for p in snap.rows(s.PAYMENTS):
        if p.provider_intent_id is None or p.provider_intent_id in known:
            continue
        since = ledger.since  # read only here: the harness's books are whole
        if since is None or p.created_at >= since + WINDOW_MARGIN_MS:
            yield (
                p.id,
                f"records provider intent {p.provider_intent_id}, which the provider's "
                "books do not hold",
            )


@invariant(
    "intent-is-the-payments",
    "Every provider intent a payment records was made by this installation for that payment "
    "(its reference) and matches its order's id, checkout session, amount and currency.",
    "safety",
    "T3",
)
def intent_is_the_payments(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    mine = installation(snap)
    for p, v in recorded_intents(snap, ledger):
        order = snap.get(s.ORDERS, p.order_id)
        if order is None:
            continue
        meta = v.metadata
        expected = {
            INSTALLATION_KEY: mine,
            REFERENCE_KEY: p.reference,
            "payment_id": p.id,
            "order_id": order.id,
            "checkout_session_id": order.checkout_session_id,
        }
        wrong = [k for k, want in expected.items() if want is None or meta.get(k) != want]
        if (v.amount, v.currency.upper()) != (order.total.amount, order.total.currency.upper()):
            wrong.append("amount")
        if wrong:
            yield p.id, f"intent {v.id} differs from the payment in {', '.join(wrong)}"


@invariant(
    "foreign-left-alone",
    "This installation never refunds a provider intent it did not make (another store's, an "
    "invoice, a payment link, a previous system's).",
    "safety",
    "T3",
)
def foreign_left_alone(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    mine = installation(snap)
    if mine is None:
        return
    made = {v.id for v in ours(snap, ledger)}
    for r in ledger.refunds:
        if r.metadata.get(INSTALLATION_KEY) == mine and r.intent_id not in made:
            yield r.intent_id, f"refund {r.id} of {r.amount} by paycore"


@invariant(
    "success-is-durable",
    "A checkout reported as succeeded has its payment recorded with its provider intent.",
    "safety",
    "S1 S16",
)
def success_is_durable(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    for f in snap.rows(s.FLOWS):
        if f.kind != "checkout" or f.status is not FlowStatus.SUCCEEDED:
            continue
        p = snap.get(s.PAYMENTS, str(f.params.get("payment_id")))
        if p is None or p.status is PaymentStatus.CREATING or p.provider_intent_id is None:
            shown = "missing" if p is None else f"{p.status.value}, intent {p.provider_intent_id}"
            yield f.id, f"succeeded but payment {shown}"


@invariant(
    "sessions-never-share",
    "Distinct checkout sessions never share an order, a payment's provider intent or a "
    "client secret.",
    "safety",
)
def sessions_never_share(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    by_intent: defaultdict[str, set[str]] = defaultdict(set)
    by_secret: defaultdict[str, dict[str, str]] = defaultdict(dict)
    for p in snap.rows(s.PAYMENTS):
        order = snap.get(s.ORDERS, p.order_id)
        if order is not None and order.checkout_session_id != p.checkout_session_id:
            yield (
                p.id,
                (
                    f"payment of session {p.checkout_session_id} belongs to order {order.id} "
                    f"of session {order.checkout_session_id}"
                ),
            )
        if p.provider_intent_id is not None:
            by_intent[p.provider_intent_id].add(p.checkout_session_id)
        if p.client_secret is not None:
            by_secret[p.client_secret].setdefault(p.checkout_session_id, p.id)
    for intent_id, sessions in sorted(by_intent.items()):
        if len(sessions) > 1:
            yield intent_id, f"intent shared by {', '.join(sorted(sessions))}"
    for holders in by_secret.values():
        if len(holders) > 1:
            # named by the payments holding it: the secret itself is never printed
            payments = sorted(holders.values())
            yield (
                payments[0],
                (
                    f"one client secret held by payments {', '.join(payments)} of sessions "
                    f"{', '.join(sorted(holders))}"
                ),
            )


@invariant(
    "one-currency-per-order",
    "An order's lines, its total, its payment and its refunds are all in the order's currency.",
    "safety",
)
def one_currency_per_order(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    refunds: defaultdict[str, list[str]] = defaultdict(list)
    for r in snap.rows(s.REFUNDS):
        refunds[r.order_id].append(f"refund {r.id} {r.amount.currency}")
    for o in snap.rows(s.ORDERS):
        cur = o.total.currency
        seen = [f"line {n} {line.unit_price.currency}" for n, line in enumerate(o.lines)]
        p = snap.get(s.PAYMENTS, o.payment_id)
        if p is not None:
            seen.append(f"payment {p.amount.currency}")
        seen += refunds[o.id]
        wrong = [what for what in seen if not what.endswith(f" {cur}")]
        if wrong:
            yield o.id, f"order in {cur}: {', '.join(wrong)}"


@invariant(
    "intent-currency-matches-order",
    "The provider intent an order's payment records is in the order's currency.",
    "safety",
)
def intent_currency_matches_order(snap: SnapshotView, ledger: Ledger) -> Iterator[Breach]:
    intents = {v.id: v for v in ledger.intents}
    for o in snap.rows(s.ORDERS):
        p = snap.get(s.PAYMENTS, o.payment_id)
        v = intents.get(p.provider_intent_id or "") if p is not None else None
        if v is not None and v.currency.upper() != o.total.currency:
            yield o.id, f"order in {o.total.currency}: intent {v.currency.upper()}"
