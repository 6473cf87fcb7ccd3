"""The provider's books as ``paycore check`` reads them from a live provider: a window.

A live account holds every intent the shop ever made (and other systems' too), so the
check reads the intents created within a window (``created[gte]``, Stripe's list
filter: docs.stripe.com/api/payment_intents/list) and every refund of each of them that
took money. The safety invariants that compare the store with the provider are driven
by the provider's objects (each intent and refund read is checked against the store),
so a window checks fewer of them, never reports one that is fine: an intent outside
the window is simply not looked at. The convergence invariants are the other way round
(every local payment and refund is looked up at the provider, and one outside the
window would seem missing): over a window they are not run (:data:`WINDOWED`).
"""

from __future__ import annotations

from paycore import listing
from paycore.invariants import Ledger
from paycore.ports import IntentView, PaymentProvider, RefundView

#: The invariant kinds a window of the provider's books can check without reporting
#: what lies outside it.
WINDOWED = frozenset({"safety"})

#: Intent statuses whose charge may have refunds: money taken, or a bank debit still
#: processing (a refund of it waits on the charge, ``pending_reason`` charge_pending).
_CHARGED = frozenset({"succeeded", "processing"})


def took_money(intent: IntentView) -> bool:
    """Whether the intent has a charge that a refund may name."""
    return intent.status in _CHARGED or intent.amount_received > 0


def window_ledger(
    provider: PaymentProvider, since_ms: int, now_ms: int, *, connect: bool | None
) -> Ledger:
    """Every intent created from ``since_ms`` on, and every refund of those that took
    money, read page by page (one list call per page of intents, one per page of each
    charged intent's refunds), as of ``now_ms``. ``connect``: whether the shop charges
    through Connect (the ledger's ``connect``). Books read twice to confirm what the
    first read showed start at the same moment: a window that slid would leave out what
    the first read held at its start.

    Raises:
        ProviderError: the provider could not be read (its subclasses say how).
    """
    intents = listing.intents_between(provider, listing.seconds_from(since_ms))
    refunds: list[RefundView] = []
    for intent in intents:
        if took_money(intent):
            refunds += listing.all_refunds(provider, intent.id)
    return Ledger(intents, refunds, now_ms, connect=connect)
