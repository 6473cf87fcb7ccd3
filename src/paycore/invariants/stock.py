"""Invariants on stock: conserved, never oversold, each seller's own, and held exactly as
long as its payment can succeed."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

from paycore import schema as s
from paycore.invariants.common import CAN_SUCCEED, audit_in_seq_order
from paycore.invariants.registry import Breach, Ledger, invariant
from paycore.ports import SnapshotView
from paycore.records import AuditEntry
from paycore.status import PaymentStatus, ReservationStatus


@invariant(
    "stock-conserved",
    "For every seller and SKU, the held and committed counters equal the sums of the held "
    "and committed reservations of that seller's SKU, and on-hand equals the sum of its "
    "stock movements.",
    "safety",
    "S4 S5 S7 S10",
)
def stock_conserved(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
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
    keys = {st.key for st in snap.rows(s.STOCK)} | set(held) | set(committed) | set(moved)
    for k in sorted(keys):
        st = snap.get(s.STOCK, k)
        got = (st.on_hand, st.held, st.committed) if st else (0, 0, 0)
        want = (moved[k], held[k], committed[k])
        if got != want:
            yield (
                k,
                (
                    f"(on hand, held, committed) is {got} but the reservations and movements "
                    f"say {want}"
                ),
            )


@invariant(
    "no-oversell",
    "For every seller and SKU, held plus committed stock never exceeds the stock on hand.",
    "safety",
    "S4 S8 S14",
)
def no_oversell(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    for st in snap.rows(s.STOCK):
        if st.held + st.committed > st.on_hand:
            yield st.key, f"held {st.held} + committed {st.committed} > on hand {st.on_hand}"


@invariant(
    "stock-belongs-to-seller",
    "Sellers never share units: every reservation takes the stock of its order line's "
    "seller and SKU, in the line's quantity, and every stock row is a SKU that a product "
    "of its seller carries.",
    "safety",
    "S4 S12",
)
def stock_belongs_to_seller(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    for r in snap.rows(s.RESERVATIONS):
        order = snap.get(s.ORDERS, r.order_id)
        if order is None or not 0 <= r.line < len(order.lines):
            continue  # hold-tied-to-payment reports a reservation without its order
        line = order.lines[r.line]
        if (r.seller_id, r.sku, r.quantity) != (line.seller_id, line.sku, line.quantity):
            yield (
                r.id,
                (
                    f"holds {r.quantity} of {r.sku} at seller {r.seller_id} for line {r.line}, "
                    f"which is {line.quantity} of {line.sku} at seller {line.seller_id}"
                ),
            )
    carried = {(p.seller_id, p.sku) for p in snap.rows(s.PRODUCTS)}
    for st in snap.rows(s.STOCK):
        if (st.seller_id, st.sku) not in carried:
            yield st.key, f"stock of {st.sku} at seller {st.seller_id}, who has no product with it"


@invariant(
    "hold-tied-to-payment",
    "A reservation is held only while its payment can still succeed, and committed only "
    "when its payment succeeded.",
    "safety",
    "S5 S7 S14 S17 S18",
)
def hold_tied_to_payment(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    for r in snap.rows(s.RESERVATIONS):
        order = snap.get(s.ORDERS, r.order_id)
        payment = snap.get(s.PAYMENTS, order.payment_id) if order else None
        if payment is None:
            yield r.id, "reservation without order or payment"
            continue
        if r.status is ReservationStatus.HELD and payment.status not in CAN_SUCCEED:
            yield r.id, f"held while payment is {payment.status.value}"
        if (
            r.status is ReservationStatus.COMMITTED
            and payment.status is not PaymentStatus.SUCCEEDED
        ):
            yield r.id, f"committed while payment is {payment.status.value}"


@invariant(
    "stock-kept-for-live-payment",
    "While a payment can still succeed, its order's stock stays held. Only the shop's "
    "processing hold may put it back on sale: the stock of a payment the provider was "
    "processing at that moment expires (the payment may fail back to open later).",
    "safety",
    "S5 S14",
)
def stock_kept_for_live_payment(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    # (reservation, what is wrong, the payment whose history may excuse it): the history
    # is read once, after the reservations, and only the entries of those aggregates kept
    found: list[tuple[str, str, str | None]] = []
    for r in snap.rows(s.RESERVATIONS):
        if r.status is ReservationStatus.HELD:
            continue
        order = snap.get(s.ORDERS, r.order_id)
        payment = snap.get(s.PAYMENTS, order.payment_id) if order else None
        if payment is None or payment.status not in CAN_SUCCEED:
            continue  # hold-tied-to-payment reports a missing payment
        excuse = payment.id if r.status is ReservationStatus.EXPIRED else None
        found.append(
            (r.id, f"{r.status.value} while payment {payment.id} is {payment.status.value}", excuse)
        )
    wanted = {a for rid, _, pid in found if pid is not None for a in (rid, pid)}
    history = _histories(snap, wanted) if wanted else defaultdict(list)
    for rid, detail, pid in found:
        if pid is not None and _was_processing(history, rid, pid):
            continue
        yield rid, detail


def _histories(snap: SnapshotView, wanted: set[str]) -> defaultdict[str, list[AuditEntry]]:
    """The audit entries of the ``wanted`` aggregates, oldest first, by aggregate id."""
    out: defaultdict[str, list[AuditEntry]] = defaultdict(list)
    for a in audit_in_seq_order(snap):
        if a.aggregate_id in wanted:
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
