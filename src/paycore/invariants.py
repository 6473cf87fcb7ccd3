"""The invariants: named, documented, pure checks over the store and the provider's ledger.

Each invariant has a stable id, a one-sentence statement, and a kind:

- ``safety``: must hold after every step, whatever the interleaving, faults or crashes;
- ``convergence``: must hold once the system is quiet (faults off, webhooks
  delivered, jobs run to a fixpoint).

Each check takes a :class:`paycore.ports.Snapshot` of the store and a
:class:`Ledger` of the provider and returns its violations (empty when it
holds). ``docs/invariants.md`` is generated from :data:`INVARIANTS`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import attrs

from paycore import schema as s
from paycore.machines import MACHINES
from paycore.ports import REFUND_LIVE, IntentView, RefundView, Snapshot
from paycore.records import AuditEntry, Payment
from paycore.status import (
    FlowStatus,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ReservationStatus,
)

Kind = Literal["safety", "convergence"]
# The invariants restate the provider's vocabulary here instead of importing the
# flows' tables: a check that shared the implementation's mapping could not catch
# a mistake in it.
CANCELABLE = {
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "requires_capture",
}
#: Payment statuses from which a payment can still succeed.
CAN_SUCCEED = frozenset(
    {
        PaymentStatus.CREATING,
        PaymentStatus.OPEN,
        PaymentStatus.REQUIRES_ACTION,
        PaymentStatus.PROCESSING,
    }
)
PROVIDER_TO_LOCAL = {
    "requires_payment_method": PaymentStatus.OPEN,
    "requires_confirmation": PaymentStatus.OPEN,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.PROCESSING,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELED,
}


@attrs.frozen
class Ledger:
    """The provider's side of the books, as the invariants see it."""

    intents: Sequence[IntentView] = ()
    refunds: Sequence[RefundView] = ()
    #: When the snapshot was taken (ms); time-bound invariants need it.
    now: int | None = None

    def refunded(self, intent_id: str, statuses: Iterable[str] = REFUND_LIVE) -> int:
        wanted = set(statuses)
        return sum(
            r.amount for r in self.refunds if r.intent_id == intent_id and r.status in wanted
        )


@attrs.frozen
class Violation:
    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.subject}: {self.detail}"


Check = Callable[[Snapshot, Ledger], list[Violation]]


@attrs.frozen
class Invariant:
    id: str
    statement: str
    kind: Kind
    findings: tuple[str, ...]
    check: Check


INVARIANTS: list[Invariant] = []


def invariant(id: str, statement: str, kind: Kind, findings: str = "") -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        INVARIANTS.append(Invariant(id, statement, kind, tuple(findings.split()), fn))
        return fn

    return register


def check(
    snapshot: Snapshot, ledger: Ledger, kinds: Iterable[Kind] = ("safety",)
) -> list[Violation]:
    """Every violation of every invariant of the given kinds."""
    wanted = set(kinds)
    out: list[Violation] = []
    for inv in INVARIANTS:
        if inv.kind in wanted:
            out.extend(inv.check(snapshot, ledger))
    return out


def _payments_by_intent(snap: Snapshot) -> dict[str, Payment]:
    return {p.provider_intent_id: p for p in snap.rows(s.PAYMENTS) if p.provider_intent_id}


#: The metadata keys marking a provider object as made by a paycore installation.
INSTALLATION_KEY = "paycore_installation"
REFERENCE_KEY = "paycore_reference"


def _installation(snap: Snapshot) -> str | None:
    row = snap.get(s.INSTALLATION, "this")
    return None if row is None else row.id


def _ours(snap: Snapshot, ledger: Ledger) -> list[IntentView]:
    """The provider's intents this installation made. Everything else on the account
    (another store's, invoices, payment links) is not paycore's to keep in order."""
    mine = _installation(snap)
    if mine is None:
        return []
    return [v for v in ledger.intents if v.metadata.get(INSTALLATION_KEY) == mine]


# --- stock -------------------------------------------------------------------------


