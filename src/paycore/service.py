"""PaymentService: the operations a service embeds, wired to its adapters.

Every operation runs its flow to completion in the calling thread. It
returns only once its local state is durable (S16); when the provider or the
store fails part-way it raises, and what was recorded is finished or
compensated by :meth:`PaymentService.run_recovery`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, TypeVar, overload

from paycore import catalog, jobs, operations, wiring
from paycore import schema as s
from paycore.config import Config
from paycore.errors import (
    FlowPending,
    PaycoreError,
    error_class,
)
from paycore.flows import checkout, orphans, payments, refunds, webhooks
from paycore.flows.engine import Engine, FlowDef, current_flow
from paycore.flows.refund_landing import refund_flow_id
from paycore.outcomes import WebhookOutcome
from paycore.ports import (
    Alerts,
    Clock,
    Notifier,
    PaymentProvider,
    ProviderEvent,
    Store,
    Tokens,
)
from paycore.records import Flow, Payment, Refund
from paycore.results import CheckoutResult, JobReport, PaymentResult, RefundResult
from paycore.service_admin import AdminMethods
from paycore.status import FlowStatus, PaymentStatus
from paycore.unit import Unit
from paycore.workers import instance_id

log = logging.getLogger(__name__)
T = TypeVar("T")
#: A cart line as callers give it: a ``CartItem``, or a mapping of its fields.
CartLike = checkout.CartItem | Mapping[str, Any]


FLOW_DEFS: dict[str, FlowDef] = {
    d.kind: d
    for d in (
        checkout.DEF,
        payments.CONFIRM,
        payments.CANCEL,
        refunds.DEF,
        webhooks.DEF,
        orphans.DEF,
        *jobs.JOB_DEFS,
    )
}


class PaymentService(AdminMethods):
    """Checkout payments over a store and a provider.

    Example::

        svc = PaymentService(store, provider, clock, alerts, notifier)
        res = svc.create_payment_intent("cs_0123456789abcdef", [CartItem("p1", 2)])
        svc.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    """

    def __init__(
        self,
        store: Store,
        provider: PaymentProvider,
        clock: Clock,
        alerts: Alerts,
        notifier: Notifier,
        config: Config | None = None,
        worker_id: str | None = None,
        tokens: Tokens | None = None,
    ) -> None:
        wiring.check_service(store, provider, clock, alerts, notifier, config, worker_id, tokens)
        self.config = config or Config()
        self.notifier = notifier
        worker = worker_id or instance_id()  # unshared: another's leases are not its own
        self.engine = Engine(store, provider, clock, alerts, self.config, FLOW_DEFS, worker, tokens)
        self.operator = operations.Operator(self.engine)

    # --- operations -------------------------------------------------------------------

    def start_checkout(
        self, checkout_session_id: str, items: Sequence[CartLike], *, chain: bool = False
    ) -> str:
        """Record a checkout, unrun (:meth:`run_flow` or recovery runs it): its flow id.
        Raises as :meth:`create_payment_intent`; ``chain``: see ``checkout.begin``."""
        return self._start_checkout(checkout_session_id, items, catalog.flag("chain", chain))[0].id

    def _start_checkout(
        self, checkout_session_id: str, items: Sequence[CartLike], chain: bool
    ) -> tuple[Flow, bool]:
        session = checkout.check_session_id(checkout_session_id)
        cart = checkout.normalize_cart(items, self.config)
        owner = self.engine.worker_id

        def body(u: Unit) -> tuple[Flow, bool]:
            flow_id, replay = checkout.begin(u, self.config, session, cart, owner, chain=chain)
            return _flow(u, flow_id), replay

        return self._tx(body)

    def create_payment_intent(
        self, checkout_session_id: str, items: Sequence[CartLike]
    ) -> CheckoutResult:
        """Create (or return, for the same cart) the order and payment of a checkout.

        Args:
            checkout_session_id: 16-128 characters, one per checkout; the idempotency key.
            items: ``CartItem(product_id, quantity)`` for products of one seller.

        Raises:
            InvalidInput: malformed session id, empty cart, bad quantity (nothing changed).
            CheckoutError: unknown or deleted product, seller cannot charge, out of
                stock, session reused for another cart or expired (nothing changed).
            ProviderError, FlowPending: the provider failed, or another request runs this
                session's checkout now; recovery finishes or compensates it.
        """
        flow, replayed = self._start_checkout(checkout_session_id, items, True)
        done, reply = self._finish_replying(flow.id, checkout.run_again(flow) if replayed else flow)
        payment = reply if isinstance(reply, Payment) else self.payment(done.params["payment_id"])
        return CheckoutResult(
            payment.order_id, payment.id, payment.status._value_, payment.client_secret, replayed
        )

    def start_confirm(
        self, payment_id: str, payment_method: str | None = None, return_url: str | None = None
    ) -> str | None:
        """Claim the payment for a confirmation and return the flow id (None when it
        already succeeded). Raises as :meth:`confirm_payment` does."""
        flow = self._start_confirm(payment_id, payment_method, return_url)
        return None if flow is None else flow.id

    def _start_confirm(
        self, payment_id: str, payment_method: str | None, return_url: str | None
    ) -> Flow | None:
        for field, value in (("payment_method", payment_method), ("return_url", return_url)):
            if value is not None:
                catalog.text(field, value)
        return self._tx(
            lambda u: _flow(
                u,
                payments.begin_confirm(u, payment_id, payment_method, return_url, *self._lease(u)),
            )
        )

    def confirm_payment(
        self,
        payment_id: str,
        payment_method: str | None = None,
        return_url: str | None = None,
    ) -> PaymentResult:
        """Confirm a payment at the provider; on success the order is paid at once (S17).

        Raises:
            PaymentNotFound, PaymentNotConfirmable, PaymentBusy: nothing changed.
            FlowPending: the provider's answer is unknown yet; recovery will sync it.
        """
        flow = self._start_confirm(payment_id, payment_method, return_url)
        url, reply = None, None
        if flow is not None:
            done, reply = self._finish_replying(flow.id, flow)
            url = (done.result or {}).get("next_action_url")
        self._send_queued()
        return self._payment_result(payment_id, url, reply)

    def start_cancel(self, payment_id: str) -> str | None:
        """Claim the payment for cancellation and return the flow id (None when there is
        nothing left to cancel). Raises as :meth:`cancel_payment` does."""
        flow = self._start_cancel(payment_id)
        return None if flow is None else flow.id

    def _start_cancel(self, payment_id: str) -> Flow | None:
        return self._tx(lambda u: _flow(u, payments.begin_cancel(u, payment_id, *self._lease(u))))

    def cancel_payment(self, payment_id: str) -> PaymentResult:
        """Cancel at the provider first, then release stock and cancel the order (S5).

        Raises:
            PaymentNotFound, PaymentBusy: nothing changed.
            PaymentNotCancelable: it succeeded (refund it) or is processing.
        """
        flow = self._start_cancel(payment_id)
        reply = None
        if flow is not None:
            reply = self._finish_replying(flow.id, flow)[1]
        self._send_queued()
        return self._payment_result(payment_id, None, reply)

    def start_refund(
        self,
        payment_id: str,
        amount: int | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
        *,
        restock: bool = False,
    ) -> str:
        """Record a refund (or find the one this key made) and return its flow id.
        Raises as :meth:`create_refund` does."""
        return refund_flow_id(
            self._start_refund(payment_id, amount, reason, idempotency_key, restock)
        )

    def _start_refund(
        self,
        payment_id: str,
        amount: int | None,
        reason: str | None,
        idempotency_key: str | None,
        restock: bool,
    ) -> Refund:
        key = refunds.check_refund_args(amount, reason, idempotency_key)
        flag, landing = catalog.flag("restock", restock), self.config.create_landing_ms
        begin = partial(refunds.begin_refund, restock=flag, landing_ms=landing)
        return self._tx(lambda u: begin(u, payment_id, amount, reason, key, lease=self._lease(u)))

    def create_refund(
        self,
        payment_id: str,
        amount: int | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
        *,
        restock: bool = False,
    ) -> RefundResult:
        """Refund part or all of what is still refundable (S6, S13).

        A refund never puts goods back on sale by itself: the money may go back for
        goods the customer keeps (damaged, never arrived). Pass ``restock=True`` when
        the goods came back; the order's committed stock returns to the shelf once
        the order is refunded in full.

        Args:
            amount: minor units; None refunds everything still refundable.
            reason: "duplicate", "fraudulent", "requested_by_customer" or None.
            idempotency_key: required, one per refund meant; the same request under it returns
                the first refund, even failed (retry after FlowPending or CommitUnknown). A key
                the provider refused a refund under is spent: a new amount needs a new key.
                Keys starting with "external:" or "out-of-stock" are reserved.
            restock: the goods came back; only with a refund of all that is left of a paid order.

        Raises:
            InvalidAmount, InvalidRefundReason, InvalidIdempotencyKey, InvalidInput,
                PaymentNotFound, PaymentNotRefundable, RestockNotPossible: nothing changed.
            RefundExceedsRefundable: too much, nothing recorded (the key is free); or, with
                ``refund_id``, the provider refused it as refunded elsewhere (the key is spent).
            IdempotencyKeyReused: the key was used for another amount, reason or restock.
            ProviderError, FlowPending: the provider refused the refund (recorded as
                failed, with a refund_failed alert) or did not answer (recovery goes on).

        Example::

            svc.create_refund(payment_id, None, "requested_by_customer", "rma-1042", restock=True)
        """
        started = self._start_refund(payment_id, amount, reason, idempotency_key, restock)
        flow = self.engine.load(refund_flow_id(started))
        if flow is not None and flow.status is FlowStatus.ACTIVE:
            self._finish(flow.id)
        self._send_queued()
        refund = self._tx(lambda u: u.get(s.REFUNDS, started.id)) or started
        return RefundResult(refund.id, refund.payment_id, refund.amount.amount, refund.status.value)

    def start_webhook(self, event: ProviderEvent) -> str | None:
        """Take one verified event into the inbox and return its flow id; None for a
        duplicate, an event paycore cannot use, or one about a payment that is already
        final (nothing to ask the provider). Raises as :meth:`handle_webhook` does."""
        webhooks.screen(event)  # before its id is looked up: the same refusal on every store
        flow = self._start_webhook(event)[0]
        return None if flow is None else flow.id

    def _start_webhook(self, event: ProviderEvent) -> tuple[Flow | None, bool]:
        def body(u: Unit) -> tuple[Flow | None, bool]:
            seen = u.get(s.INBOX, event.id) is not None
            return _flow(u, webhooks.begin_webhook(u, event, *self._lease(u))), seen

        return self._tx(body)

    def handle_webhook(self, event: ProviderEvent) -> WebhookOutcome:
        """Take one verified provider event; every outcome it returns is an acknowledgement.

        Args:
            event: a :class:`ProviderEvent` from a verified payload (``signing.receive``).

        Returns:
            ``processed``, ``duplicate``, or ``ignored:<reason>`` for an event paycore
            cannot use (a kind it does not handle, no object id, an object the provider
            does not know, or one that is not this store's): answer 2xx so the provider
            stops redelivering it. A ``WebhookOutcome`` is a ``str``.

        Raises:
            InvalidInput: not a verified event with an id (nothing recorded).
            FlowPending: the provider did not answer; the event is recorded and recovery
                finishes it (answering 2xx is safe, and so is a redelivery).

        Example::

            outcome = svc.handle_webhook(signing.receive(body, header, secret, now_s))
        """
        ignored = webhooks.screen(event)
        flow, seen = self._start_webhook(event)
        if seen:
            return WebhookOutcome.DUPLICATE
        if flow is None:  # of no use, about a payment already final, or a dispute
            return ignored or webhooks.flowless_outcome(event, self._tx)
        return webhooks.outcome_of(self._finish(flow.id, flow))

    def run_flow(self, flow_id: str) -> Flow:
        """Run a started operation to its end and return its flow.

        Raises:
            PaycoreError: the business error the operation ended with.
            FlowPending: it must wait for a retry (recovery finishes it) or an operator.
            FlowNotFound: no flow has this id (a malformed one included), as :meth:`flow`.
        """
        self.operator.flow(flow_id)  # no flow, no run: nothing locked, struck or stepped
        return self._finish(flow_id)

    # --- internals --------------------------------------------------------------------

    def _lease(self, u: Unit) -> tuple[str, int]:
        return self.engine.worker_id, u.now + self.config.lease_ms

    def _finish(self, flow_id: str, known: Flow | None = None) -> Flow:
        """Run a flow to its end; raise the business error it ended with, if any."""
        return self._finish_replying(flow_id, known)[0]

    def _finish_replying(self, flow_id: str, known: Flow | None = None) -> tuple[Flow, object]:
        """:meth:`_finish` (``known``: the flow as its starting transaction left it), and
        what the step that ended it handed back (the record an answer is made of)."""
        try:
            # A finished flow is returned as it is, with nothing handed back.
            flow, reply = self.engine.run_replying(flow_id, known)
        finally:
            self._send_queued()  # what committed is told, however the call ends
        if flow.status is FlowStatus.FAILED:
            raise _error_of(flow)
        if flow.status is FlowStatus.DEAD:
            raise FlowPending(
                f"operation {flow_id} needs an operator: {flow.last_error}", flow_id=flow_id
            )
        return flow, reply

    def _payment_result(
        self, payment_id: str, next_action_url: str | None = None, known: object = None
    ) -> PaymentResult:
        """The answer about a payment: ``known`` when a flow handed it back, else read."""
        p = known if isinstance(known, Payment) and known.id == payment_id else None
        if p is None:
            p = self.payment(payment_id)
        return PaymentResult(
            p.id,
            p.status._value_,  # ``.value`` without its descriptor (hot)
            requires_action=p.status is PaymentStatus.REQUIRES_ACTION,
            next_action_url=next_action_url if p.status is PaymentStatus.REQUIRES_ACTION else None,
            declined=p.last_error if p.status is PaymentStatus.OPEN else None,
        )


@overload
def _flow(u: Unit, flow_id: str) -> Flow: ...
@overload
def _flow(u: Unit, flow_id: None) -> None: ...
@overload
def _flow(u: Unit, flow_id: str | None) -> Flow | None: ...
def _flow(u: Unit, flow_id: str | None) -> Flow | None:
    """The flow an operation's first transaction started, as that transaction left it: its
    run starts from it without a read of its own."""
    if flow_id is None:
        return None
    flow = current_flow(u, flow_id)
    assert flow is not None, "an operation's first transaction records its flow"
    return flow


def _error_of(flow: Flow) -> PaycoreError:
    result = dict(flow.result or {})
    code = result.pop("error", "flow_error")
    message = result.pop("message", f"operation {flow.id} failed")
    return error_class(code)(message, flow_id=flow.id, **result)


__all__ = [
    "CheckoutResult",
    "JobReport",
    "PaymentResult",
    "PaymentService",
    "RefundResult",
]
