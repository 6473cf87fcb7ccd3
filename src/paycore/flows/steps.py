"""The step names of every flow kind, one :class:`enum.StrEnum` per kind.

A stored flow's ``step`` is the member's value, so flows recorded before keep
loading. Each flow module declares what its steps do and where they go
(:class:`paycore.flows.defs.FlowDef`).
"""

from __future__ import annotations

import enum


class CheckoutStep(enum.StrEnum):
    """create_payment_intent, after its first transaction (``checkout.begin``)."""

    CHECK_SELLER = "check_seller"
    CREATE = "create"
    REPLAY = "replay"
    FIND = "find"
    ABORT = "abort"
    CANCEL_FOUND = "cancel_found"
    SYNC_RECORDED = "sync_recorded"


class ConfirmStep(enum.StrEnum):
    """confirm_payment."""

    CALL = "call"
    SYNC = "sync"
    GIVE_UP = "give_up"


class CancelStep(enum.StrEnum):
    """cancel_payment (and the janitor's cancel of an expired checkout)."""

    CALL = "call"
    SYNC = "sync"
    GIVE_UP = "give_up"


class RefundStep(enum.StrEnum):
    """create_refund, and the automatic refund of an out-of-stock order."""

    CALL = "call"
    REPLAY = "replay"
    RESOLVE = "resolve"


class WebhookStep(enum.StrEnum):
    """handle_webhook, after the event was taken into the inbox."""

    FETCH = "fetch"


class OrphanStep(enum.StrEnum):
    """An intent no payment owns: canceled or refunded (started by the reconciler)."""

    LOOK = "look"
    CANCEL = "cancel"
    REFUND = "refund"


class PaymentSyncStep(enum.StrEnum):
    """A job: ask the provider about each payment of a batch (processing, or found stale)."""

    ASK = "ask"


class RefundSyncStep(enum.StrEnum):
    """A job: ask the provider about each refund of a batch (pending, or recently succeeded)."""

    ASK = "ask"


class ReconcileStep(enum.StrEnum):
    """A job: walk the provider's recent intents a page at a time (the reconciler, T3),
    then its recent disputes."""

    LIST = "list"
    DISPUTES = "disputes"


class ReopenStep(enum.StrEnum):
    """A job: ask about each orphan case waiting for the bank; reopen the settled ones."""

    ASK = "ask"


class ExternalRefundsStep(enum.StrEnum):
    """A job: list the refunds of each recent succeeded payment, recording unknown ones."""

    LIST = "list"
