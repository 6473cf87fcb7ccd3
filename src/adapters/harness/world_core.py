"""The world's core: the shop it builds, its timeline, the operations and the stepping.

:class:`~paycore_adapters.harness.world.World` is this class with the outside world
(:mod:`.world_outside`: the merchant, the customer, the bank, webhooks) and the
background (jobs, the clock, crashes, faults, the quiet phase and the checks) on top.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs

from paycore import schema as s
from paycore.config import Config
from paycore.errors import PaycoreError
from paycore.flows.checkout import CartItem
from paycore.invariants import Violation
from paycore.money import Money
from paycore.ports import ProviderEvent, Snapshot
from paycore.records import Flow
from paycore.status import FlowStatus, PaymentStatus

from ..fake_limits import SEARCH_LAG_MS
from ..fake_methods import DECLINE_LIMIT
from ..memory import EPOCH_MS, Wiring, in_memory
from . import foreign
from .checking import Checker
from .coverage import Coverage
from .faults import FaultPlan
from .faulty import FaultyProvider, FaultyStore
from .world_checks import HoldCheck

SECRET = "whsec_harness_only"
#: Job rounds (each past every timer) within which a quiet system must settle.
QUIET_ROUNDS = 12
PRODUCTS = ("p_scarce", "p_plenty")
#: What the customer, the bank or the shop's dashboard does to a paid payment: the first
#: is the customer paying again, the last the provider canceling a processing debit (in
#: rare cases: ``fake_debits``); the others act on one of the payment's refunds.
BANK_OPS = (
    "customer: pays again",
    "bank: settles",
    "bank: fails",
    "bank: reverses",
    "bank: needs the customer for",
    "shop's dashboard: cancels",
    "provider: cancels the processing debit",
)
#: The background jobs a ``job`` action runs, by its argument (modulo); the last one
#: finds refunds made outside paycore whose webhook was lost.
JOBS = ("janitor", "reconciler", "outbox", "refund sync", "external refunds")
#: The jobs of a quiet phase's round, in the order it runs them: the outbox last.
QUIET_JOBS = ("janitor", "reconciler", "refund sync", "external refunds", "outbox")
#: The largest page of intents the harness's provider lists (Stripe's is 100): small, so
#: that the flows' walks over several pages happen in every run (in the rules' actions:
#: the quiet phase lists whole pages of intents).
LIST_PAGE = 2
#: Refunds come one a page, in the quiet phase too: a refund older than an intent's newest
#: is on a later page, which a read of the first page alone misses (seeded bug L2).
REFUND_PAGE = 1
# provider calls that change nothing there
PROVIDER_READS = frozenset(
    {"retrieve_intent", "search_intents", "list_intents", "retrieve_account"}
    | {"retrieve_refund", "list_refunds", "list_disputes"}
)
#: The harness's own check that no error crossing the port holds a client secret.
NO_LEAK = "no-secret-across-port"
METHODS = (
    "pm_card_visa",
    "pm_card_chargeDeclined",
    "pm_card_threeDSecure2Required",
    "pm_successDelayed_de",
)


@attrs.define
class Delivery:
    """A webhook on its way: the signed payload the provider sent."""

    event: ProviderEvent
    payload: bytes
    header: str


class Answer(Protocol):
    """A webhook endpoint's answer to a delivery (over HTTP: the Stripe intake's
    :class:`~paycore_adapters.stripe_webhooks.WebhookAnswer`)."""

    @property
    def outcome(self) -> str: ...

    @property
    def acknowledged(self) -> bool: ...


class Endpoint(Protocol):
    """The webhook endpoint of another face, and the provider's side of a delivery to it
    (over HTTP: :class:`~paycore_adapters.harness.http_webhooks.StripeEndpoint`). Without
    one, the world signs and verifies paycore's own payloads in memory."""

    def sent(self, event: ProviderEvent, now_s: int) -> Delivery: ...

    def sign(self, d: Delivery, now_s: int) -> None: ...

    def post(self, d: Delivery, now_s: int, *, forged: bool) -> Answer: ...


