"""The invariants: named, documented, pure checks over the store and the provider's ledger.

Each invariant has a stable id, a one-sentence statement, and a kind:

- ``safety``: must hold after every step, whatever the interleaving, faults or crashes;
- ``convergence``: must hold once the system is quiet (faults off, webhooks
  delivered, jobs run to a fixpoint).

Each check takes a :class:`paycore.ports.SnapshotView` of the store and a
:class:`Ledger` of the provider and returns its violations (empty when it
holds). ``docs/invariants.md`` is generated from :data:`INVARIANTS`.

The checks are grouped by subject, one module each; importing this package registers
them all, in the order of the modules below:

- :mod:`~paycore.invariants.stock`: stock conserved, never oversold, held for live payments;
- :mod:`~paycore.invariants.orders_payments`: orders, sessions, payments and their intents;
- :mod:`~paycore.invariants.money_destination`: the account each charge pays;
- :mod:`~paycore.invariants.refunds`: refunds within captures, recorded, covering decisions;
- :mod:`~paycore.invariants.audit`: legal transitions, a replayable log, effects once;
- :mod:`~paycore.invariants.convergence`: what holds once the system is quiet.

:mod:`~paycore.invariants.registry` holds the records and :func:`check`; how to add an
invariant is in ``docs/design-notes.md``.
"""

from __future__ import annotations

from paycore.invariants.registry import (
    INVARIANTS,
    BooksUnavailable,
    Breach,
    Check,
    Finds,
    Invariant,
    Kind,
    Ledger,
    Violation,
    check,
    invariant,
)

# Importing a subject module registers its checks; this order is the catalog's, and so
# the order of check()'s violations and of docs/invariants.md.
# isort: off
from paycore.invariants import (
    stock,
    orders_payments,
    money_destination,
    refunds,
    audit,
    convergence,
)

# isort: on
from paycore.invariants.audit import (
    audit_replays,
    effects_once,
    legal_transitions,
)
from paycore.invariants.convergence import (
    flows_finished,
    no_orphaned_intent,
    no_stale_hold,
    notifications_delivered,
    statuses_agree,
)
from paycore.invariants.money_destination import (
    charge_pays_the_seller,
    payment_records_seller_account,
)
from paycore.invariants.orders_payments import (
    WINDOW_MARGIN_MS,
    amount_matches_order,
    amount_received_within_amount,
    closed_order_not_chargeable,
    foreign_left_alone,
    intent_amount_matches_payment,
    intent_currency_matches_order,
    intent_is_the_payments,
    no_double_charge,
    no_orphaned_charge,
    one_currency_per_order,
    one_live_intent,
    one_order_per_session,
    order_matches_payment,
    payment_has_its_order,
    recorded_intent_exists,
    sessions_never_share,
    success_is_durable,
)
from paycore.invariants.refunds import (
    decided_refunds_covered,
    local_refunds_within_captured,
    one_provider_refund_per_refund,
    provider_refunds_within_captured,
    refund_books_kept,
    refunds_recorded,
)
from paycore.invariants.stock import (
    hold_tied_to_payment,
    no_oversell,
    stock_belongs_to_seller,
    stock_conserved,
    stock_kept_for_live_payment,
)

__all__ = [
    "INVARIANTS",
    "WINDOW_MARGIN_MS",
    "BooksUnavailable",
    "Breach",
    "Check",
    "Finds",
    "Invariant",
    "Kind",
    "Ledger",
    "Violation",
    "amount_matches_order",
    "amount_received_within_amount",
    "audit",
    "audit_replays",
    "charge_pays_the_seller",
    "check",
    "closed_order_not_chargeable",
    "convergence",
    "decided_refunds_covered",
    "effects_once",
    "flows_finished",
    "foreign_left_alone",
    "hold_tied_to_payment",
    "intent_amount_matches_payment",
    "intent_currency_matches_order",
    "intent_is_the_payments",
    "invariant",
    "legal_transitions",
    "local_refunds_within_captured",
    "money_destination",
    "no_double_charge",
    "no_orphaned_charge",
    "no_orphaned_intent",
    "no_oversell",
    "no_stale_hold",
    "notifications_delivered",
    "one_currency_per_order",
    "one_live_intent",
    "one_order_per_session",
    "one_provider_refund_per_refund",
    "order_matches_payment",
    "orders_payments",
    "payment_has_its_order",
    "payment_records_seller_account",
    "provider_refunds_within_captured",
    "recorded_intent_exists",
    "refund_books_kept",
    "refunds",
    "refunds_recorded",
    "sessions_never_share",
    "statuses_agree",
    "stock",
    "stock_belongs_to_seller",
    "stock_conserved",
    "stock_kept_for_live_payment",
    "success_is_durable",
]
