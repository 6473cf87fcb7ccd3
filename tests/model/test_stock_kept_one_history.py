"""stock-kept-for-live-payment reads one aggregate's history: the reservation's own.

The processing hold's expiry says why it happened on the reservation itself (its own
trigger, ``expire_processing``), so the invariant never orders two aggregates' audit
entries by their sequence numbers. On PostgreSQL those numbers come from a sequence
drawn a block per transaction and order one aggregate's history only: a webhook
reopening the payment can commit with a lower number than the janitor's expiry that
serialized before it (``tests/stores/test_postgres_expiry_race.py``).
"""

from __future__ import annotations

import attrs
import pytest
from tests.model.test_stock_kept_invariant import processing_past_its_hold
from tests.support import SESSION, make_shop

from paycore import invariants as inv
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.invariants import Violation
from paycore.machines import RESERVATION
from paycore.ports import Snapshot
from paycore.records import AuditEntry
from paycore.status import PaymentStatus, ReservationStatus
from paycore_adapters.memory import Wiring

ID = "stock-kept-for-live-payment"


def processing() -> tuple[Wiring, str, str]:
    """A bank debit the provider is processing: (wiring, payment id, reservation id)."""
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_successDelayed_de")
    (r,) = w.store.snapshot().rows(s.RESERVATIONS)
    return w, res.payment_id, r.id


def raced(w: Wiring, pid: str, rid: str, trigger: str, reopen_seq: int) -> Snapshot:
    """The store as two concurrent transactions leave it: the payment reopened (a failed
    debit) and its stock expired with ``trigger`` at seq 2000, the reopen numbered
    ``reopen_seq`` (lower: the numbers' order is not the serial order)."""
    snap = w.store.snapshot()
    tables = {name: dict(rows) for name, rows in snap.tables.items()}
    p, r = tables[s.PAYMENTS.name][pid], tables[s.RESERVATIONS.name][rid]
    tables[s.PAYMENTS.name][pid] = attrs.evolve(p, status=PaymentStatus.OPEN, version=p.version + 1)
    tables[s.RESERVATIONS.name][rid] = attrs.evolve(
        r, status=ReservationStatus.EXPIRED, version=r.version + 1
    )
    for entry in (
        AuditEntry(reopen_seq, 0, "payment", pid, "processing", "open", "reopen", None),
        AuditEntry(2000, 0, "reservation", rid, "held", "expired", trigger, None),
    ):
        tables[s.AUDIT.name][str(entry.seq)] = entry
    return Snapshot(tables)


def fired(snap: Snapshot, w: Wiring) -> list[Violation]:
    return [v for v in inv.check(snap, w.ledger()) if v.invariant == ID]


@pytest.mark.parametrize("reopen_seq", [1000, 3000])
def test_a_processing_hold_expiry_is_lawful_whatever_the_payments_seqs_say(
    reopen_seq: int,
) -> None:
    """The janitor's processing hold expired the stock while the payment was processing,
    and a webhook reopened the payment concurrently: numbered before the expiry (1000)
    or after it (3000), the expiry is lawful. Before the fix the first order was reported
    ("expired while payment ... is open")."""
    w, pid, rid = processing()
    assert fired(raced(w, pid, rid, "expire_processing", reopen_seq), w) == []


@pytest.mark.parametrize("reopen_seq", [1000, 3000])
def test_a_plain_expiry_under_a_live_payment_is_reported_whatever_the_seqs_say(
    reopen_seq: int,
) -> None:
    """Any other expiry of a payment that can still succeed is a bug (S14's janitor), even
    when the payment's own history shows it processing just before (3000: before the fix
    that order excused it)."""
    w, pid, rid = processing()
    assert fired(raced(w, pid, rid, "expire", reopen_seq), w) == [
        Violation(ID, rid, f"expired while payment {pid} is open")
    ]


def test_the_janitors_processing_hold_records_its_own_trigger() -> None:
    """The real path: the janitor's processing hold expires the stock with
    ``expire_processing`` (a legal edge of the reservation machine, so legal-transitions
    and the audit's replay hold); a failed debit then reopens the payment, lawfully."""
    w, payment_id = processing_past_its_hold()
    snap = w.store.snapshot()
    (r,) = snap.rows(s.RESERVATIONS)
    assert r.status is ReservationStatus.EXPIRED
    triggers = [a.trigger for a in snap.rows(s.AUDIT) if a.aggregate_id == r.id]
    assert triggers == ["create", "expire_processing"]
    assert inv.check(snap, w.ledger(), ("safety", "convergence")) == []
    w.provider.settle(w.service.payment(payment_id).provider_intent_id or "", success=False)
    w.service.run_reconciler()
    assert w.service.payment(payment_id).status is PaymentStatus.OPEN
    assert inv.check(w.store.snapshot(), w.ledger()) == []


def test_the_reservation_machine_has_the_processing_hold_edge() -> None:
    """Held stock expires by the shop's processing hold on its own trigger."""
    assert RESERVATION.next(ReservationStatus.HELD, "expire_processing") is (
        ReservationStatus.EXPIRED
    )
    assert not RESERVATION.allows(ReservationStatus.COMMITTED, "expire_processing")
