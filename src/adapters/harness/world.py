"""The world the harness drives: a shop on the in-memory wiring, one action at a time.

Every method is one action a test chooses: start an operation (its first
transaction only), advance one in-flight flow by one step, act as the
customer at the provider, deliver a webhook, run a job, move the clock,
arm a fault, crash the worker. Nothing runs on its own, so Hypothesis or the
explorer chooses the interleaving. Every action is written to the timeline.
Expected business errors (out of stock, payment busy, ...) are outcomes, not
failures; an unexpected exception propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import attrs

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.errors import OperationalError, PaycoreError, WebhookSignatureInvalid
from paycore.flows.checkout import CartItem
from paycore.invariants import Kind, Ledger, Violation, check
from paycore.money import Money
from paycore.ports import ProviderEvent, Snapshot
from paycore.records import Flow
from paycore.status import FlowStatus, PaymentStatus, ReservationStatus

from .. import signing
from ..memory import EPOCH_MS, Wiring, in_memory
from . import foreign, outages
from .coverage import Coverage
from .faults import FaultKind, FaultPlan
from .faulty import FaultyProvider, FaultyStore

SECRET = "whsec_harness_only"
#: Job rounds (each past every timer) within which a quiet system must settle.
QUIET_ROUNDS = 12
PRODUCTS = ("p_scarce", "p_plenty")
#: The background jobs a ``job`` action runs, by its argument (modulo); the last one
#: finds refunds made outside paycore whose webhook was lost.
#: What the customer, the bank or the shop's dashboard does to a paid payment: the first
#: is the customer paying again; the others act on one of the payment's refunds.
BANK_OPS = (
    "customer: pays again",
    "bank: settles",
    "bank: fails",
    "bank: reverses",
    "bank: needs the customer for",
    "shop's dashboard: cancels",
)
JOBS = ("janitor", "reconciler", "outbox", "refund sync", "external refunds")
# provider calls that change nothing there
PROVIDER_READS = frozenset(
    {
        "retrieve_intent",
        "search_intents",
        "list_intents",
        "can_charge",
        "retrieve_refund",
        "list_refunds",
    }
)
METHODS = (
    "pm_card_visa",
    "pm_card_chargeDeclined",
    "pm_card_threeDSecure2Required",
    "pm_card_processing",
)


@attrs.define
class Delivery:
    """A webhook on its way: the signed payload the provider sent."""

    event: ProviderEvent
    payload: bytes
    header: str


class World:
    """One shop, one provider, one worker (which can crash and restart)."""

    def __init__(
        self,
        config: Config | None = None,
        scarce_stock: int = 1,
        wiring: Callable[[Config], Wiring] = in_memory,
        crowded: bool = True,
    ) -> None:
        """``wiring`` builds the system under test from a config. Its store must offer
        ``snapshot()``/``fingerprint()`` and count the commits that wrote in
        ``stats["writes"]`` (snapshots are reused until it moves); its provider must offer
        the fake's customer-side methods. The service reaches both through fault
        wrappers (:mod:`paycore_adapters.harness.faulty`) driven by :attr:`plan`.
        ``crowded`` puts intents paycore did not make on the account first
        (:data:`paycore_adapters.harness.foreign.CROWD`)."""
        # Stock held for a payment stuck in processing is given back after an hour here,
        # so that late successes (taken again, or refunded as out of stock) are explored.
        self.config = config or Config(processing_hold_ms=3_600_000)
        self.wiring, self.scarce_stock = wiring, scarce_stock
        #: what a checkout's product choice buys: the products of each cart's lines
        self.carts: list[tuple[str, ...]] = [(p,) for p in PRODUCTS]
        self.w: Wiring = wiring(self.config)
        self.plan = FaultPlan(self.w.clock.now)
        #: the adapters as paycore sees them: faults come from the plan
        self.faulty_store = FaultyStore(self.w.store, self.plan)
        self.faulty_provider = FaultyProvider(self.w.provider, self.plan)
        self.engine.store, self.engine.provider = self.faulty_store, self.faulty_provider
        self.timeline: list[str] = []
        self.pending: list[Delivery] = []
        self.sessions: list[str] = []
        self.restarts = 0
        self.steps = 0
        self.counts: dict[str, int] = {}
        self._view: tuple[int, Snapshot, list[Flow]] | None = None
        #: the flow steps executed and (once the example ends) the transitions recorded
        self.coverage = Coverage()
        #: wrong answers seen by the harness itself (what a service call returned)
        self.findings: list[Violation] = []
        self.coverage.watch(self.w.service.engine)
        svc = self.w.service
        self.w.provider.set_account("acct_1", can_charge=True)
        self.quietly(lambda: svc.add_seller("s1", "Shop", "acct_1"))
        self.quietly(
            lambda: svc.add_product("p_scarce", "s1", "SKU-S", "Scarce", Money(1000, "EUR"))
        )
        self.quietly(
            lambda: svc.add_product("p_plenty", "s1", "SKU-P", "Plenty", Money(250, "EUR"))
        )
        self.quietly(lambda: svc.restock("s1", "SKU-S", scarce_stock))
        self.quietly(lambda: svc.restock("s1", "SKU-P", 50))
        # The account is shared: another store's intents (whose ids collide with the
        # shop's), an invoice, a payment link, a previous system's payment.
        self.foreign = foreign.plant_crowd(self.w.provider) if crowded else []

    def reconfigure(self, config: Config) -> None:
        """Build this world again, before anything happened in it, with ``config``."""
        World.__init__(self, config, self.scarce_stock, self.wiring)

    # --- plumbing ---------------------------------------------------------------------

    @property
    def engine(self) -> Any:
        return self.w.service.engine

    def quietly(self, fn: Callable[[], Any]) -> Any:
        """Run set-up with faults off."""
        was = self.plan.enabled
        self.plan.enabled = False
        try:
            return fn()
        finally:
            self.plan.enabled = was

    def say(self, line: str) -> None:
        t = (self.w.clock.now() - EPOCH_MS) // 1000
        self.timeline.append(f"[{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}] {line}")

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def _try(self, label: str, fn: Callable[[], Any]) -> Any:
        try:
            result = fn()
        except PaycoreError as exc:
            self.say(f"{label} -> {exc.code}")
            return None
        self.say(f"{label} -> {result if result is not None else 'nothing to do'}")
        return result

    def session(self, n: int) -> str:
        while len(self.sessions) <= n:
            self.sessions.append(f"cs_harness_{len(self.sessions):06d}")
        return self.sessions[n]

    def view(self) -> Snapshot:
        """The store's committed state, copied again only after a write."""
        return self._viewed()[1]

    def _viewed(self) -> tuple[int, Snapshot, list[Flow]]:
        writes = self.w.store.stats["writes"]
        if self._view is None or self._view[0] != writes:
            snap = self.w.store.snapshot()
            active = [f for f in snap.rows(s.FLOWS) if f.status is FlowStatus.ACTIVE]
            active.sort(key=lambda f: f.id)
            self._view = (writes, snap, active)
        return self._view

    def payment_ids(self) -> list[str]:
        return sorted(self.view().tables.get(s.PAYMENTS.name, {}))

    def payment_id(self, n: int) -> str | None:
        ids = self.payment_ids()
        return ids[n % len(ids)] if ids else None

    # --- operations: the first transaction of each ------------------------------------

    def begin_checkout(self, session_no: int, product_no: int, quantity: int) -> None:
        session = self.session(session_no)
        cart = [CartItem(p, quantity) for p in self.carts[product_no % len(self.carts)]]
        svc = self.w.service
        self.count("operations")
        what = "+".join(item.product_id for item in cart)
        self._try(
            f"checkout {session} {what} x{quantity}", lambda: svc.start_checkout(session, cart)
        )

    def begin_confirm(self, payment_no: int, method_no: int) -> None:
        pid = self.payment_id(payment_no)
        if pid is None:
            return
        method = METHODS[method_no % len(METHODS)]
        svc = self.w.service
        self.count("operations")
        self._try(f"confirm {pid} with {method}", lambda: svc.start_confirm(pid, method))

    def begin_cancel(self, payment_no: int) -> None:
        pid = self.payment_id(payment_no)
        if pid is None:
            return
        svc = self.w.service
        self.count("operations")
        self._try(f"cancel {pid}", lambda: svc.start_cancel(pid))

    def begin_refund(
        self, payment_no: int, amount: int | None, key_no: int, *, restock: bool = False
    ) -> None:
        """A refund's first transaction; ``restock``: the goods came back."""
        pid = self.payment_id(payment_no)
        if pid is None:
            return
        key = f"rk-{key_no}"
        svc = self.w.service
        self.count("operations")

        def go() -> str:
            fid = svc.start_refund(pid, amount, None, key, restock=restock)
            refund = self.view().get(s.REFUNDS, fid.removeprefix("refund:"))
            assert refund is not None
            return f"refund {refund.id} of {refund.amount.amount}"

        shown = " restock" if restock else ""
        self._try(f"refund {pid} amount={amount} key={key}{shown}", go)

    # --- stepping ---------------------------------------------------------------------

    def runnable(self) -> list[str]:
        """Flows this worker may step now: due, not leased by a dead worker, or in flight."""
        now = self.w.clock.now()
        me = self.engine.worker_id
        out = []
        for flow in self._viewed()[2]:
            lease_free = flow.lease_owner in (None, me) or flow.lease_until <= now
            if self.engine.has_inflight(flow.id) or (flow.next_run_at <= now and lease_free):
                out.append(flow.id)
        return out

    def finish(self, choice: int) -> None:
        """Run one runnable flow until it ends or must wait (what production does)."""
        ready = self.runnable()
        if ready:
            self._finish_id(ready[choice % len(ready)])

    def shop(self, session_no: int, product_no: int, quantity: int, method_no: int) -> None:
        """A customer checks out and pays at once: checkout, then confirm, each run to its end."""
        session = self.session(session_no)
        self.begin_checkout(session_no, product_no, quantity)
        self._finish_id(f"checkout:{session}")
        payment = next(
            (p for p in self.view().rows(s.PAYMENTS) if p.checkout_session_id == session),
            None,
        )
        if payment is None or payment.status is not PaymentStatus.OPEN:
            return
        self.begin_confirm(self.payment_ids().index(payment.id), method_no)
        self._finish_id(f"confirm:{payment.id}:{payment.confirm_attempts + 1}")

    def _finish_id(self, fid: str) -> None:
        for _ in range(40):
            if fid not in self.runnable():
                return
            self._advance(fid)

    def step(self, choice: int) -> bool:
        """Advance one runnable flow (``choice`` picks which) by one step."""
        ready = self.runnable()
        if not ready:
            return False
        self._advance(ready[choice % len(ready)])
        return True

    def _advance(self, fid: str) -> None:
        """One step of ``fid``, which is runnable."""
        self.steps += 1
        try:
            report = self.engine.step(fid)
        except PaycoreError as exc:  # an injected store fault: the step's work was undone
            self.say(f"step {fid} -> store error {exc.code}")
            return
        self.say(f"step {fid} {report.step} {report.effect} -> {report.result}")

    # --- the merchant --------------------------------------------------------------------

    def merchant(self, action: int) -> None:
        """The shop changes things under running flows: sellers, products, stock; or
        (``action`` 8 to 15) someone refunds a payment in the provider's dashboard."""
        if action % 16 >= 8:
            self.dashboard_refund(action % 8)
            return
        svc, p = self.w.service, self.w.provider
        name, fn = [
            (
                "seller loses charges at the provider",
                lambda: p.set_account("acct_1", can_charge=False),
            ),
            (
                "seller regains charges at the provider",
                lambda: p.set_account("acct_1", can_charge=True),
            ),
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
        view = foreign.dashboard_refund(self.w.provider, iid, whole=bool(whole), n=n)
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
        or (action 4) the bank fails the payment's latest refund."""
        pid = self.payment_id(payment_no)
        if pid is None:
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

    def _bank_or_retry(self, pid: str, iid: str, action: int) -> None:
        """The customer pays again in the browser (a 3-D Secure card this time), or the
        bank settles, fails or reverses one of the payment's refunds, or needs the
        customer for one, which the shop then cancels from its dashboard."""
        p = self.w.provider
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
            header = signing.sign(d.payload, "whsec_forged", int(header[2:].split(",")[0]))
            self.pending.append(d)  # the genuine one is still to come
        self._receive(d, header)

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

    # --- jobs -------------------------------------------------------------------------

    def job(self, which: int) -> None:
        name = JOBS[which % len(JOBS)]
        eng = self.engine
        fn: Callable[[], Any] = {
            "janitor": lambda: jobs.janitor(eng),
            "reconciler": lambda: jobs.reconcile(eng),
            "outbox": lambda: jobs.dispatch_outbox(eng, self.w.notifier),
            "refund sync": lambda: jobs.sync_pending_refunds(eng),
            "external refunds": lambda: jobs.find_external_refunds(eng),
        }[name]
        self.count("jobs")
        try:
            self._try(f"job {name}", fn)
        except ConnectionError as exc:
            # A provider adapter's raw error (the raw-exceptions dimension): production
            # runs each job isolated (``job_health.run_job``), so it fails that job alone.
            self.say(f"job {name} -> failed: {type(exc).__name__}")

    # --- clock, crash, faults -----------------------------------------------------------

    def advance(self, kind: int) -> None:
        """Move the clock: a little, past the reservation TTL, the key retention, a session,
        or exactly onto the next hold's expiry or session's end."""
        cfg = self.config
        jumps = [
            (cfg.lease_ms + 1, None),
            (cfg.backoff_cap_ms, None),
            (cfg.reservation_ttl_ms + 1, FaultKind.CLOCK_PAST_TTL),
            (cfg.provider_key_retention_ms + 1, FaultKind.CLOCK_PAST_KEYS),
            (cfg.checkout_session_ttl_ms + 1, FaultKind.CLOCK_PAST_SESSION),
            # exactly onto a deadline: the instant a hold expires, a session ends
            (self._until(self._next_hold_expiry()), FaultKind.CLOCK_ON_EXPIRY),
            (self._until(self._next_session_end()), FaultKind.CLOCK_ON_EXPIRY),
        ]
        amount, fault = jumps[kind % len(jumps)]
        if amount <= 0:
            return
        self.w.clock.advance(amount)
        if fault is not None:
            self.plan.note(fault, f"+{amount} ms")
        self.say(f"clock +{amount // 1000} s")
        for d in self.pending:  # what waited is now late
            self.plan.note(FaultKind.WEBHOOK_LATE, d.event.id)

    def _until(self, at: int | None) -> int:
        return 0 if at is None else at - self.w.clock.now()

    def _next_hold_expiry(self) -> int | None:
        now = self.w.clock.now()
        held = [
            r.expires_at
            for r in self.view().rows(s.RESERVATIONS)
            if r.status is ReservationStatus.HELD and r.expires_at > now
        ]
        return min(held, default=None)

    def _next_session_end(self) -> int | None:
        now = self.w.clock.now()
        ttl = self.config.checkout_session_ttl_ms
        ends = [o.created_at + ttl for o in self.view().rows(s.ORDERS) if o.created_at + ttl > now]
        return min(ends, default=None)

    def crash(self) -> None:
        """The worker dies: held answers are lost; a new worker starts."""
        self.plan.note(FaultKind.CRASH, self.engine.worker_id)
        self.engine.forget_inflight()
        self.restarts += 1
        self.engine.worker_id = f"worker-{self.restarts + 1}"
        self.say(f"CRASH; restarted as {self.engine.worker_id}")

    def arm(self, kind: FaultKind, call: str | None = None) -> None:
        self.plan.arm(kind, call)
        self.say(f"fault armed: {kind.value}" + (f" for the next {call}" if call else ""))

    # --- checks -----------------------------------------------------------------------

    def ledger(self) -> Ledger:
        return Ledger(self.w.provider.intents(), self.w.provider.refunds(), self.w.clock.now())

    def violations(self, kinds: Iterable[Kind] = ("safety",)) -> list[Violation]:
        return [*self.findings, *check(self.view(), self.ledger(), kinds)]

    def quiesce(self, rounds: int = QUIET_ROUNDS) -> bool:
        """Faults off; run every flow and deliver every webhook, then move the clock past
        every timer a quiet system may wait on (a hold's expiry, the processing hold, a
        retry's backoff, a lease) and run every job, until such a round changes nothing.

        Returns whether that happened within ``rounds`` rounds: settling "eventually" is
        not enough, a quiet system must settle within a bounded number of job rounds."""
        self.plan.disarm_all()
        if self.plan.outage_on(self.w.clock.now()):
            self.say("-- quiet: riding out the provider outage --")
            outages.ride_out(self)
        self.plan.enabled = False
        self.say("-- quiet: faults off, draining webhooks, jobs and flows --")
        cfg = self.config
        horizon = (
            cfg.reservation_ttl_ms
            + (cfg.processing_hold_ms or 0)
            + cfg.backoff_cap_ms
            + cfg.lease_ms
            + 1
        )
        for _ in range(rounds):
            before = self.progress()
            self.drain()
            if self.runnable() or self.pending or self.operator_revives():
                continue
            self.w.clock.advance(horizon)
            self.say(f"clock +{horizon // 1000} s (quiet)")
            self.job_round()
            if not self.runnable() and self.progress() == before:
                return True
        return False

    def operator_revives(self) -> bool:
        """Revive every dead flow through the service, as an operator would (list, fix
        the cause, revive: docs/operations.md), in a world configured to give up early
        (fewer attempts than the default), where dead letters are expected. In a world
        with the default attempts nothing revives a dead flow, so ``flows-finished``
        reports it (seeded bug I1). Returns whether any flow was revived."""
        if self.config.max_attempts >= Config().max_attempts:
            return False
        svc = self.w.service
        dead = svc.flows(state="dead")
        for flow in dead:
            self.say(f"operator: revives {flow.id}")
            self.count("operator revives")
            self.quietly(partial(svc.revive_flow, flow.id))
        return bool(dead)

    def operator_abandons(self, flow_id: str) -> None:
        """An operator gives a flow up through the service (docs/operations.md): its
        compensation runs."""
        self.count("operator abandons")
        abandon = partial(self.w.service.abandon_flow, flow_id)
        self._try(f"operator: abandons {flow_id}", lambda: self.quietly(abandon).status.value)

    def drain(self) -> None:
        """Step every runnable flow (up to a bound) and deliver every queued webhook."""
        for _ in range(500):
            if not self.step(0):
                break
        self.pull_webhooks()
        while self.pending:
            self.deliver(0)

    def job_round(self) -> None:
        """One round of every background job."""
        for which in range(len(JOBS)):
            self.job(which)

    def progress(self) -> tuple[int, ...]:
        """Changes whenever the store or the provider changed: cheap, for fixpoints and
        for skipping a safety check that would see what the last one saw. Reads at the
        provider (the reconciler lists intents every run) are not changes."""
        p = self.w.provider
        return (
            self.w.store.stats["writes"],
            len(p.all_events),
            # paycore's calls (failed ones too), and the harness's own at the provider
            sum(n for call, n in self.faulty_provider.calls.items() if call not in PROVIDER_READS),
            sum(n for call, n in p.calls.items() if call not in PROVIDER_READS),
        )
