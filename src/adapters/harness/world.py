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

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.flows.jobflow import is_job
from paycore.invariants import Kind, Ledger, Violation
from paycore.ports import Snapshot
from paycore.status import PaymentStatus, ReservationStatus

from . import outages
from .faults import FaultKind
from .world_checks import WORLD_CHECKS, foreign_kept
from .world_core import (
    BANK_OPS,
    JOBS,
    METHODS,
    NO_LEAK,
    PRODUCTS,
    PROVIDER_READS,
    QUIET_JOBS,
    QUIET_ROUNDS,
    SECRET,
    Delivery,
    WorldCore,
)
from .world_outside import WorldOutside

__all__ = [
    "BANK_OPS",
    "JOBS",
    "METHODS",
    "NO_LEAK",
    "PRODUCTS",
    "PROVIDER_READS",
    "QUIET_JOBS",
    "QUIET_ROUNDS",
    "SECRET",
    "WORLD_CHECKS",
    "Delivery",
    "World",
    "WorldCore",
    "WorldOutside",
]


def business_state(snap: Snapshot) -> list[object]:
    """Every table of ``snap`` but the jobs' bookkeeping: job flows (and their audit
    entries) and cursors."""
    out: list[object] = []
    for name, rows in sorted(snap.tables.items()):
        if name == s.CURSORS.name:
            continue
        if name == s.FLOWS.name:
            out.append({k: v for k, v in rows.items() if not is_job(k)})
        elif name == s.AUDIT.name:
            out.append(sum(1 for e in rows.values() if not is_job(e.aggregate_id)))
        else:
            out.append(rows)
    return out


