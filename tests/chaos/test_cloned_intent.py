"""An intent cloned with this installation's metadata (installation id and reference are
visible on the dashboard) but paying another account.

It is never a payment's intent: :func:`paycore.flows.identity.intent_mismatch` compares
the account an intent pays, when its view names one, with the payment's seller's. Not
adopted, it is an orphan the reconciler refunds; and ``charge-pays-the-seller`` does not
report for good a charge no payment records that was refunded in full with its transfer
taken back: it moved no money. Refunded in part, or by a refund that left the transfer
with the account, it still does."""

from __future__ import annotations

from tests.support import SESSION, deliver_webhooks, make_shop, quiesce

from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.identity import installation_id, intent_is_payments, intent_mismatch
from paycore.flows.sync import order_of
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView
from paycore.status import PaymentStatus
from paycore.unit import Unit
from paycore_adapters.memory import Wiring

INVARIANT = "charge-pays-the-seller"


def shop_and_clone(w: Wiring, *, pay: bool = True) -> tuple[str, IntentView]:
    """A checkout's open payment, and a copy of its intent (same metadata, amount and
    currency) that pays ``acct_evil``, paid by a customer if ``pay``."""
    w.provider.set_account("acct_evil")
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    real = w.provider.retrieve_intent(str(w.service.payment(res.payment_id).provider_intent_id))
    clone = w.provider.create_intent(
        CreateIntent(Money(real.amount, real.currency.upper()), "acct_evil", dict(real.metadata)),
        idempotency_key="evil-1",
    )
    if pay:
        w.provider.customer_confirm(clone.id, "pm_card_visa")
    return res.payment_id, w.provider.retrieve_intent(clone.id)


def judged(w: Wiring, payment_id: str, view: IntentView) -> tuple[str | None, bool]:
    """(why ``view`` is not the payment's intent, whether it is), as adoption asks."""

    def body(u: Unit) -> tuple[str | None, bool]:
        payment = u.get(s.PAYMENTS, payment_id)
        assert payment is not None
        order, inst = order_of(u, payment), installation_id(u)
        why = intent_mismatch(view, payment, order, inst)
        return why, intent_is_payments(view, payment, order, inst)

    answer: tuple[str | None, bool] = w.service.engine.transact(body)
    return answer


def test_a_clone_paying_another_account_is_not_the_payments_intent() -> None:
    w = make_shop()
    pid, clone = shop_and_clone(w, pay=False)
    real = w.provider.retrieve_intent(str(w.service.payment(pid).provider_intent_id))
    assert judged(w, pid, real) == (None, True)
    assert judged(w, pid, clone) == ("pays account 'acct_evil', not the seller's 'acct_1'", False)


def test_a_payment_that_records_a_clone_is_reported_not_synced() -> None:
    """A payment that holds the clone (adopted by an earlier build): the reconciler says
    the intent is not its own and changes neither."""
    w = make_shop()
    pid, clone = shop_and_clone(w)
    w.service.engine.transact(
        lambda u: u.save(s.PAYMENTS, u.get(s.PAYMENTS, pid), provider_intent_id=clone.id)
    )
    w.provider.take_events()
    w.service.run_reconciler()
    (alert,) = [a for a in w.alerts.raised if a.kind == "intent_mismatch"]
    assert alert.fields == {"intent_id": clone.id, "payment_id": pid}
    assert "pays account 'acct_evil'" in alert.message
    assert w.service.payment(pid).status is PaymentStatus.OPEN
    assert not [r for r in w.provider.refunds() if r.intent_id == clone.id]


def test_a_clone_refunded_in_full_as_an_orphan_leaves_the_check_clean() -> None:
    """The reconciler refunds the paid clone as its orphan (its transfer taken back):
    every invariant holds afterwards, ``charge-pays-the-seller`` included."""
    w = make_shop()
    _, clone = shop_and_clone(w)
    deliver_webhooks(w)
    assert INVARIANT in {v.invariant for v in w.violations("safety")}  # the money is there
    quiesce(w)
    assert [(r.intent_id, r.amount, r.status) for r in w.provider.refunds()] == [
        (clone.id, 1250, "succeeded")
    ]
    bad = w.violations()
    assert not bad, "\n".join(map(str, bad))


def test_a_clone_refunded_in_part_or_leaving_the_transfer_is_still_reported() -> None:
    """Money still at the other account: refunded in part, or in full by a refund that
    did not take the transfer back (the platform paid the customer)."""
    for amount, reverse in ((1000, True), (1250, False)):
        w = make_shop()
        _, clone = shop_and_clone(w)
        fake = w.provider.inner  # type: ignore[attr-defined]  # the fault wrapper's provider
        fake.create_refund(
            clone.id,
            amount=amount,
            reason=None,
            metadata={},
            idempotency_key="dashboard-1",
            reverse_transfer=reverse,
        )
        found = [v for v in w.violations("safety") if v.invariant == INVARIANT]
        assert [v.subject for v in found] == [clone.id], (amount, reverse)
