"""A refund asked for more than is left, because the money went back elsewhere.

Two places refuse a refund for what is left of its payment, and both say what happened
in the payment's books (captured, refunded, being refunded), never a number computed on
the way (a refund of "everything left" of a payment with nothing left asked for 0):

- :func:`too_much`: paycore's own check, before anything is recorded
  (``refunds.begin_refund``).
- :func:`refunded_elsewhere`: the provider refused the refund for what is left (Stripe's
  ``charge_already_refunded``, or a refusal whose ``param`` is ``amount``:
  ``refund_recovery.short_of``), most often because the payment was refunded in the
  provider's dashboard and that refund's webhook is not in. The refund flow has listed the
  payment's refunds and recorded those made outside paycore, as the reconciler's scan
  records them (``refund_recovery.record_outside``), each with its ``external_refund``
  alert. When the books now show that the refund asks for more than is left, the refusal
  is explained: the customer got the money back elsewhere, not nothing. The refund ends
  failed (no money moved for it, its amount is free again) but the shop is told
  ``refund_refused_<refund id>`` (with what is left), not ``refund_failed_<refund id>``,
  no ``refund_failed`` alert asks anyone to refund again, and the caller gets
  :class:`~paycore.errors.RefundExceedsRefundable`, the error paycore's own check would
  have raised had it known of those refunds, saying which refunds took the money.

An automatic refund (an out-of-stock order's) that the outside refunds did not cover in
full is not explained away: paycore decided to return the whole payment, so it fails as
any refund does and is retried for what is left (``refund_failures``). A refusal the books
do not explain (the provider lists no refund paycore does not know, and paycore still
counts enough left) fails as any refund does, with an alert that says to look at the
provider's refunds before refunding anything more.
"""

from __future__ import annotations

from collections.abc import Sequence

from paycore import schema as s
from paycore.errors import RefundExceedsRefundable
from paycore.ports import RefundView
from paycore.records import Payment, Refund
from paycore.unit import Unit


def books(payment: Payment, left: int) -> str:
    """What the payment took and what went back, in its currency's minor units."""
    cur = payment.amount.currency
    text = f"{payment.amount_received} {cur} captured, {payment.amount_refunded} {cur} refunded"
    pending = payment.amount_received - payment.amount_refunded - left
    return f"{text}, {pending} {cur} being refunded" if pending > 0 else text


def too_much(payment: Payment, amount: int | None, left: int) -> str:
    """The message of paycore's own refusal of ``amount`` (None: everything left), with
    ``left`` still refundable."""
    if left < 1:
        return f"payment {payment.id} has nothing left to refund: {books(payment, left)}"
    asked = left if amount is None else amount
    return f"cannot refund {asked} of payment {payment.id}: {left} is still refundable"


def refunded_elsewhere(
    u: Unit, refund: Refund, outside: Sequence[RefundView]
) -> RefundExceedsRefundable | None:
    """``refund`` was refused by the provider for what is left, and has just failed; the
    payment's refunds made outside paycore are recorded (``outside``: those recorded now).
    When the books explain the refusal, tell the shop and return the caller's error; None
    when they do not (see the module's text), and the refund fails as any other."""
    from paycore.flows.refunds import refundable  # refunds imports this module

    payment = u.get(s.PAYMENTS, refund.payment_id)
    assert payment is not None, "a refund always has its payment"
    left, asked = refundable(u, payment), refund.amount.amount
    if asked <= left or (refund.automatic and left > 0):
        return None
    u.notify(
        refund.order_id,
        f"refund_refused_{refund.id}",
        amount=asked,
        refundable=left,
        amount_refunded=payment.amount_refunded,
        refunded_elsewhere=True,
    )
    cur = payment.amount.currency
    rest = (
        f"nothing is left to refund ({books(payment, left)})"
        if left < 1
        else f"only {left} {cur} is left to refund"
    )
    return RefundExceedsRefundable(
        f"refund {refund.id} of {asked} {cur} was not made: payment {payment.id} was "
        f"{_taken_by(u, outside)}, and {rest}",
        payment_id=payment.id,
        requested=asked,
        refundable=left,
        refund_id=refund.id,
    )


def _taken_by(u: Unit, outside: Sequence[RefundView]) -> str:
    """Which refunds took the money: those made outside paycore and recorded now, or
    (none listed) refunds paycore recorded while this one was being asked for."""
    if not outside:
        return "refunded by refunds recorded while this one was being asked for"
    made = []
    for view in outside:
        local = u.find(s.REFUNDS, "provider_refund_id", view.id)
        named = f", recorded now as {local[0].id}" if local else ""
        made.append(f"{view.id}: {view.amount} {view.status}{named}")
    return f"already refunded outside paycore ({'; '.join(made)})"
