"""Refunds made outside paycore: the provider's dashboard, a support tool, a script.

Such a refund returns money of one of paycore's payments without paycore's
knowledge. It is a fact at the provider, so paycore records it rather than
disputes it: a :class:`~paycore.records.Refund` with ``external=True``, keyed
``external:<provider refund id>``, whose effects on the payment and the order
are those of any refund (through :func:`paycore.flows.refunds.apply_refund`),
and an ``external_refund`` alert so that someone checks the order (it must not
ship) and the goods. No refund flow is started: the provider already did it.

Two paths find them: the refund's webhook, and :func:`scan_external_refunds`
(run by the reconciler) for refunds whose webhook was lost.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from paycore import batches
from paycore import schema as s
from paycore.config import Config
from paycore.errors import IntegrityError, ProviderError, ProviderNotFound
from paycore.flows.identity import installation_id, refund_is_refunds
from paycore.flows.refunds import apply_refund
from paycore.machines import REFUND
from paycore.ports import REFUND_LIVE, RefundView
from paycore.records import Cursor, Payment, Refund
from paycore.status import PaymentStatus
from paycore.unit import Unit

if TYPE_CHECKING:
    from paycore.flows.engine import Engine

#: Provider refund statuses that hold or returned money: worth recording when first seen.
KEY_PREFIX = "external:"
CURSOR = "external_refunds"


def payment_of(u: Unit, view: RefundView) -> Payment | None:
    """The payment whose provider intent the refund is on; None when it is not ours."""
    found = u.find(s.PAYMENTS, "provider_intent_id", view.intent_id)
    return found[0] if found else None


def known(u: Unit, payment: Payment, view: RefundView) -> Refund | None:
    """The local refund ``view`` is, if paycore made or already recorded it: by the
    provider's id, or by the refund id paycore put in its metadata (its flow may not have
    recorded the provider's answer yet) when the refund carries that refund's identity in
    full: refund ids repeat across restores, so a name alone proves nothing."""
    found = u.find(s.REFUNDS, "provider_refund_id", view.id)
    if found:
        return found[0]
    named = u.get(s.REFUNDS, str(view.metadata.get("refund_id", "")))
    if (
        named is not None
        and named.provider_refund_id is None
        and named.payment_id == payment.id
        and refund_is_refunds(view, named, payment, installation_id(u))
    ):
        return named
    return None


def record_external_refund(u: Unit, payment: Payment, view: RefundView) -> Refund | None:
    """Record a refund of ``payment`` made outside paycore, with its effects and an alert.

    Returns None for a refund first seen already failed or canceled: no money moved.
    """
    if view.status not in REFUND_LIVE:
        return None
    refund = Refund(
        id=f"rf_{u.tx.next_seq('refund'):06d}",
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=type(payment.amount)(view.amount, payment.amount.currency),
        reason=None,
        idempotency_key=f"{KEY_PREFIX}{view.id}",
        created_at=u.now,
        provider_refund_id=view.id,
        external=True,
    )
    u.create(s.REFUNDS, refund, REFUND)
    u.alert(
        "external_refund",
        view.id,
        f"refund {view.id} of {view.amount} on payment {payment.id} (order "
        f"{payment.order_id}) was made outside paycore; it is recorded as {refund.id}: "
        "check that the order does not ship and whether the goods came back",
        refund_id=refund.id,
        provider_refund_id=view.id,
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=view.amount,
    )
    return apply_refund(u, refund, view)


# --- the reconciler's scan --------------------------------------------------------


def scan_external_refunds(engine: Engine) -> int:
    """Record refunds of recent succeeded payments that paycore has not seen.

    Walks the succeeded payments created within ``external_refund_window_ms``, at most
    ``job_batch`` per run, going on from where the last run stopped (a durable cursor),
    and lists each one's refunds at the provider. A provider error ends the run early;
    the next run asks again from there. Returns how many refunds were recorded.
    """
    batch, start = engine.transact(partial(_next_batch, engine.config))
    recorded = 0
    last: str | None = start
    for payment in batch:
        assert payment.provider_intent_id is not None
        try:
            views = engine.provider.list_refunds(payment.provider_intent_id)
        except ProviderNotFound:
            views = []
        except ProviderError:
            break
        for view in views:
            try:
                seen = engine.transact(partial(_record_seen, payment_id=payment.id, view=view))
            except IntegrityError:
                seen = False  # its webhook recorded it at the same moment: once is enough
            recorded += int(seen)
        last = payment.id
    engine.transact(partial(_save_cursor, value=last))
    return recorded


def _next_batch(config: Config, u: Unit) -> tuple[list[Payment], str | None]:
    since = u.now - config.external_refund_window_ms
    rows = [
        p
        for p in u.find(s.PAYMENTS, "status", PaymentStatus.SUCCEEDED)
        if p.created_at >= since and p.provider_intent_id is not None
    ]
    cursor = u.get(s.CURSORS, CURSOR)
    after = cursor.value if cursor is not None else None
    # Wrapping around (batches.following): with no more payments than a batch, every
    # run asks about all of them and the cursor stays put.
    batch = batches.following(rows, key=lambda p: p.id, after=after, limit=config.job_batch)
    return batch, after


def _record_seen(u: Unit, *, payment_id: str, view: RefundView) -> bool:
    payment = u.get(s.PAYMENTS, payment_id)
    if payment is None or known(u, payment, view) is not None:
        return False
    return record_external_refund(u, payment, view) is not None


def _save_cursor(u: Unit, *, value: str | None) -> None:
    current = u.get(s.CURSORS, CURSOR)
    if current is None:
        u.create(s.CURSORS, Cursor(CURSOR, value))
    elif current.value != value:
        u.save(s.CURSORS, current, value=value)
