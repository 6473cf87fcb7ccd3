"""PaymentService: the operations a service embeds, wired to its adapters.

Every operation runs its flow to completion in the calling thread. It
returns only once its local state is durable (S16); when the provider or the
store fails part-way it raises, and what was recorded is finished or
compensated by :meth:`PaymentService.run_recovery`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from paycore import catalog, job_health, jobs, operations, outbox
from paycore import schema as s
from paycore.config import Config
from paycore.errors import (
    FlowPending,
    PaycoreError,
    error_class,
)
from paycore.flows import checkout, identity, orphans, payments, refunds, webhooks
from paycore.flows.engine import Engine, FlowDef, unexpected
from paycore.money import Money
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
from paycore.records import Alert, Flow, Order, Payment, Product, Refund, Seller
from paycore.status import FlowStatus, PaymentStatus
from paycore.unit import Unit

log = logging.getLogger("paycore.service")

FLOW_DEFS: dict[str, FlowDef] = {
    d.kind: d
    for d in (
        checkout.DEF,
        payments.CONFIRM,
        payments.CANCEL,
        refunds.DEF,
        webhooks.DEF,
        orphans.DEF,
    )
}


@attrs.frozen
class CheckoutResult:
    order_id: str
    payment_id: str
    status: str
    client_secret: str | None = attrs.field(repr=False)
    replayed: bool = False


@attrs.frozen
class PaymentResult:
    payment_id: str
    status: str
    requires_action: bool = False
    next_action_url: str | None = None
    declined: str | None = None


@attrs.frozen
class RefundResult:
    refund_id: str
    payment_id: str
    amount: int
    status: str


@attrs.frozen
class JobReport:
    janitor_started: int = 0
    recovered: int = 0
    still_pending: int = 0
    orphans_started: int = 0
    refunds_synced: int = 0
    notifications_sent: int = 0
    #: The jobs of this round that failed (each failure is recorded; see job_health).
    failed: tuple[str, ...] = ()
    #: Refunds made outside paycore that the scan found and recorded this round.
    external_refunds_recorded: int = 0

    @property
    def ok(self) -> bool:
        """Every job of the round ran to its end."""
        return not self.failed


class PaymentService:
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
        worker_id: str = "worker-1",
        tokens: Tokens | None = None,
    ) -> None:
        self.config = config or Config()
        self.notifier = notifier
        self.engine = Engine(
            store, provider, clock, alerts, self.config, FLOW_DEFS, worker_id, tokens
        )
        self.operator = operations.Operator(self.engine)

    def installation_id(self) -> str:
        """This store's identity at the provider (created on first use): every provider
        object paycore makes carries it, and only objects carrying it are paycore's."""
        return self._tx(identity.installation_id)  # type: ignore[no-any-return]

    # --- catalog ----------------------------------------------------------------------

    def add_seller(
        self, seller_id: str, name: str, provider_account: str, *, charges_enabled: bool = True
    ) -> Seller:
        """Register a seller and the provider account that takes its payments."""
        return self._tx(  # type: ignore[no-any-return]
            lambda u: catalog.add_seller(u, seller_id, name, provider_account, charges_enabled)
        )

    def set_charges_enabled(self, seller_id: str, enabled: bool) -> None:
        self._tx(lambda u: catalog.set_charges_enabled(u, seller_id, enabled))

    def add_product(
        self, product_id: str, seller_id: str, sku: str, name: str, price: Money
    ) -> Product:
        return self._tx(  # type: ignore[no-any-return]
            lambda u: catalog.add_product(u, product_id, seller_id, sku, name, price)
        )

    def delete_product(self, product_id: str) -> None:
        """Soft delete: open orders keep their snapshot of the product (S12)."""
        self._tx(lambda u: catalog.delete_product(u, product_id))

    def set_price(self, product_id: str, price: Money) -> None:
        """Reprice a product: new checkouts pay the new price, open orders keep theirs (S12)."""
        self._tx(lambda u: catalog.set_price(u, product_id, price))

    def restock(self, seller_id: str, sku: str, quantity: int) -> None:
        """Add ``quantity`` units of ``sku`` to ``seller_id``'s shelf.

        Stock belongs to a seller: another seller's units of the same SKU are never
        sold in its place.

        Raises:
            InvalidInput, InvalidQuantity: malformed arguments (nothing changed).
            SellerNotFound, StockItemNotFound: no product of that seller has this SKU
                (nothing changed; add the product first).
        """
        self._tx(lambda u: catalog.restock(u, seller_id, sku, quantity))

    def adjust_stock(self, seller_id: str, sku: str, delta: int, reason: str) -> None:
        """Correct a seller's on-hand count (a count, a breakage); never below held +
        committed. Raises as :meth:`restock` does, and StockBelowReserved."""
        self._tx(lambda u: catalog.adjust_stock(u, seller_id, sku, delta, reason))

    # --- operations -------------------------------------------------------------------

    def create_payment_intent(
        self, checkout_session_id: str, items: Sequence[checkout.CartItem | Mapping[str, Any]]
    ) -> CheckoutResult:
        """Create (or return, for the same cart) the order and payment of a checkout.

        Args:
            checkout_session_id: 16-128 characters, one per checkout; the idempotency key.
            items: ``CartItem(product_id, quantity)`` for products of one seller.

        Raises:
            InvalidInput: malformed session id, empty cart, bad quantity (nothing changed).
            CheckoutError: unknown or deleted product, seller cannot charge, out of
                stock, session reused for another cart or expired (nothing changed).
            ProviderError, FlowPending: the provider failed; recovery finishes or
                compensates the recorded checkout.
        """
        session = checkout.check_session_id(checkout_session_id)
        cart = checkout.normalize_cart(items, self.config)
        owner = self.engine.worker_id

        def body(u: Unit) -> tuple[str, bool]:
            replay = bool(u.find(s.ORDERS, "checkout_session_id", session))
            return checkout.begin(u, self.config, session, cart, owner), replay

        fid, replayed = self._tx(body)
        payment = self._payment_of_flow(self._finish(fid))
        return CheckoutResult(
            payment.order_id, payment.id, payment.status.value, payment.client_secret, replayed
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
        for field, value in (("payment_method", payment_method), ("return_url", return_url)):
            if value is not None:
                catalog.text(field, value)
        fid = self._tx(
            lambda u: payments.begin_confirm(
                u, payment_id, payment_method, return_url, *self._lease(u)
            )
        )
        url = None
        if fid is not None:
            url = (self._finish(fid).result or {}).get("next_action_url")
        self._send_queued()
        return self._payment_result(payment_id, url)

    def cancel_payment(self, payment_id: str) -> PaymentResult:
        """Cancel at the provider first, then release stock and cancel the order (S5).

        Raises:
            PaymentNotFound, PaymentBusy: nothing changed.
            PaymentNotCancelable: it succeeded (refund it) or is processing.
        """
        fid = self._tx(lambda u: payments.begin_cancel(u, payment_id, *self._lease(u)))
        if fid is not None:
            self._finish(fid)
        self._send_queued()
        return self._payment_result(payment_id)

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
            idempotency_key: required, one per refund meant; the same request with the
                same key returns the first refund (retry with it after FlowPending or
                CommitUnknown). Keys starting with "external:" or "out-of-stock" are reserved.
            restock: the goods came back; only on a refund of all that is still
                refundable of a paid order.

        Raises:
            InvalidAmount, InvalidRefundReason, InvalidIdempotencyKey, InvalidInput:
                nothing changed.
            PaymentNotFound, PaymentNotRefundable, RefundExceedsRefundable,
            RestockNotPossible: nothing changed.
            IdempotencyKeyReused: the key was used for another amount, reason or restock.

        Example::

            svc.create_refund(payment_id, None, "requested_by_customer", "rma-1042", restock=True)
        """
        key = refunds.check_refund_args(amount, reason, idempotency_key)
        back = refunds.check_restock(restock)
        refund = self._tx(
            lambda u: refunds.begin_refund(u, payment_id, amount, reason, key, restock=back)
        )
        flow = self.engine.load(f"refund:{refund.id}")
        if flow is not None and flow.status is FlowStatus.ACTIVE:
            self._finish(flow.id)
        self._send_queued()
        refund = self._tx(lambda u: u.get(s.REFUNDS, refund.id))
        return RefundResult(refund.id, refund.payment_id, refund.amount.amount, refund.status.value)

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

        def body(u: Unit) -> tuple[str | None, bool]:
            seen = u.get(s.INBOX, event.id) is not None
            return webhooks.begin_webhook(u, event, *self._lease(u)), seen

        fid, seen = self._tx(body)
        if seen:
            return WebhookOutcome.DUPLICATE
        if fid is None:
            return ignored or WebhookOutcome.DUPLICATE
        return webhooks.outcome_of(self._finish(fid))

    # --- jobs ------------------------------------------------------------------------

    def run_janitor(self) -> int:
        started = jobs.janitor(self.engine)
        for fid in started:
            self._finish_quietly(fid)
        return len(started)

    def run_recovery(self) -> tuple[int, int]:
        """Resume every due flow. Returns (finished, still pending)."""
        done = pending = 0
        for fid in jobs.due_flows(self.engine):
            if self._finish_quietly(fid):
                done += 1
            else:
                pending += 1
        return done, pending

    def run_reconciler(self) -> tuple[int, int]:
        """Returns (orphan flows started, pending refunds synced)."""
        try:
            started, synced = self._reconcile(), jobs.sync_pending_refunds(self.engine)
            jobs.find_external_refunds(self.engine)
            return started, synced
        finally:
            self._send_queued()  # what the syncs queued, so no later request sends it

    def _reconcile(self) -> int:
        started = jobs.reconcile(self.engine)
        for fid in started:
            self._finish_quietly(fid)
        return len(started)

    def dispatch_notifications(self) -> int:
        return jobs.dispatch_outbox(self.engine, self.notifier)

    def run_jobs(self) -> JobReport:
        """One round of every background job, in a sensible order.

        Each job runs on its own: one that fails (the provider is down, say) is
        recorded, alerted after repeated failures and listed in ``failed``, and
        the others still run.
        """
        eng = self.engine
        janitor = job_health.run_job(eng, "janitor", self.run_janitor)
        reconciler = job_health.run_job(eng, "reconciler", self._reconcile)
        synced = job_health.run_job(eng, "refund_sync", lambda: jobs.sync_pending_refunds(eng))
        external = job_health.run_job(
            eng, "external_refunds", lambda: jobs.find_external_refunds(eng)
        )
        recovery = job_health.run_job(eng, "recovery", self.run_recovery)
        outbox_ = job_health.run_job(eng, "outbox", self.dispatch_notifications)
        recovered, pending = recovery.value or (0, 0)
        return JobReport(
            janitor.value or 0,
            recovered,
            pending,
            reconciler.value or 0,
            synced.value or 0,
            outbox_.value or 0,
            failed=tuple(
                o.name
                for o in (janitor, reconciler, synced, external, recovery, outbox_)
                if not o.ok
            ),
            external_refunds_recorded=external.value or 0,
        )

    # --- reads ------------------------------------------------------------------------

    def payment(self, payment_id: str) -> Payment:
        return self._tx(lambda u: payments.load_payment(u, payment_id))  # type: ignore[no-any-return]

    def order(self, order_id: str) -> Order | None:
        """The order, or None if there is none. Raises InvalidInput for a malformed id."""
        oid = catalog.text("order_id", order_id)
        return self._tx(lambda u: u.get(s.ORDERS, oid))  # type: ignore[no-any-return]

    def refunds_of(self, payment_id: str) -> list[Refund]:
        """The payment's refunds. Raises PaymentNotFound for a malformed id."""
        pid = refunds.check_payment_id(payment_id)
        return self._tx(lambda u: u.find(s.REFUNDS, "payment_id", pid))  # type: ignore[no-any-return]

    # --- operators --------------------------------------------------------------------

    def flows(self, state: FlowStatus | str | None = None) -> list[Flow]:
        """Flows in ``state`` ("active", "dead", ...; None for all), oldest first.

        Raises:
            InvalidInput: an unknown state.
        """
        return self.operator.flows(state)

    def flow(self, flow_id: str) -> Flow:
        """One flow. Raises: FlowNotFound."""
        return self.operator.flow(flow_id)

    def revive_flow(self, flow_id: str) -> Flow:
        """Resume a dead flow at its recovery point with a fresh retry budget, and run it.

        Raises:
            FlowNotFound, FlowNotRevivable: nothing changed.
        """
        self.operator.revive(flow_id)
        self._finish_quietly(flow_id)
        return self.flow(flow_id)

    def abandon_flow(self, flow_id: str) -> Flow:
        """Give up a dead or retrying flow: run its compensation (a checkout cancels any
        intent it made, then releases its stock).

        Raises:
            FlowNotFound, FlowNotAbandonable: nothing changed.
        """
        self.operator.abandon(flow_id)
        self._finish_quietly(flow_id)
        return self.flow(flow_id)

    def attention(self) -> list[operations.AttentionItem]:
        """What needs a human: every open alert, and every dead flow."""
        return self.operator.attention()

    def resolve_alert(self, alert_id: str, resolution: str) -> Alert:
        """Close an open alert, saying what was done. Raises: AlertNotFound, InvalidInput."""
        return self.operator.resolve_alert(alert_id, resolution)

    # --- internals --------------------------------------------------------------------

    def _tx(self, fn: Any) -> Any:
        return self.engine.transact(fn)

    def _lease(self, u: Unit) -> tuple[str, int]:
        return self.engine.worker_id, u.now + self.config.lease_ms

    def _finish(self, flow_id: str) -> Flow:
        """Run a flow to its end; raise the business error it ended with, if any."""
        flow = self.engine.load(flow_id)
        assert flow is not None
        try:
            if flow.status is FlowStatus.ACTIVE:
                flow = self.engine.run(flow_id)
        finally:
            self._send_queued()  # what committed is told, however the call ends
        if flow.status is FlowStatus.FAILED:
            raise _error_of(flow)
        if flow.status is FlowStatus.DEAD:
            raise FlowPending(
                f"operation {flow_id} needs an operator: {flow.last_error}", flow_id=flow_id
            )
        return flow

    def _send_queued(self) -> None:
        """Send what this call queued, and nothing else; never fail because of it."""
        queued = self.engine.take_queued()
        if queued:
            outbox.send_own(self.engine, self.notifier, queued)

    def _finish_quietly(self, flow_id: str) -> bool:
        """Run a flow for a job; its failure is the flow's alone, never the job round's."""
        try:
            self._finish(flow_id)
        except PaycoreError:
            return False
        except Exception as exc:  # not paycore's (an adapter's bug): by type, never message
            log.warning("flow %s left for a later round: %s", flow_id, unexpected(exc))
            return False
        return True

    def _payment_of_flow(self, flow: Flow) -> Payment:
        return self.payment(flow.params["payment_id"])

    def _payment_result(self, payment_id: str, next_action_url: str | None = None) -> PaymentResult:
        p = self.payment(payment_id)
        return PaymentResult(
            p.id,
            p.status.value,
            requires_action=p.status is PaymentStatus.REQUIRES_ACTION,
            next_action_url=next_action_url if p.status is PaymentStatus.REQUIRES_ACTION else None,
            declined=p.last_error if p.status is PaymentStatus.OPEN else None,
        )


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
