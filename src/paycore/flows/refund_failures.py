"""A refund that fails always reaches someone.

Whenever a refund ends without the customer getting the money (the provider
refused it, the bank declined it while pending, or reversed it after it had
succeeded), in the transaction that records it:

- the shop is told (notification ``refund_failed_<refund id>``);
- an alert ``refund_failed`` is raised, subject the refund id;
- the automatic refund of an out-of-stock order, which nobody asked for and so
  nobody would retry, is started again under a new key (``out-of-stock#<n>``),
  up to :data:`AUTO_REFUND_ATTEMPTS` refunds in all; after the last one its alert
  stays open: the customer's money needs a human. A refund refused because the charge
  was charged back (``charge_disputed``) is never retried: the dispute decides the
  money, and its alert says so.

The alerts of a payment are resolved once its money is fully returned.
"""

from __future__ import annotations

from collections.abc import Sequence

from paycore import schema as s
from paycore.flows import refund_landing as landing
from paycore.ports import RefundView
from paycore.records import Payment, Refund
from paycore.status import OrderStatus, RefundStatus
from paycore.unit import Unit

#: How many automatic refunds of one out-of-stock order are tried before a human must act.
AUTO_REFUND_ATTEMPTS = 3
AUTO_KEY = "out-of-stock"


def auto_key(attempt: int) -> str:
    """The idempotency key of the ``attempt``-th automatic refund (1-based)."""
    return AUTO_KEY if attempt == 1 else f"{AUTO_KEY}#{attempt}"


def refund_failed(
    u: Unit,
    refund: Refund,
    *,
    outside: Sequence[RefundView] | None = None,
    disputed: bool = False,
) -> Refund | None:
    """Tell the shop and raise an alert for a refund that failed; retry an automatic one.

    Called in the transaction that moved ``refund`` to failed or canceled. Returns the
    retry it started, if any. ``outside``: the provider refused the refund for what is
    left of the payment, and these refunds made outside paycore took it (recorded now):
    the alert names them, and does not say to refund again. ``disputed``: the provider
    refused it because the charge was charged back: no retry, and the alert says the
    dispute decides the money.
    """
    # Imported here: refunds records refunds and calls this module when one fails.
    from paycore.flows.refunds import open_refund, refundable

    amount = refund.amount.amount
    u.notify(refund.order_id, f"refund_failed_{refund.id}", amount=amount)
    payment = u.get(s.PAYMENTS, refund.payment_id)
    assert payment is not None, "a refund always has its payment"
    retry: Refund | None = None
    attempts = sum(1 for r in u.find(s.REFUNDS, "payment_id", payment.id) if r.automatic)
    order = u.get(s.ORDERS, refund.order_id)
    out_of_stock = order is not None and order.status is OrderStatus.OUT_OF_STOCK
    if refund.automatic and out_of_stock and attempts < AUTO_REFUND_ATTEMPTS and not disputed:
        again = min(amount, refundable(u, payment))
        if again > 0:
            retry = open_refund(
                u,
                payment,
                amount=again,
                reason=refund.reason,
                idempotency_key=auto_key(attempts + 1),
                automatic=True,
                requested_amount=again,
                landing_ms=landing.of_refund(u, refund, payment),
            )
    u.alert(
        "refund_failed",
        refund.id,
        _DISPUTED.format(_what(refund)) if disputed else _message(refund, retry, attempts, outside),
        order_id=refund.order_id,
        payment_id=refund.payment_id,
        refund_id=refund.id,
        amount=amount,
        automatic=refund.automatic,
        **({"disputed": True} if disputed else {}),
    )
    return retry


_DISPUTED = (
    "{}: the provider refused it because the charge is disputed (charge_disputed): the "
    "dispute decides the money, do not refund it while the dispute is open; answer the "
    "dispute in the provider's dashboard (the payment_disputed alert). Once it is decided: "
    "lost, the bank gave the customer the money, close this alert with --force; won, the "
    "shop kept it: refund with create_refund and a new key if it is still owed"
)


def _what(refund: Refund) -> str:
    return (
        f"{'automatic ' if refund.automatic else ''}refund {refund.id} of "
        f"{refund.amount.amount} {refund.amount.currency} for order {refund.order_id} "
        f"(payment {refund.payment_id}) {refund.status.value}"
    )


def _message(
    refund: Refund, retry: Refund | None, attempts: int, outside: Sequence[RefundView] | None
) -> str:
    what = _what(refund)
    if retry is not None:
        return (
            f"{what}; retrying as {retry.id} (attempt {attempts + 1} of "
            f"{AUTO_REFUND_ATTEMPTS}); the alert closes once the money is returned"
        )
    if outside is not None:
        return f"{what}: {_short(outside)}"
    if refund.automatic:
        return (
            f"{what} after {attempts} attempts; the customer's money needs a human: "
            "contact the customer, or refund the payment with create_refund and a new key"
        )
    return (
        f"{what}; the customer has not got this money back: check with the customer and "
        "refund again with create_refund and a new key"
    )


def _short(outside: Sequence[RefundView]) -> str:
    """Why a refund refused for what is left failed, and what not to do about it."""
    said = "the provider refused it because less was left to refund than it asked"
    if not outside:
        return (
            f"{said} (a refund made outside paycore that the provider does not list yet?); "
            "check the payment's refunds at the provider before refunding anything more"
        )
    made = ", ".join(f"{v.id}: {v.amount} {v.status}" for v in outside)
    return (
        f"{said}: refunds made outside paycore took it ({made}), recorded now; check what "
        "the customer got back before refunding anything more"
    )


def money_returned(u: Unit, payment: Payment) -> None:
    """Close the ``refund_failed`` alerts of ``payment`` once everything it took is back."""
    if payment.amount_refunded < payment.amount_received:
        return
    for r in u.find(s.REFUNDS, "payment_id", payment.id):
        if r.status in (RefundStatus.FAILED, RefundStatus.CANCELED):
            u.resolve_alert(
                "refund_failed", r.id, f"payment {payment.id} was refunded in full afterwards"
            )
