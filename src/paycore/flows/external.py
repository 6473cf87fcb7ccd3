"""Refunds made outside paycore: the provider's dashboard, a support tool, a script.

Such a refund returns money of one of paycore's payments without paycore's
knowledge. It is a fact at the provider, so paycore records it rather than
disputes it: a :class:`~paycore.records.Refund` with ``external=True``, keyed
``external:<provider refund id>``, whose effects on the payment and the order
are those of any refund (through :func:`paycore.flows.refunds.apply_refund`),
and an ``external_refund`` alert so that someone checks the order (it must not
ship) and the goods. No refund flow is started: the provider already did it. A refund
of a destination charge that took no transfer back (``RefundView.transfer_reversed``
False: the seller kept the amount) raises ``seller_kept_refund`` as well.

One such refund is paycore's own after all: a second provider refund of one of its
refunds (the refund's request went unanswered, was sent again under a new key once the
landing window passed, and the first landed later still). It carries that refund's
identity in full while the refund holds another provider id (:func:`made_twice`). It is
recorded the same way (the money went back), under a ``refund_made_twice`` alert
that names both provider refunds.

Two paths find them: the refund's webhook, and the ``external_refunds`` job flow
(:data:`SCAN`, run with the reconciler) for refunds whose webhook was lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paycore import claims, listing
from paycore import schema as s
from paycore.config import Config
from paycore.errors import ProviderError, ProviderInvalidRequest, ProviderNotFound
from paycore.flows.identity import installation_id, refund_is_refunds
from paycore.flows.jobflow import BatchJob, save_cursor
from paycore.flows.refunds import apply_refund
from paycore.flows.steps import ExternalRefundsStep
from paycore.machines import REFUND
from paycore.ports import REFUND_LIVE, PaymentProvider, RefundView
from paycore.records import Flow, Payment, Refund
from paycore.status import PaymentStatus
from paycore.unit import Unit

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
    named = _named(u, payment, view)
    return named if named is not None and named.provider_refund_id is None else None


def _named(u: Unit, payment: Payment, view: RefundView) -> Refund | None:
    """The local refund of ``payment`` that ``view`` carries the full identity of (this
    installation, its reference and id, its amount), whatever provider id it holds."""
    named = u.get(s.REFUNDS, str(view.metadata.get("refund_id", "")))
    if (
        named is not None
        and named.payment_id == payment.id
        and refund_is_refunds(view, named, payment, installation_id(u))
    ):
        return named
    return None


def made_twice(u: Unit, payment: Payment, view: RefundView) -> Refund | None:
    """The refund of paycore's that ``view`` is a second provider refund of: ``view``
    carries its full identity, and it already holds another provider id (a request that
    went unanswered landed after the refund was sent again under a new key)."""
    named = _named(u, payment, view)
    if named is None or named.provider_refund_id in (None, view.id):
        return None
    return named


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
    if view.transfer_reversed is False:
        _alert_seller_kept(u, payment, view, refund)
    twin = made_twice(u, payment, view)
    if twin is not None:
        _alert_made_twice(u, payment, view, twin, refund)
        return apply_refund(u, refund, view)
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


def _alert_seller_kept(u: Unit, payment: Payment, view: RefundView, recorded: Refund) -> None:
    """The refund ``view`` of a destination charge took no transfer back
    (``RefundView.transfer_reversed`` False: sent without ``reverse_transfer=true``,
    Stripe's default outside paycore, docs.stripe.com/connect/destination-charges, "Issue
    refunds"): the platform's balance paid the customer and the seller kept the amount.
    paycore's own refunds always reverse it; this one needs a person."""
    amount, currency = view.amount, payment.amount.currency
    u.alert(
        "seller_kept_refund",
        view.id,
        f"refund {view.id} of {amount} {currency} on payment {payment.id} (order "
        f"{payment.order_id}) was made outside paycore without reversing the seller's "
        f"transfer: seller account {payment.seller_account} kept {amount} {currency} and "
        "the platform's balance paid the customer. Reverse the transfer by that amount "
        "(the payment's transfer in the provider's dashboard, or POST "
        "/v1/transfers/<transfer>/reversals) or recover it from the seller, then resolve "
        "this alert",
        refund_id=recorded.id,
        provider_refund_id=view.id,
        payment_id=payment.id,
        order_id=payment.order_id,
        seller_account=payment.seller_account,
        amount=amount,
        currency=currency,
    )


def _alert_made_twice(
    u: Unit, payment: Payment, view: RefundView, twin: Refund, recorded: Refund
) -> None:
    """paycore's own refund ``twin`` was made a second time, as ``view``: the money went
    back twice. Recorded (as ``recorded``) like a refund made outside paycore, so that the
    books add up; the alert says what happened."""
    u.alert(
        "refund_made_twice",
        view.id,
        f"refund {twin.id} of {twin.amount.amount} {twin.amount.currency} on payment "
        f"{payment.id} (order {payment.order_id}) was made twice at the provider: as "
        f"{twin.provider_refund_id} and as {view.id}, a request of it that went unanswered "
        f"and landed after it was sent again; the customer got {view.amount} more back "
        f"than asked. {view.id} is recorded as {recorded.id}. Settle the difference with "
        "the customer; if the provider lands requests this late, raise "
        "Config.create_landing_ms",
        refund_id=twin.id,
        provider_refund_id=view.id,
        also_made_as=twin.provider_refund_id,
        recorded_as=recorded.id,
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=view.amount,
    )


# --- the reconciler's scan --------------------------------------------------------


def start_scan(u: Unit, config: Config, **lease: Any) -> str | None:
    """Start a run of the scan: the succeeded payments created within
    ``external_refund_window_ms``, at most ``job_batch`` going on from where the last
    run stopped (a durable cursor). None: no payment to ask about."""
    batch, start = _next_batch(config, u)
    return SCAN.start(u, [p.id for p in batch], {"last": start}, **lease)


def _next_batch(config: Config, u: Unit) -> tuple[list[Payment], str | None]:
    """At most ``job_batch`` payments of the window in key order after the cursor,
    wrapping around (:func:`paycore.claims.following`): read a batch at a time, never
    the whole window. The cursor moves when the run ends (``_save``), to the last
    payment it asked about."""
    since = u.now - config.external_refund_window_ms
    cursor = u.get(s.CURSORS, CURSOR)
    after = cursor.value if cursor is not None else None

    def read(past: str, n: int) -> list[Payment]:
        succeeded = PaymentStatus.SUCCEEDED
        return u.find_since(
            s.PAYMENTS, "status", succeeded, "created_at", since, after=past, limit=n
        )

    rows = claims.following(read, key=lambda p: p.id, after=after or "", limit=config.job_batch)
    # With no more payments than a batch, every run asks about all of them and the
    # cursor stays put.
    return [p for p in rows if p.provider_intent_id is not None], after


def _intent_of(u: Unit, payment_id: str) -> Mapping[str, Any] | None:
    payment = u.get(s.PAYMENTS, payment_id)
    if payment is None or payment.provider_intent_id is None:
        return None
    return {"intent": payment.provider_intent_id}


def _list(p: PaymentProvider, item: Mapping[str, Any]) -> list[RefundView]:
    return listing.all_refunds(p, item["intent"])


def _record_seen(
    u: Unit, flow: Flow, item: Mapping[str, Any], views: list[RefundView]
) -> list[str]:
    """Record each refund of the payment that paycore has not seen."""
    payment = u.get(s.PAYMENTS, item["key"])
    recorded: list[str] = []
    for view in views:
        if payment is None or known(u, payment, view) is not None:
            continue
        refund = record_external_refund(u, payment, view)
        if refund is not None:
            recorded.append(refund.id)
            payment = u.get(s.PAYMENTS, item["key"])
    return recorded


def _on_error(err: ProviderError) -> bool:
    """An intent the provider does not know has no refunds; any other error ends the
    run there (the next run asks again from that payment, and passes it over if it fails
    again: :class:`~paycore.flows.jobflow.BatchJob` never stops on a run's first call)."""
    if isinstance(err, ProviderNotFound):
        return True
    # Stripe names the unknown intent of a list's filter as a parameter (400
    # ``resource_missing``, ``param`` ``payment_intent``): no refunds either.
    fields = err.fields
    return (
        isinstance(err, ProviderInvalidRequest)
        and fields.get("error_code") == "resource_missing"
        and fields.get("param") == "payment_intent"
    )


def _save(u: Unit, flow: Flow, data: Mapping[str, Any]) -> None:
    save_cursor(u, CURSOR, data.get("last"))


#: The reconciler's scan for refunds whose webhook was lost: every page of ``list_refunds`` per
#: payment, each payment's unknown refunds recorded in one transaction.
SCAN: BatchJob[list[RefundView]] = BatchJob(
    "external_refunds",
    ExternalRefundsStep.LIST,
    "list_refunds",
    _list,
    _record_seen,
    _intent_of,
    on_error=_on_error,
    finish=_save,
)
