"""Invariants on stock: conserved, never oversold, each seller's own, and held exactly as
long as its payment can succeed."""

from __future__ import annotations

from collections.abc import Iterator

from paycore import schema as s
from paycore.invariants.common import CAN_SUCCEED, audit_in_seq_order
from paycore.invariants.registry import Breach, Ledger, invariant
from paycore.ports import SnapshotView
from paycore.shown import shown_id
from paycore.status import PaymentStatus, ReservationStatus

#: The reservation trigger of the shop's processing hold (``jobs._maybe_unhold``): the one
#: expiry a payment that can still succeed may see (``machines.RESERVATION``).
PROCESSING_HOLD_EXPIRY = "expire_processing"


@invariant(
    "stock-conserved",
    "For every seller and SKU, the held and committed counters equal the sums of the held "
    "and committed reservations of that seller's SKU, and on-hand equals the sum of its "
    "stock movements.",
    "safety",
    "S4 S5 S7 S10",
)
def stock_conserved(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    # Plain dicts, not Counters: the harness runs this after most steps, on a few rows.
    held: dict[str, int] = {}
    committed: dict[str, int] = {}
    moved: dict[str, int] = {}
    for r in snap.rows(s.RESERVATIONS):
        if r.status is ReservationStatus.HELD:
            held[r.stock_key] = held.get(r.stock_key, 0) + r.quantity
        elif r.status is ReservationStatus.COMMITTED:
            committed[r.stock_key] = committed.get(r.stock_key, 0) + r.quantity
    for m in snap.rows(s.STOCK_MOVEMENTS):
        moved[m.stock_key] = moved.get(m.stock_key, 0) + m.delta
    keys = {st.key for st in snap.rows(s.STOCK)} | held.keys() | committed.keys() | moved.keys()
    for k in sorted(keys):
        st = snap.get(s.STOCK, k)
        got = (st.on_hand, st.held, st.committed) if st else (0, 0, 0)
        want = (moved.get(k, 0), held.get(k, 0), committed.get(k, 0))
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
                    f"holds {r.quantity} of {shown_id(r.sku)} at seller "
                    f"{shown_id(r.seller_id)} for line {r.line}, which is {line.quantity} of "
                    f"{shown_id(line.sku)} at seller {shown_id(line.seller_id)}"
                ),
            )
    carried = {(p.seller_id, p.sku) for p in snap.rows(s.PRODUCTS)}
    for st in snap.rows(s.STOCK):
        if (st.seller_id, st.sku) not in carried:
            yield (
                st.key,
                f"stock of {shown_id(st.sku)} at seller {shown_id(st.seller_id)}, who has no "
                "product with it",
            )


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
    "processing hold may put it back on sale, and its expiry says so on the reservation "
    "(trigger expire_processing): the payment was processing then, and may fail back to "
    "open later.",
    "safety",
    "S5 S14",
)
def stock_kept_for_live_payment(snap: SnapshotView, _: Ledger) -> Iterator[Breach]:
    # (reservation, what is wrong, whether its own history may excuse it): the history is
    # read once, after the reservations, and only the entries of those reservations kept.
    # Only the reservation's own entries are read: audit numbers order one aggregate's
    # history, not the commits of two (PostgreSQL draws them a block per transaction).
    found: list[tuple[str, str, bool]] = []
    for r in snap.rows(s.RESERVATIONS):
        if r.status is ReservationStatus.HELD:
            continue
        order = snap.get(s.ORDERS, r.order_id)
        payment = snap.get(s.PAYMENTS, order.payment_id) if order else None
        if payment is None or payment.status not in CAN_SUCCEED:
            continue  # hold-tied-to-payment reports a missing payment
        detail = f"{r.status.value} while payment {payment.id} is {payment.status.value}"
        found.append((r.id, detail, r.status is ReservationStatus.EXPIRED))
    wanted = {rid for rid, _, may in found if may}
    held_back = _expired_by_the_hold(snap, wanted) if wanted else set()
    for rid, detail, _may in found:
        if rid not in held_back:
            yield rid, detail


def _expired_by_the_hold(snap: SnapshotView, wanted: set[str]) -> set[str]:
    """The ``wanted`` reservations whose last expiry was the processing hold's."""
    last: dict[str, str] = {}
    for a in audit_in_seq_order(snap):
        expiry = a.to_status == ReservationStatus.EXPIRED.value
        if expiry and a.aggregate == "reservation" and a.aggregate_id in wanted:
            last[a.aggregate_id] = a.trigger
    return {rid for rid, trigger in last.items() if trigger == PROCESSING_HOLD_EXPIRY}