class World(WorldOutside):
    """One shop, one provider, one worker (which can crash and restart)."""

    #: (store writes when last looked, business changes seen, the business state then)
    _business: tuple[int, int, list[object]] = (-1, 0, [])

    # --- jobs -------------------------------------------------------------------------

    def job(self, which: int) -> None:
        name = JOBS[which % len(JOBS)]
        eng = self.engine
        fn: Callable[[], Any] = {
            "janitor": lambda: jobs.janitor(eng),
            "reconciler": lambda: jobs.start_reconcile(eng),
            "outbox": lambda: jobs.dispatch_outbox(eng, self.w.notifier),
            "refund sync": lambda: jobs.start_refund_sync(eng),
            "external refunds": lambda: jobs.start_external_refunds(eng),
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
        self.untaken.update(fid for fid, version, *_ in self.engine.held_answers() if not version)
        self.engine.forget_inflight()
        self.restarts += 1
        self.engine.worker_id = f"worker-{self.restarts + 1}"
        self.say(f"CRASH; restarted as {self.engine.worker_id}")

    def arm(self, kind: FaultKind, call: str | None = None) -> None:
        self.plan.arm(kind, call)
        self.say(f"fault armed: {kind.value}" + (f" for the next {call}" if call else ""))

    # --- checks -----------------------------------------------------------------------

    def ledger(self) -> Ledger:
        return self.w.ledger()

    def violations(self, kinds: Iterable[Kind] = ("safety",)) -> list[Violation]:
        """The harness's own findings and checks (:mod:`.world_checks`: foreign intents
        as planted, the processing hold kept), then every violated invariant of ``kinds``
        (re-running only the invariants whose inputs changed since the last check)."""
        ledger = self.ledger()
        # The ledger's views are immutable records: an equal list is the same ledger (and
        # an unchanged one compares element by element by identity first).
        keys = {
            "intents": ledger.intents,
            "refunds": ledger.refunds,
            "refunded": ledger.refunds,
            "refunds_of": ledger.refunds,
            "now": ledger.now,
            "connect": ledger.connect,
        }
        snap = self.view()
        found = self.checker.check(self.w.store, snap, ledger, keys, kinds)
        held = self.hold_check(self.w.store, snap, self.config.processing_hold_ms)
        return [*self.findings, *foreign_kept(self.foreign, ledger), *held, *found]

    def quiesce(self, rounds: int = QUIET_ROUNDS) -> bool:
        """Faults off; run every flow and deliver every webhook, then move the clock past
        every timer a quiet system may wait on (a hold's expiry, the processing hold, a
        retry's backoff, a lease) and run every job, until such a round changes nothing
        and leaves nothing to run.

        Returns whether that happened within ``rounds`` rounds: settling "eventually" is
        not enough, a quiet system must settle within a bounded number of job rounds.
        Pages of intents are not capped meanwhile (:data:`LIST_PAGE`): faults are off, and
        the rules' own job actions walk small pages; refunds still come one a page."""
        self.plan.disarm_all()
        if self.plan.outage_on(self.w.clock.now()):
            self.say("-- quiet: riding out the provider outage --")
            outages.ride_out(self)
        self.plan.enabled = False
        self.say("-- quiet: faults off, draining webhooks, jobs and flows --")
        cap, self.faulty_provider.page_cap = self.faulty_provider.page_cap, None
        try:
            return self._settle(rounds)
        finally:
            self.faulty_provider.page_cap = cap

    def _settle(self, rounds: int) -> bool:
        """The quiet phase's rounds: a round is quiet when, after everything runnable ran,
        moving the clock past every timer and running every job changed nothing."""
        cfg = self.config
        horizon = (
            cfg.reservation_ttl_ms
            + (cfg.processing_hold_ms or 0)
            + cfg.backoff_cap_ms
            + cfg.lease_ms
            + 1
        )
        self.drain()
        self.into_the_hold()
        for _ in range(rounds):
            self.drain()
            if self.runnable() or self.pending or self.operator_revives():
                continue
            before = self.settled()
            self.w.clock.advance(horizon)
            self.say(f"clock +{horizon // 1000} s (quiet)")
            self.quiet_round()
            if not self.runnable() and not self.pending and self.settled() == before:
                return True
        return False

    def into_the_hold(self) -> None:
        """Before the quiet rounds jump past every timer: when a payment the provider is
        processing still holds stock, stop the clock just past its order's expiry (the
        latest such) and run one round of jobs, so the janitor meets the payment inside
        the shop's processing hold (``processing-hold-kept``). Not counted as a round."""
        snap = self.view()
        expiries = []
        for r in snap.rows(s.RESERVATIONS):
            order = snap.get(s.ORDERS, r.order_id) if r.status is ReservationStatus.HELD else None
            payment = snap.get(s.PAYMENTS, order.payment_id) if order else None
            if order and payment and payment.status is PaymentStatus.PROCESSING:
                expiries.append(order.expires_at)
        if not expiries:
            return
        past = max(expiries) + 1 - self.w.clock.now()
        if past > 0:
            self.w.clock.advance(past)
        self.say(
            f"clock +{max(past, 0) // 1000} s, past the expiry of a processing payment (quiet)"
        )
        self.count("quiet stops inside a processing hold")
        self.quiet_round()

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
        """Step every runnable flow and deliver every queued webhook, again and again
        until neither is left (up to a bound): the flows the webhooks start run too."""
        for _ in range(500):
            if self.step(0):
                continue
            self.pull_webhooks()
            if not self.pending:
                return
            while self.pending:
                self.deliver(0)

    def run_job_flows(self) -> None:
        """Step the runnable job flows (and the job flows they start) until none is left;
        nothing else runs meanwhile."""
        for _ in range(500):
            ready = [fid for fid in self.runnable() if is_job(fid)]
            if not ready:
                return
            self._advance(ready[0])

    def job_round(self) -> None:
        """One round of every background job."""
        for which in range(len(JOBS)):
            self.job(which)

    def quiet_round(self) -> None:
        """One round of every background job, each run with what it started to the end
        before the next (:data:`QUIET_JOBS`: the outbox last, so that it sends what the
        others did in the same round). The flows the clock made due run first: a job
        that meets a flow's claim leaves its work to the next round."""
        self.drain()
        for name in QUIET_JOBS:
            self.job(JOBS.index(name))
            self.drain()

    def settled(self) -> tuple[int, ...]:
        """:meth:`progress` with the jobs' bookkeeping left out: a job run whose only
        writes are its own flow, its cursors and their audit (a quiet shop's reconciler
        lists the same intents every run) is no change, so a quiet phase ends."""
        writes = self.w.store.stats["writes"]
        seen, changes, state = self._business
        if writes != seen:
            now = business_state(self.view())
            changes += int(now != state)
            self._business = (writes, changes, now)
        return (changes, *self.progress()[1:])

    def progress(self) -> tuple[int, ...]:
        """Changes whenever the store or the provider changed: cheap, for fixpoints and
        for skipping a safety check that would see what the last one saw. Reads at the
        provider (the reconciler lists intents every run) are not changes."""
        p = self.w.provider
        return (
            self.w.store.stats["writes"],
            p.event_count,
            # paycore's calls (failed ones too), and the harness's own at the provider
            sum(n for call, n in self.faulty_provider.calls.items() if call not in PROVIDER_READS),
            sum(n for call, n in p.calls.items() if call not in PROVIDER_READS),
        )
