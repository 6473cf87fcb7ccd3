"""The world outside paycore: the merchant, the customer, the bank and webhooks.

Each method is one action of :class:`~paycore_adapters.harness.world.World` that does
not go through a flow: the shop changes its catalog or refunds in the provider's
dashboard, the customer acts in the browser, the bank settles or fails a refund, the
provider's webhooks are delivered (reordered, duplicated, forged or stale).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from paycore import schema as s
from paycore.errors import OperationalError, PaycoreError, WebhookSignatureInvalid
from paycore.money import Money
from paycore.ports import IntentView

from .. import signing
from . import foreign
from .faults import FaultKind
from .world_core import BANK_OPS, METHODS, SECRET, Answer, Delivery, WorldCore


class WorldOutside(WorldCore):
    """The merchant, the customer, the bank and the provider's webhooks."""

    # --- the merchant --------------------------------------------------------------------

    def merchant(self, action: int) -> None:
        """The shop changes things under running flows: sellers, products, stock; or
        (``action`` 8 to 15) someone refunds a payment in the provider's dashboard."""
        if action % 16 >= 8:
            self.dashboard_refund(action % 8)
            return
        svc, p = self.w.service, self.w.provider
        name, fn = [
            # each loss is the next of the account's blocked states (fake_accounts)
            ("seller loses charges at the provider", lambda: p.block_next("acct_1")),
            ("seller regains charges at the provider", lambda: p.set_account("acct_1").id),
            ("seller disabled locally", lambda: svc.set_charges_enabled("s1", False)),
            ("seller enabled locally", lambda: svc.set_charges_enabled("s1", True)),
            ("scarce product deleted", lambda: svc.delete_product("p_scarce")),
            ("one scarce unit restocked", lambda: svc.restock("s1", "SKU-S", 1)),
            ("one scarce unit written off", lambda: svc.adjust_stock("s1", "SKU-S", -1, "broken")),
            ("scarce product repriced", lambda: svc.set_price("p_scarce", self._new_price())),
        ][action % 8]
        self.count("merchant")
        self._try(f"merchant: {name}", fn)

    def dashboard_refund(self, code: int) -> None:
        """A refund made outside paycore: all or half of what is left of one of the
        payments the provider holds as succeeded (bit 0), its webhook delivered or lost
        (bit 1: only the reconciler's scan can find it then), of the first or a later
        such payment (bit 2)."""
        whole, lost, pick = code & 1, code >> 1 & 1, code >> 2
        paid = {i.id for i in self.w.provider.intents() if i.status == "succeeded"}
        intents = [
            p.provider_intent_id
            for p in self.view().rows(s.PAYMENTS)
            if p.provider_intent_id in paid
        ]
        if not intents:
            return
        iid = intents[pick % len(intents)]
        self.pull_webhooks()  # what was sent before is delivered as usual
        n = self.counts.get("dashboard_refunds", 0)
        try:
            view = foreign.dashboard_refund(self.w.provider, iid, whole=bool(whole), n=n)
        except PaycoreError as exc:  # e.g. lock_timeout: paycore's own request is in flight
            self.say(f"dashboard: refund on {iid} refused -> {exc.code}")
            return
        if view is None:
            return
        self.count("dashboard_refunds")
        if lost:
            self.w.provider.take_events()
        how = "its webhook lost" if lost else "its webhook sent"
        self.say(f"dashboard: refund {view.id} of {view.amount} on {iid}, {how}")

    def _new_price(self) -> Money:
        now = self.view().get(s.PRODUCTS, "p_scarce")
        return Money(1500 if now is None or now.price.amount == 1000 else 1000, "EUR")

    # --- the customer, at the provider -------------------------------------------------

    def customer(self, payment_no: int, action: int) -> None:
        """The customer acts in the browser: finishes 3-D Secure, or a payment settles;
        or (action 4) the bank fails the payment's latest refund. Before the shop has a
        payment, someone else's customer acts instead (:meth:`others_customer`)."""
        pid = self.payment_id(payment_no)
        if pid is None:  # no payment of the shop yet: someone else's customer acts
            self.others_customer(payment_no, action)
            return
        payment = self.view().get(s.PAYMENTS, pid)
        if payment is None or payment.provider_intent_id is None:
            return
        iid = payment.provider_intent_id
        p = self.w.provider
        if action >= 4:
            self._bank_or_retry(pid, iid, action - 4)
            return
        ok = action % 2 == 0
        name = ("complete 3-D Secure", "settle")[action // 2 % 2]
        fn = p.complete_action if name.startswith("complete") else p.settle
        self._try(
            f"customer: {name} {iid} ({'ok' if ok else 'fail'})", lambda: fn(iid, success=ok).status
        )

    def others_customer(self, which: int, action: int) -> None:
        """Someone acts on an intent planted for others (:attr:`foreign`): a customer pays
        an unpaid one (a card that works, is declined or asks for 3-D Secure), finishes or
        fails 3-D Secure, or its owner cancels it. Its webhooks reach paycore like any
        other event on the account (another store's metadata names the shop's first
        payments), and the world expects the intent to stay as this action left it
        (``world_checks.foreign_kept``)."""
        if not self.foreign:
            return
        n = which % len(self.foreign)
        iid, p = self.foreign[n].id, self.w.provider
        status = next((v.status for v in p.intents() if v.id == iid), None)
        fn: Callable[[], IntentView]
        if status == "requires_action":
            name, fn = (
                "finishes 3-D Secure",
                partial(p.complete_action, iid, success=action % 2 == 0),
            )
        elif status != "requires_payment_method":
            return  # paid or canceled: nothing the customer can do
        elif action % 4 == 3:
            name, fn = (
                "its owner cancels",
                partial(p.cancel_intent, iid, idempotency_key=f"others-{iid}"),
            )
        else:
            method = METHODS[action % 4]
            name, fn = f"pays with {method}", partial(p.customer_confirm, iid, method)
        self.count("others' customers")
        self._try(f"someone else's customer: {name} {iid}", lambda: fn().status)
        # a decline raises, and may still change the intent (the provider's decline limit)
        self.foreign[n] = next(v for v in p.intents() if v.id == iid)

    def _bank_or_retry(self, pid: str, iid: str, action: int) -> None:
        """The customer pays again in the browser (a 3-D Secure card this time), or the
        bank settles, fails or reverses one of the payment's refunds, or needs the
        customer for one, which the shop then cancels from its dashboard."""
        p = self.w.provider
        if BANK_OPS[action % len(BANK_OPS)].startswith("provider: cancels"):
            self._try(
                f"provider: cancels the processing debit {iid}",
                lambda: p.cancel_while_processing(iid).status,
            )
            return
        if action % len(BANK_OPS) == 0:
            self._try(
                f"customer: pays {iid} again with a 3-D Secure card",
                lambda: p.customer_confirm(iid, METHODS[2]).status,
            )
            return
        refunds = [r for r in p.refunds() if r.intent_id == iid]
        if not refunds:
            return
        rf = refunds[action // len(BANK_OPS) % len(refunds)]
        ops: dict[str, Callable[[], Any]] = {
            "bank: settles": lambda: p.settle_refund(rf.id, success=True),
            "bank: fails": lambda: p.settle_refund(rf.id, success=False),
            "bank: reverses": lambda: p.fail_refund(rf.id),
            "bank: needs the customer for": lambda: p.require_refund_action(rf.id),
            "shop's dashboard: cancels": lambda: p.cancel_refund(rf.id),
        }
        name = BANK_OPS[action % len(BANK_OPS)]
        self.count("bank")
        self._try(f"{name} refund {rf.id} of {pid}", lambda: ops[name]().status)

    # --- webhooks ---------------------------------------------------------------------

    def pull_webhooks(self) -> None:
        """Take what the provider sent into the delivery queue, signed."""
        now_s = self.w.clock.now() // 1000
        for ev in self.w.provider.take_events():
            if self.subscribed is not None and ev.type not in self.subscribed:
                continue  # the provider sends an endpoint only the types it subscribed to
            if self.endpoint is not None:  # the face's own: Stripe's event JSON, signed
                self.pending.append(self.endpoint.sent(ev, now_s))
                continue
            payload = signing.to_payload(ev)
            self.pending.append(Delivery(ev, payload, signing.sign(payload, SECRET, now_s)))

    def deliver(self, choice: int, mode: int = 0) -> None:
        """Deliver one queued webhook; ``mode`` may duplicate, forge or stale it."""
        self.pull_webhooks()
        if not self.pending:
            return
        idx = choice % len(self.pending)
        if idx != 0:
            self.plan.note(FaultKind.WEBHOOK_REORDERED, self.pending[idx].event.id)
        d = self.pending[idx] if mode == 1 else self.pending.pop(idx)
        if mode == 1:
            self.plan.note(FaultKind.WEBHOOK_DUPLICATE, d.event.id)
        header = d.header
        if mode == 2:
            self.plan.note(FaultKind.WEBHOOK_BAD_SIGNATURE, d.event.id)
            if self.endpoint is None:
                header = signing.sign(d.payload, "whsec_forged", int(header[2:].split(",")[0]))
            self.pending.append(d)  # the genuine one is still to come
        if self.endpoint is not None:
            now_s = self.w.clock.now() // 1000
            self._answered(d, self.endpoint.post(d, now_s, forged=mode == 2), mode == 2)
            return
        self._receive(d, header)

    def _answered(self, d: Delivery, answer: Answer, forged: bool) -> None:
        """What the world does with the answer of the face's own endpoint (the Stripe
        intake, over HTTP): as Stripe, it delivers a genuine event again, signed anew,
        until a 2xx answers it; a forger does not."""
        label = f"webhook {d.event.id} {d.event.type}"
        self.count(f"stripe_{answer.outcome}")
        if answer.acknowledged:
            if forged:
                raise AssertionError(f"the endpoint acknowledged a forged {label}")
            self.count("webhooks")
            self.count("stripe_webhooks")
            self.say(f"{label} -> {answer.outcome}")
            return
        if forged:
            self.say(f"{label} (forged) refused: {answer.outcome}")
            return
        if answer.outcome == "refused:stale_timestamp":
            self.plan.note(FaultKind.WEBHOOK_STALE, d.event.id)
        elif answer.outcome.startswith("refused:"):
            raise AssertionError(f"the endpoint refused a genuine {label}: {answer.outcome}")
        self.say(f"{label} -> {answer.outcome}; will be redelivered")
        assert self.endpoint is not None
        self.endpoint.sign(d, self.w.clock.now() // 1000)
        self.pending.append(d)

    def _receive(self, d: Delivery, header: str) -> None:
        now_s = self.w.clock.now() // 1000
        try:
            event = signing.receive(d.payload, header, SECRET, now_s)
        except WebhookSignatureInvalid as exc:
            self.say(f"webhook {d.event.id} {d.event.type} refused: {exc.message}")
            if "timestamp" in exc.message:
                self.plan.note(FaultKind.WEBHOOK_STALE, d.event.id)
                d.header = signing.sign(d.payload, SECRET, now_s)  # the provider retries
                self.pending.append(d)
            return
        self.count("webhooks")
        label = f"webhook {event.id} {event.type}"
        try:
            fid = self.w.service.start_webhook(event)
        except OperationalError as exc:
            # The endpoint answered 500: the provider delivers the event again later.
            self.say(f"{label} -> {exc.code}; will be redelivered")
            self.pending.append(d)
            return
        except PaycoreError as exc:
            self.say(f"{label} -> {exc.code}")
            return
        self.say(f"{label} -> {fid or 'duplicate'}")