@invariant(
    "stock-conserved",
    "For every seller and SKU, the held and committed counters equal the sums of the held "
    "and committed reservations of that seller's SKU, and on-hand equals the sum of its "
    "stock movements.",
    "safety",
    "S4 S5 S7 S10",
)
def stock_conserved(snap: Snapshot, _: Ledger) -> list[Violation]:
    held: Counter[str] = Counter()
    committed: Counter[str] = Counter()
    moved: Counter[str] = Counter()
    for r in snap.rows(s.RESERVATIONS):
        if r.status is ReservationStatus.HELD:
            held[r.stock_key] += r.quantity
        elif r.status is ReservationStatus.COMMITTED:
            committed[r.stock_key] += r.quantity
    for m in snap.rows(s.STOCK_MOVEMENTS):
        moved[m.stock_key] += m.delta
    out = []
    keys = {st.key for st in snap.rows(s.STOCK)} | set(held) | set(committed) | set(moved)
    for k in sorted(keys):
        st = snap.get(s.STOCK, k)
        got = (st.on_hand, st.held, st.committed) if st else (0, 0, 0)
        want = (moved[k], held[k], committed[k])
        if got != want:
            out.append(
                Violation(
                    "stock-conserved",
                    k,
                    f"(on hand, held, committed) is {got} but the reservations and movements "
                    f"say {want}",
                )
            )
    return out


@invariant(
    "no-oversell",
    "For every seller and SKU, held plus committed stock never exceeds the stock on hand.",
    "safety",
    "S4 S8 S14",
)
def no_oversell(snap: Snapshot, _: Ledger) -> list[Violation]:
    return [
        Violation(
            "no-oversell",
            st.key,
            f"held {st.held} + committed {st.committed} > on hand {st.on_hand}",
        )
        for st in snap.rows(s.STOCK)
        if st.held + st.committed > st.on_hand
    ]


@invariant(
    "stock-belongs-to-seller",
    "Sellers never share units: every reservation takes the stock of its order line's "
    "seller and SKU, in the line's quantity, and every stock row is a SKU that a product "
    "of its seller carries.",
    "safety",
    "S4 S12",
)
def stock_belongs_to_seller(snap: Snapshot, _: Ledger) -> list[Violation]:
    out = []
    for r in snap.rows(s.RESERVATIONS):
        order = snap.get(s.ORDERS, r.order_id)
        if order is None or not 0 <= r.line < len(order.lines):
            continue  # hold-tied-to-payment reports a reservation without its order
        line = order.lines[r.line]
        if (r.seller_id, r.sku, r.quantity) != (line.seller_id, line.sku, line.quantity):
            out.append(
                Violation(
                    "stock-belongs-to-seller",
                    r.id,
                    f"holds {r.quantity} of {r.sku} at seller {r.seller_id} for line {r.line}, "
                    f"which is {line.quantity} of {line.sku} at seller {line.seller_id}",
                )
            )
    carried = {(p.seller_id, p.sku) for p in snap.rows(s.PRODUCTS)}
    for st in snap.rows(s.STOCK):
        if (st.seller_id, st.sku) not in carried:
            out.append(
                Violation(
                    "stock-belongs-to-seller",
                    st.key,
                    f"stock of {st.sku} at seller {st.seller_id}, who has no product with it",
                )
            )
    return out


@invariant(
    "hold-tied-to-payment",
    "A reservation is held only while its payment can still succeed, and committed only "
    "when its payment succeeded.",
    "safety",
    "S5 S7 S14 S17 S18",
)
def hold_tied_to_payment(snap: Snapshot, _: Ledger) -> list[Violation]:
    out = []
    for r in snap.rows(s.RESERVATIONS):
        order = snap.get(s.ORDERS, r.order_id)
        payment = snap.get(s.PAYMENTS, order.payment_id) if order else None
        if payment is None:
            out.append(
                Violation("hold-tied-to-payment", r.id, "reservation without order or payment")
            )
            continue
        if r.status is ReservationStatus.HELD and payment.status not in CAN_SUCCEED:
            out.append(
                Violation(
                    "hold-tied-to-payment", r.id, f"held while payment is {payment.status.value}"
                )
            )
        if (
            r.status is ReservationStatus.COMMITTED
            and payment.status is not PaymentStatus.SUCCEEDED
        ):
            out.append(
                Violation(
                    "hold-tied-to-payment",
                    r.id,
                    f"committed while payment is {payment.status.value}",
                )
            )
    return out