class WorldCore:
    """One shop, one provider, one worker: its set-up, operations and steps."""

    def __init__(
        self,
        config: Config | None = None,
        scarce_stock: int = 1,
        wiring: Callable[[Config], Wiring] = in_memory,
        crowded: bool = True,
        search_lag_ms: int = SEARCH_LAG_MS,
    ) -> None:
        """``wiring`` builds the system under test from a config. Its store must offer
        ``snapshot()``/``fingerprint()`` and count the commits that wrote in
        ``stats["writes"]`` (snapshots are reused until it moves); its provider, the fake's
        customer-side methods. The service reaches both through fault wrappers
        (:mod:`.faulty`) driven by :attr:`plan`. ``crowded`` puts intents paycore did not
        make on the account first (:data:`.foreign.CROWD`). ``search_lag_ms``: how long
        the provider's search lags behind writes (Stripe's: about a minute; 0 for none)."""
        # A processing payment's stock goes back after an hour, so late successes are explored.
        self.config = config or Config(processing_hold_ms=3_600_000)
        self.wiring, self.scarce_stock = wiring, scarce_stock
        #: what a checkout's product choice buys: the products of each cart's lines
        self.carts: list[tuple[str, ...]] = [(p,) for p in PRODUCTS]
        self.w: Wiring = wiring(self.config)
        self.w.provider.search_lag_ms = self.search_lag_ms = search_lag_ms
        self.w.provider.decline_limit = DECLINE_LIMIT  # Stripe's is unsourced: 3 here
        #: wrong answers the harness saw (from the service; a secret in a port error)
        self.findings: list[Violation] = []
        self.plan = FaultPlan(self.w.clock.now, hold=getattr(self.w.provider, "hold_next", None))
        #: the adapters as paycore sees them: faults come from the plan
        self.faulty_store = FaultyStore(self.w.store, self.plan)
        # What the service talks to: the fake, or the fake behind another face (HTTP).
        port = self.w.port if self.w.port is not None else self.w.provider
        #: a story is being told: it arms its own faults, and no wire fault is scattered
        self.telling = False
        #: where webhooks are delivered when the face has its own endpoint (over HTTP)
        self.endpoint: Endpoint | None = self._face_hooks(port)
        self.faulty_provider = FaultyProvider(
            port, self.plan, page_cap=LIST_PAGE, on_secret=self._secret_crossed
        )
        self.faulty_provider.refund_page_cap = REFUND_PAGE
        self.engine.store, self.engine.provider = self.faulty_store, self.faulty_provider
        #: what happened, as (clock in ms, line): formatted only when read (``timeline``)
        self.said: list[tuple[int, str]] = []
        self.pending: list[Delivery] = []
        #: the event types the webhook endpoint subscribes to; None: every type sent
        self.subscribed: frozenset[str] | None = None
        self.sessions: list[str] = []
        self.restarts = self.steps = 0
        self.untaken: set[str] = set()  # to take before their next step: see _advance
        self.counts: dict[str, int] = {}
        self._view: tuple[int, Snapshot] | None = None  # see view()
        self._flows: tuple[int, Mapping[str, Flow], list[Flow]] | None = None  # see _active()
        #: the flow steps executed and (once the example ends) the transitions recorded
        self.coverage = Coverage()
        #: the invariants' last verdicts, re-run only when what they read changed
        self.checker = Checker(self.counts)
        self.hold_check = HoldCheck()  # the world's own check of the processing hold
        self.coverage.watch(self.w.service.engine)
        self._open_shop(scarce_stock)
        # The account is shared: another store's intents (whose ids collide with the
        # shop's), an invoice, a payment link, a previous system's payment.
        self.foreign = foreign.plant_crowd(self.w.provider) if crowded else []

    def _face_hooks(self, port: object) -> Endpoint | None:
        """Hook the world into the face's own parts (over HTTP): its wire faults follow
        the plan; its webhook endpoint, if any, is returned."""
        gate = getattr(port, "gate_faults", None)
        if gate is not None:
            gate(lambda: self.plan.enabled and not self.telling)
        endpoint: Endpoint | None = getattr(port, "webhook_endpoint", None)
        return endpoint

    def _open_shop(self, scarce_stock: int) -> None:
        """The seller, its account at the provider, its two products and their stock."""
        svc = self.w.service
        self.w.provider.set_account("acct_1")
        self.quietly(lambda: svc.add_seller("s1", "Shop", "acct_1"))
        self.quietly(
            lambda: svc.add_product("p_scarce", "s1", "SKU-S", "Scarce", Money(1000, "EUR"))
        )
        self.quietly(
            lambda: svc.add_product("p_plenty", "s1", "SKU-P", "Plenty", Money(250, "EUR"))
        )
        self.quietly(lambda: svc.restock("s1", "SKU-S", scarce_stock))
        self.quietly(lambda: svc.restock("s1", "SKU-P", 50))

    def reconfigure(self, config: Config) -> None:
        """Build this world again, before anything happened in it, with ``config``."""
        WorldCore.__init__(
            self, config, self.scarce_stock, self.wiring, search_lag_ms=self.search_lag_ms
        )

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
        self.said.append((self.w.clock.now(), line))

    @property
    def timeline(self) -> list[str]:
        """Every action and its outcome so far, each at its simulated time."""
        out = []
        for now, line in self.said:
            t = (now - EPOCH_MS) // 1000
            out.append(f"[{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}] {line}")
        return out

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def _secret_crossed(self, call: str, field: str) -> None:
        """An error came across the port with a client secret in it (never the secret
        itself in the finding: only where it was)."""
        detail = f"{call} raised an error whose {field!r} holds a client secret"
        self.findings.append(Violation(NO_LEAK, call, detail))

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
        writes = self.w.store.stats["writes"]
        if self._view is None or self._view[0] != writes:
            self._view = (writes, self.w.store.snapshot())
        return self._view[1]

    def _active(self) -> list[Flow]:
        """The active flows by id, found again only when the flows table changed. From
        the flows table alone when the store offers it (``table_rows``): a flow runs
        step after step with no check in between in the quiet phase, and a whole
        snapshot after each step copied every table the step wrote (the audit log
        among them) to find the next flow."""
        store = self.w.store
        writes = store.stats["writes"]
        last = self._flows
        if last is not None and last[0] == writes:
            return last[2]
        table_rows = getattr(store, "table_rows", None)
        flows = table_rows(s.FLOWS.name) if table_rows else self.view().tables.get(s.FLOWS.name, {})
        if last is not None and last[1] is flows:
            active = last[2]  # the same table (a store shares a copy until written)
        else:
            active = [f for f in flows.values() if f.status is FlowStatus.ACTIVE]
            active.sort(key=lambda f: f.id)
        self._flows = (writes, flows, active)
        return active

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
            f"checkout {session} {what} x{quantity}",
            lambda: svc.start_checkout(session, cart, chain=True),  # stepped as recorded
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
        engine = self.engine  # a property: looked up once, not once per flow
        me, inflight = engine.worker_id, engine.has_inflight
        out = []
        for flow in self._active():
            lease_free = flow.lease_owner in (None, me) or flow.lease_until <= now
            if inflight(flow.id) or (flow.next_run_at <= now and lease_free):
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
        """One step of ``fid``, which is runnable; taken first, as a worker's run takes a
        flow it does not go on with from its own commit (``Runner.take``), when it never
        committed a step and its last step failed or a crash lost its answer."""
        self.steps += 1
        try:
            known = self.engine.take(fid) if fid in self.untaken else None
            self.untaken.discard(fid)
            report = self.engine.step(fid, known)
        except PaycoreError as exc:  # an injected store fault: the step's work was undone
            self.untaken.update(f.id for f in self._active() if f.id == fid and f.version == 0)
            self.say(f"step {fid} -> store error {exc.code}")
            return
        self.say(f"step {fid} {report.step} {report.effect} -> {report.result}")
