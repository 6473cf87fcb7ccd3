"""The invariants after a store is restored from a backup, on one provider account.

A restore brings back an older store: the lifecycles made after the backup are gone
locally, and the local ids they used (``pay_000004``, ``rf_000004``) are drawn again by the
lifecycles made after the restore. The provider keeps both generations. The service tells
them apart by each object's random reference (``paycore_reference``); the checks must too.
A healthy restored store reports no violation, on the memory store and on SQLite, and a
real double refund (two provider refunds made for one local refund) is still reported.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from tests.support import converged, deliver_webhooks

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.identity import REFERENCE_KEY
from paycore.money import Money
from paycore.service import PaymentService
from paycore.tokens import SeededTokens
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore


def shop(kind: str, tmp_path: Path) -> Wiring:
    store = SQLiteStore(tmp_path / "shop.db", migrate=True) if kind == "sqlite" else None
    w = in_memory(store=store)
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.service.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    w.service.restock("s1", "SKU-MUG", 1000)
    return w


def lifecycle(w: Wiring, n: int, *, refund: int | None = 0) -> str:
    """Check out two mugs, pay, and refund ``refund`` (None: all; 0: nothing)."""
    res = w.service.create_payment_intent(f"cs_test_{n:016d}", [CartItem("p_mug", 2)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    deliver_webhooks(w)
    if refund != 0:
        w.service.create_refund(res.payment_id, refund, idempotency_key=f"rma-{n}")
        deliver_webhooks(w)
    return res.payment_id


def restore(w: Wiring, backup: object) -> None:
    """Put the backup in place and start a new process on it (its own random source)."""
    if isinstance(w.store, SQLiteStore):
        w.store.close()
    w.store = backup  # type: ignore[assignment]
    w.service = PaymentService(
        w.store, w.provider, w.clock, w.alerts, w.notifier, w.service.config, "worker-2",
        SeededTokens(7),
    )  # fmt: skip


@pytest.fixture(params=["memory", "sqlite"])
def restored(request: pytest.FixtureRequest, tmp_path: Path) -> Wiring:
    """Lifecycles with refunds, a backup, more of them, the restore, more of them."""
    w = shop(request.param, tmp_path)
    early = [lifecycle(w, n, refund=None) for n in range(3)]
    paid = lifecycle(w, 3)
    backup = copy.deepcopy(w.store)
    for n in range(4, 7):
        lifecycle(w, n, refund=None if n % 2 else 700)
    # a refund lost by the restore on a payment the backup still holds
    w.service.create_refund(paid, 500, idempotency_key="rma-lost")
    deliver_webhooks(w)
    restore(w, backup)
    for n in range(7, 11):
        lifecycle(w, n, refund=None if n % 2 else 300)
    w.service.create_refund(paid, 900, idempotency_key="rma-after")
    deliver_webhooks(w)
    assert early == ["pay_000001", "pay_000002", "pay_000003"]
    return w


def test_a_restored_store_breaks_no_safety_invariant(restored: Wiring) -> None:
    w = restored
    by_local: dict[str, int] = {}
    for r in w.provider.refunds():
        by_local[r.metadata["refund_id"]] = by_local.get(r.metadata["refund_id"], 0) + 1
    assert max(by_local.values()) == 2  # local refund ids did repeat at the provider
    # The two lost payments refunded in part hold money no local payment records: true
    # orphans, which the reconciler refunds (test_a_restored_store_converges); nothing else.
    lost = {v.id for v in w.provider.intents()} - {
        p.provider_intent_id for p in w.store.snapshot().rows(s.PAYMENTS)
    }
    bad = w.violations("safety")
    assert {(v.invariant, v.subject in lost) for v in bad} == {("no-orphaned-charge", True)}
    assert len(bad) == 2


def test_a_restored_store_converges(restored: Wiring) -> None:
    """The jobs find what the store lost: the lost payments' intents as orphans (those
    still holding money refunded), the lost refund of a kept payment as external."""
    w = restored
    lost = {v.id for v in w.provider.intents()} - {
        p.provider_intent_id for p in w.store.snapshot().rows(s.PAYMENTS)
    }
    converged(w)
    kinds = {(a.kind, a.fields.get("intent_id")) for a in w.alerts.raised}
    assert {("orphan_intent", i) for i in lost} <= kinds
    (external,) = [a for a in w.alerts.raised if a.kind == "external_refund"]
    assert (external.fields["payment_id"], external.fields["amount"]) == ("pay_000004", 500)


def test_two_provider_refunds_of_one_local_refund_are_still_reported(
    restored: Wiring,
) -> None:
    """A second provider refund carrying a refund's reference is money returned twice."""
    w = restored
    # the new rf of 3.00 EUR on pay_000004 (ids repeat: the lost pay_000004 had one too)
    made = [r for r in w.provider.refunds() if r.amount == 300][-1]
    again = w.provider.create_refund(
        made.intent_id, amount=made.amount, reason=None, metadata=dict(made.metadata),
        idempotency_key="a-second-key",
    )  # fmt: skip
    assert again.metadata[REFERENCE_KEY] == made.metadata[REFERENCE_KEY]
    bad = {v.invariant for v in w.violations("safety")}
    assert "one-provider-refund-per-refund" in bad


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_lost_paid_intent_is_an_orphan_not_a_double_charge(kind: str, tmp_path: Path) -> None:
    """A payment made after the backup, paid and lost by the restore, shares its order id
    with the first order made after it. Its intent is an orphaned charge (the reconciler
    refunds it), not a second charge of the new order: the order's own payment carries
    another reference."""
    w = shop(kind, tmp_path)
    lifecycle(w, 0)
    backup = copy.deepcopy(w.store)
    lost = lifecycle(w, 1)  # paid, never refunded: the restore loses it
    restore(w, backup)
    again = lifecycle(w, 2)
    assert again == lost  # the id is drawn again
    bad = {(v.invariant, v.subject) for v in w.violations("safety")}
    (lost_intent,) = {v.id for v in w.provider.intents()} - {
        p.provider_intent_id for p in w.store.snapshot().rows(s.PAYMENTS)
    }
    assert bad == {("no-orphaned-charge", lost_intent)}