@invariant(
    "stock-kept-for-live-payment",
    "While a payment can still succeed, its order's stock stays held. Only the shop's "
    "processing hold may put it back on sale: the stock of a payment the provider was "
    "processing at that moment expires (the payment may fail back to open later).",
    "safety",
    "S5 S14",
)
def stock_kept_for_live_payment(snap: Snapshot, _: Ledger) -> list[Violation]:
    out = []
    history: defaultdict[str, list[AuditEntry]] | None = None
    for r in snap.rows(s.RESERVATIONS):
        if r.status is ReservationStatus.HELD:
            continue
        order = snap.get(s.ORDERS, r.order_id)
        payment = snap.get(s.PAYMENTS, order.payment_id) if order else None
        if payment is None or payment.status not in CAN_SUCCEED:
            continue  # hold-tied-to-payment reports a missing payment
        if r.status is ReservationStatus.EXPIRED:
            if history is None:
                history = _histories(snap)
            if _was_processing(history, r.id, payment.id):
                continue
        out.append(
            Violation(
                "stock-kept-for-live-payment",
                r.id,
                f"{r.status.value} while payment {payment.id} is {payment.status.value}",
            )
        )
    return out


def _histories(snap: Snapshot) -> defaultdict[str, list[AuditEntry]]:
    """Every aggregate's audit entries, oldest first, by aggregate id (none: empty)."""
    out: defaultdict[str, list[AuditEntry]] = defaultdict(list)
    for a in sorted(snap.rows(s.AUDIT), key=lambda e: e.seq):
        out[a.aggregate_id].append(a)
    return out


def _was_processing(
    history: defaultdict[str, list[AuditEntry]], reservation: str, payment: str
) -> bool:
    """Whether the payment was processing when the reservation expired."""
    expired = [a.seq for a in history[reservation] if a.to_status == "expired"]
    if not expired:
        return False
    before = [a for a in history[payment] if a.seq < expired[-1]]
    return bool(before) and before[-1].to_status == PaymentStatus.PROCESSING.value


# --- orders, sessions, intents -------------------------------------------------------


@invariant(
    "one-order-per-session",
    "A checkout session has at most one order, and an order has exactly one payment.",
    "safety",
    "S8 S15",
)
def one_order_per_session(snap: Snapshot, _: Ledger) -> list[Violation]:
    per_session = Counter(o.checkout_session_id for o in snap.rows(s.ORDERS))
    out = [
        Violation("one-order-per-session", sid, f"{n} orders")
        for sid, n in sorted(per_session.items())
        if n > 1
    ]
    for o in snap.rows(s.ORDERS):
        p = snap.get(s.PAYMENTS, o.payment_id)
        if p is None or p.order_id != o.id:
            out.append(Violation("one-order-per-session", o.id, "order without its payment"))
    return out


def _live(ledger: Ledger, v: IntentView) -> bool:
    """Can this intent still take money, or does it keep money it took?"""
    if v.status in CANCELABLE or v.status == "processing":
        return True
    return v.status == "succeeded" and v.amount_received > ledger.refunded(v.id)


