"""Records the store contract's cases write: an order, a payment, a refund, with only
what a case varies given."""

from __future__ import annotations

from typing import Any

from paycore import records as r
from paycore.money import Money


def order(id: str, session: str | None = None, **kw: Any) -> r.Order:
    return r.Order(
        id=id,
        checkout_session_id=session or f"cs_{id}",
        seller_id="s1",
        lines=(),
        total=Money(1000, "EUR"),
        cart_fingerprint="fp",
        payment_id=f"pay_{id}",
        created_at=1,
        expires_at=2,
        **kw,
    )


def payment(id: str, intent: str | None = None, order_id: str | None = None) -> r.Payment:
    return r.Payment(
        id=id,
        order_id=order_id or f"ord_{id}",
        checkout_session_id=f"cs_{id}",
        seller_account="acct_1",
        amount=Money(1000, "EUR"),
        created_at=1,
        provider_intent_id=intent,
    )


def refund(id: str, payment_id: str, key: str, provider_id: str | None = None) -> r.Refund:
    return r.Refund(
        id=id,
        payment_id=payment_id,
        order_id="o1",
        amount=Money(100, "EUR"),
        reason=None,
        idempotency_key=key,
        created_at=1,
        provider_refund_id=provider_id,
    )