@invariant(
    "one-live-intent-per-session",
    "At the provider, a checkout session has at most one intent made by this installation that "
    "can take or keeps money.",
    "safety",
    "S1 S8",
)
def one_live_intent(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    per: defaultdict[str, list[str]] = defaultdict(list)
    for v in _ours(snap, ledger):
        sid = v.metadata.get("checkout_session_id")
        if sid and _live(ledger, v):
            per[sid].append(v.id)
    return [
        Violation("one-live-intent-per-session", sid, f"live intents {', '.join(ids)}")
        for sid, ids in sorted(per.items())
        if len(ids) > 1
    ]


@invariant(
    "no-double-charge",
    "For every order, the money this installation's intents captured at the provider net of "
    "refunds never exceeds the order's total.",
    "safety",
    "S8 S9 S10",
)
def no_double_charge(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    net: Counter[str] = Counter()
    for v in _ours(snap, ledger):
        oid = v.metadata.get("order_id")
        if oid:
            net[oid] += v.amount_received - ledger.refunded(v.id, {"succeeded"})
    out = []
    for oid, amount in sorted(net.items()):
        order = snap.get(s.ORDERS, oid)
        total = order.total.amount if order else 0
        if amount > total:
            out.append(
                Violation("no-double-charge", oid, f"net captured {amount} > order total {total}")
            )
    return out


@invariant(
    "no-orphaned-charge",
    "Every provider intent made by this installation that holds or took money (net of refunds) "
    "belongs to a local payment that records it, and to that payment's order.",
    "safety",
    "S1 S3 S13 S16",
)
def no_orphaned_charge(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    owned = _payments_by_intent(snap)
    out = []
    for v in _ours(snap, ledger):
        holds = v.status in ("processing", "requires_capture") or (
            v.status == "succeeded" and v.amount_received > ledger.refunded(v.id, {"succeeded"})
        )
        if holds and (v.id not in owned or snap.get(s.ORDERS, owned[v.id].order_id) is None):
            out.append(Violation("no-orphaned-charge", v.id, f"{v.status} with no local payment"))
    return out


@invariant(
    "closed-order-not-chargeable",
    "A canceled order's payment records no provider intent that can still be charged or "
    "that kept money.",
    "safety",
    "S3 S5 S18",
)
def closed_order_not_chargeable(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    # Only recorded intents: their client secret may be out. An unrecorded one nobody
    # can pay is an orphan, which `no-orphaned-intent` requires the reconciler to end.
    owned = _payments_by_intent(snap)
    out = []
    for v in ledger.intents:
        order = snap.get(s.ORDERS, owned[v.id].order_id) if v.id in owned else None
        if order is not None and order.status is OrderStatus.CANCELED and _live(ledger, v):
            out.append(
                Violation("closed-order-not-chargeable", order.id, f"intent {v.id} is {v.status}")
            )
    return out


@invariant(
    "order-matches-payment",
    "An order is paid, refunded or out of stock only if its payment succeeded, canceled "
    "only if its payment was canceled or never created, and pending only while its payment "
    "is neither.",
    "safety",
    "S5 S9 S17",
)
def order_matches_payment(snap: Snapshot, _: Ledger) -> list[Violation]:
    succeeded = {
        OrderStatus.PAID,
        OrderStatus.PARTIALLY_REFUNDED,
        OrderStatus.REFUNDED,
        OrderStatus.OUT_OF_STOCK,
    }
    out = []
    for o in snap.rows(s.ORDERS):
        p = snap.get(s.PAYMENTS, o.payment_id)
        if p is None:
            continue
        if o.status in succeeded and p.status is not PaymentStatus.SUCCEEDED:
            out.append(
                Violation(
                    "order-matches-payment", o.id, f"{o.status.value} but payment {p.status.value}"
                )
            )
        if o.status is OrderStatus.CANCELED and p.status not in (
            PaymentStatus.CANCELED,
            PaymentStatus.FAILED,
        ):
            out.append(
                Violation("order-matches-payment", o.id, f"canceled but payment {p.status.value}")
            )
        if o.status is OrderStatus.PENDING and p.status in (
            PaymentStatus.CANCELED,
            PaymentStatus.FAILED,
        ):
            out.append(
                Violation("order-matches-payment", o.id, f"pending but payment {p.status.value}")
            )
        if p.status is PaymentStatus.SUCCEEDED and o.status is OrderStatus.PENDING:
            out.append(
                Violation("order-matches-payment", o.id, "payment succeeded but order pending")
            )
    return out


@invariant(
    "amount-matches-order",
    "Every provider intent a payment records asks for exactly the payment's amount, which is "
    "exactly its order's total.",
    "safety",
    "S12 S15",
)
def amount_matches_order(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    intents = {v.id: v for v in ledger.intents}
    out = []
    for p in snap.rows(s.PAYMENTS):
        order = snap.get(s.ORDERS, p.order_id)
        if order is not None and order.total != p.amount:
            out.append(
                Violation("amount-matches-order", p.id, f"payment {p.amount}, order {order.total}")
            )
        v = intents.get(p.provider_intent_id or "")
        if v is not None and (v.amount, v.currency) != (p.amount.amount, p.amount.currency):
            out.append(
                Violation(
                    "amount-matches-order",
                    p.id,
                    f"intent {v.id} asks {v.amount} {v.currency}, payment is {p.amount}",
                )
            )
    return out


@invariant(
    "intent-is-the-payments",
    "Every provider intent a payment records was made by this installation for that payment "
    "(its reference) and matches its order's id, checkout session, amount and currency.",
    "safety",
    "T3",
)
def intent_is_the_payments(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    intents = {v.id: v for v in ledger.intents}
    mine = _installation(snap)
    out = []
    for p in snap.rows(s.PAYMENTS):
        v = intents.get(p.provider_intent_id or "")
        order = snap.get(s.ORDERS, p.order_id)
        if v is None or order is None:
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
            out.append(
                Violation(
                    "intent-is-the-payments",
                    p.id,
                    f"intent {v.id} differs from the payment in {', '.join(wrong)}",
                )
            )
    return out


@invariant(
    "foreign-left-alone",
    "This installation never refunds a provider intent it did not make (another store's, an "
    "invoice, a payment link, a previous system's).",
    "safety",
    "T3",
)
def foreign_left_alone(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    mine = _installation(snap)
    made = {v.id for v in _ours(snap, ledger)}
    return [
        Violation("foreign-left-alone", r.intent_id, f"refund {r.id} of {r.amount} by paycore")
        for r in ledger.refunds
        if mine is not None and r.metadata.get(INSTALLATION_KEY) == mine and r.intent_id not in made
    ]


@invariant(
    "success-is-durable",
    "A checkout reported as succeeded has its payment recorded with its provider intent.",
    "safety",
    "S1 S16",
)
def success_is_durable(snap: Snapshot, _: Ledger) -> list[Violation]:
    out = []
    for f in snap.rows(s.FLOWS):
        if f.kind != "checkout" or f.status is not FlowStatus.SUCCEEDED:
            continue
        p = snap.get(s.PAYMENTS, str(f.params.get("payment_id")))
        if p is None or p.status is PaymentStatus.CREATING or p.provider_intent_id is None:
            shown = "missing" if p is None else f"{p.status.value}, intent {p.provider_intent_id}"
            out.append(Violation("success-is-durable", f.id, f"succeeded but payment {shown}"))
    return out


# --- refunds -----------------------------------------------------------------------


@invariant(
    "refunds-within-captured",
    "For every payment, the pending plus succeeded refunds paycore made never exceed the "
    "amount captured, the provider never refunds more than it captured, and never more than "
    "is recorded locally, counting refunds made outside paycore once they are recorded.",
    "safety",
    "S6 S13",
)
def refunds_within_captured(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    own: Counter[str] = Counter()
    recorded: Counter[str] = Counter()
    recorded_ids: set[str] = set()
    for r in snap.rows(s.REFUNDS):
        if r.provider_refund_id is not None:
            recorded_ids.add(r.provider_refund_id)
        if r.status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED):
            recorded[r.payment_id] += r.amount.amount
            if not r.external:
                own[r.payment_id] += r.amount.amount
    out = []
    for pid, amount in sorted(own.items()):
        p = snap.get(s.PAYMENTS, pid)
        captured = p.amount_received if p else 0
        if amount > captured:
            out.append(
                Violation(
                    "refunds-within-captured", pid, f"local refunds {amount} > captured {captured}"
                )
            )
    owned = _payments_by_intent(snap)
    for v in ledger.intents:
        amount = ledger.refunded(v.id)
        mine = owned.get(v.id)
        # A refund made outside paycore that paycore has not seen yet is not a refund paycore
        # made behind its own books: refunds-recorded asks that it is recorded once quiet.
        seen = sum(
            r.amount
            for r in ledger.refunds
            if r.intent_id == v.id
            and r.status in REFUND_LIVE
            and (r.id in recorded_ids or "refund_id" in r.metadata)
        )
        if mine is not None and seen > recorded.get(mine.id, 0):
            out.append(
                Violation(
                    "refunds-within-captured",
                    v.id,
                    f"provider refunds {seen} > the {recorded.get(mine.id, 0)} recorded locally",
                )
            )
        if amount > v.amount_received:
            out.append(
                Violation(
                    "refunds-within-captured",
                    v.id,
                    f"provider refunds {amount} > captured {v.amount_received}",
                )
            )
    return out


@invariant(
    "refunds-recorded",
    "When quiet, every pending or succeeded provider refund of an intent a local payment "
    "records is recorded as a local refund, including refunds made outside paycore.",
    "convergence",
    "",
)
def refunds_recorded(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    owned = _payments_by_intent(snap)
    recorded = {r.provider_refund_id for r in snap.rows(s.REFUNDS)}
    return [
        Violation(
            "refunds-recorded",
            r.id,
            f"{r.status} refund of {r.amount} on {r.intent_id} (payment "
            f"{owned[r.intent_id].id}) is not recorded",
        )
        for r in ledger.refunds
        if r.intent_id in owned and r.status in REFUND_LIVE and r.id not in recorded
    ]


# --- exactly once ----------------------------------------------------------------


@invariant(
    "effects-once",
    "Each reservation is committed at most once, and each order gets at most one paid "
    "notification, queued exactly when the order was paid.",
    "safety",
    "S10 S17",
)
def effects_once(snap: Snapshot, _: Ledger) -> list[Violation]:
    commits = Counter(
        a.aggregate_id
        for a in snap.rows(s.AUDIT)
        if a.aggregate == "reservation" and a.trigger == "commit"
    )
    out = [
        Violation("effects-once", rid, f"committed {n} times")
        for rid, n in sorted(commits.items())
        if n > 1
    ]
    paid_msgs = Counter(m.order_id for m in snap.rows(s.OUTBOX) if m.kind == "order_paid")
    for o in snap.rows(s.ORDERS):
        was_paid = o.status in (
            OrderStatus.PAID,
            OrderStatus.PARTIALLY_REFUNDED,
            OrderStatus.REFUNDED,
        )
        if paid_msgs[o.id] != int(was_paid):
            out.append(
                Violation(
                    "effects-once",
                    o.id,
                    f"{paid_msgs[o.id]} paid notifications for a {o.status.value} order",
                )
            )
    return out


# --- state machines and audit ------------------------------------------------------


@invariant(
    "legal-transitions",
    "Every recorded status change is a transition its aggregate's state machine allows.",
    "safety",
    "S9",
)
def legal_transitions(snap: Snapshot, _: Ledger) -> list[Violation]:
    out = []
    for a in snap.rows(s.AUDIT):
        m = MACHINES[a.aggregate]
        if a.from_status is None:
            ok = a.trigger == "create" and a.to_status == m.initial.value
        else:
            src = m.states(a.from_status)
            ok = m.allows(src, a.trigger) and m.next(src, a.trigger).value == a.to_status
        if not ok:
            out.append(
                Violation(
                    "legal-transitions",
                    f"{a.aggregate} {a.aggregate_id}",
                    f"{a.from_status} -{a.trigger}-> {a.to_status} is not in the machine",
                )
            )
    return out


_AUDITED: dict[str, s.Table[Any]] = {
    "order": s.ORDERS,
    "payment": s.PAYMENTS,
    "reservation": s.RESERVATIONS,
    "refund": s.REFUNDS,
    "flow": s.FLOWS,
}


@invariant(
    "audit-replays",
    "Replaying each aggregate's audit entries from its creation yields its current status.",
    "safety",
    "S2 S5",
)
def audit_replays(snap: Snapshot, _: Ledger) -> list[Violation]:
    last: dict[tuple[str, str], str | None] = {}
    out = []
    for a in sorted(snap.rows(s.AUDIT), key=lambda e: e.seq):
        k = (a.aggregate, a.aggregate_id)
        if last.get(k) != a.from_status:
            out.append(
                Violation(
                    "audit-replays",
                    f"{a.aggregate} {a.aggregate_id}",
                    f"entry {a.seq} starts from {a.from_status}, last was {last.get(k)}",
                )
            )
        last[k] = a.to_status
    for aggregate, table in _AUDITED.items():
        for row in snap.rows(table):
            key = table.key_of(row)
            replayed = last.get((aggregate, key))
            if replayed != row.status.value:
                out.append(
                    Violation(
                        "audit-replays",
                        f"{aggregate} {key}",
                        f"audit replays to {replayed}, record says {row.status.value}",
                    )
                )
    return out


# --- convergence -------------------------------------------------------------------


@invariant(
    "statuses-agree",
    "When quiet, every payment and refund has the status its provider object has.",
    "convergence",
    "S5 S17 T3",
)
def statuses_agree(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    out = []
    intents = {v.id: v for v in ledger.intents}
    for p in snap.rows(s.PAYMENTS):
        v = intents.get(p.provider_intent_id or "")
        if v is not None and PROVIDER_TO_LOCAL[v.status] is not p.status:
            out.append(
                Violation("statuses-agree", p.id, f"local {p.status.value}, provider {v.status}")
            )
    refunds = {r.id: r for r in ledger.refunds}
    for r in snap.rows(s.REFUNDS):
        pv = refunds.get(r.provider_refund_id or "")
        if r.status is RefundStatus.PENDING and pv is None:
            out.append(
                Violation("statuses-agree", r.id, "refund still pending with no provider refund")
            )
        elif pv is not None and pv.status != r.status.value:
            out.append(
                Violation("statuses-agree", r.id, f"local {r.status.value}, provider {pv.status}")
            )
    return out


@invariant(
    "no-orphaned-intent",
    "When quiet, every provider intent made by this installation that is not canceled belongs "
    "to a local payment that records it.",
    "convergence",
    "S1 S3 S16 T3",
)
def no_orphaned_intent(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    owned = _payments_by_intent(snap)
    out = []
    for v in _ours(snap, ledger):
        if not _live(ledger, v):
            continue
        if v.id not in owned:
            out.append(
                Violation("no-orphaned-intent", v.id, f"{v.status} and no payment records it")
            )
    return out


@invariant(
    "no-stale-hold",
    "When quiet, no stock is held past its reservation's expiry unless its payment is "
    "still processing.",
    "convergence",
    "S14 S18",
)
def no_stale_hold(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    out = []
    for r in snap.rows(s.RESERVATIONS):
        if r.status is not ReservationStatus.HELD:
            continue
        order = snap.get(s.ORDERS, r.order_id)
        payment = snap.get(s.PAYMENTS, order.payment_id) if order else None
        if payment is not None and payment.status is PaymentStatus.PROCESSING:
            continue
        if ledger.now is not None and r.expires_at <= ledger.now:
            out.append(
                Violation(
                    "no-stale-hold",
                    r.id,
                    f"held past expiry, payment {payment.status.value if payment else '?'}",
                )
            )
    return out


@invariant(
    "flows-finished",
    "When quiet, no flow is left unfinished and none was dead-lettered.",
    "convergence",
    "S5 S7",
)
def flows_finished(snap: Snapshot, _: Ledger) -> list[Violation]:
    return [
        Violation("flows-finished", f.id, f"{f.status.value} at step {f.step}: {f.last_error}")
        for f in snap.rows(s.FLOWS)
        if f.status in (FlowStatus.ACTIVE, FlowStatus.DEAD)
    ]


# --- refunds paycore decided on ------------------------------------------------------


@invariant(
    "decided-refunds-covered",
    "Money paycore decided to return (an order refunded, or closed as out of stock) is "
    "covered by pending or succeeded refunds, or else an open refund_failed alert names "
    "one of its payment's refunds.",
    "safety",
    "S14",
)
def decided_refunds_covered(snap: Snapshot, _: Ledger) -> list[Violation]:
    """A refund that fails silently leaves the customer charged with nothing to show for it
    and every other invariant holding; this one catches it."""
    live: Counter[str] = Counter()
    for r in snap.rows(s.REFUNDS):
        if r.status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED):
            live[r.payment_id] += r.amount.amount
    alerted = {
        str(a.fields.get("payment_id"))
        for a in snap.rows(s.ALERTS)
        if a.kind == "refund_failed" and a.open
    }
    out = []
    for order in snap.rows(s.ORDERS):
        if order.status not in (OrderStatus.REFUNDED, OrderStatus.OUT_OF_STOCK):
            continue
        p = snap.get(s.PAYMENTS, order.payment_id)
        if p is None or p.amount_received <= live[p.id] or p.id in alerted:
            continue
        out.append(
            Violation(
                "decided-refunds-covered",
                order.id,
                f"{order.status.value}: {p.amount_received - live[p.id]} of payment {p.id} "
                "is neither being refunded nor alerted",
            )
        )
    return out


# --- sessions, currencies, notifications ----------------------------------------------


@invariant(
    "sessions-never-share",
    "Distinct checkout sessions never share an order, a payment's provider intent or a "
    "client secret.",
    "safety",
)
def sessions_never_share(snap: Snapshot, _: Ledger) -> list[Violation]:
    out = []
    by_intent: defaultdict[str, set[str]] = defaultdict(set)
    by_secret: defaultdict[str, dict[str, str]] = defaultdict(dict)
    for p in snap.rows(s.PAYMENTS):
        order = snap.get(s.ORDERS, p.order_id)
        if order is not None and order.checkout_session_id != p.checkout_session_id:
            out.append(
                Violation(
                    "sessions-never-share",
                    p.id,
                    f"payment of session {p.checkout_session_id} belongs to order {order.id} "
                    f"of session {order.checkout_session_id}",
                )
            )
        if p.provider_intent_id is not None:
            by_intent[p.provider_intent_id].add(p.checkout_session_id)
        if p.client_secret is not None:
            by_secret[p.client_secret].setdefault(p.checkout_session_id, p.id)
    for intent_id, sessions in sorted(by_intent.items()):
        if len(sessions) > 1:
            shared = ", ".join(sorted(sessions))
            out.append(Violation("sessions-never-share", intent_id, f"intent shared by {shared}"))
    for holders in by_secret.values():
        if len(holders) > 1:
            # named by the payments holding it: the secret itself is never printed
            payments = sorted(holders.values())
            out.append(
                Violation(
                    "sessions-never-share",
                    payments[0],
                    f"one client secret held by payments {', '.join(payments)} of sessions "
                    f"{', '.join(sorted(holders))}",
                )
            )
    return out


@invariant(
    "one-currency-per-order",
    "An order's lines, its total, its payment, the provider intent the payment records and "
    "its refunds are all in the order's currency.",
    "safety",
)
def one_currency_per_order(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    intents = {v.id: v for v in ledger.intents}
    refunds: defaultdict[str, list[str]] = defaultdict(list)
    for r in snap.rows(s.REFUNDS):
        refunds[r.order_id].append(f"refund {r.id} {r.amount.currency}")
    out = []
    for o in snap.rows(s.ORDERS):
        cur = o.total.currency
        seen = [f"line {n} {line.unit_price.currency}" for n, line in enumerate(o.lines)]
        p = snap.get(s.PAYMENTS, o.payment_id)
        if p is not None:
            seen.append(f"payment {p.amount.currency}")
            v = intents.get(p.provider_intent_id or "")
            if v is not None:
                seen.append(f"intent {v.currency.upper()}")
        seen += refunds[o.id]
        wrong = [what for what in seen if not what.endswith(f" {cur}")]
        if wrong:
            out.append(
                Violation("one-currency-per-order", o.id, f"order in {cur}: {', '.join(wrong)}")
            )
    return out


@invariant(
    "notifications-delivered",
    "When quiet, every queued notification has been delivered.",
    "convergence",
)
def notifications_delivered(snap: Snapshot, _: Ledger) -> list[Violation]:
    return [
        Violation(
            "notifications-delivered",
            m.id,
            f"{m.kind} for order {m.order_id} not sent after {m.attempts} attempts",
        )
        for m in snap.rows(s.OUTBOX)
        if not m.sent
    ]
