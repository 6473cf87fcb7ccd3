"""The reconciler (T3): every recent provider intent matched to a local payment.

An intent this installation made that no payment owns is an orphan: a case is opened,
an orphan flow started (:mod:`paycore.flows.orphans`) and an alert raised. An intent
without this installation's identity is never changed: it is recorded once and counted
in one ``foreign_intent`` alert (:func:`_report_foreign`); a recorded
intent that is not its payment's is reported and not synchronized; a payment whose
status differs from its intent's is handed to the payment sync. At the end of a run
(the provider answered its listing) the orphan, refund and webhook flows an outage killed are
revived, and the disputes of the window are applied as their events would be
(:mod:`paycore.flows.reconcile_disputes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paycore import claims, operations
from paycore import schema as s
from paycore.config import Config, clock_tolerance_ms
from paycore.errors import ProviderError, ProviderNotFound
from paycore.flows import job_sync, orphans, reconcile_disputes, retry
from paycore.flows.defs import Advance, FlowDef, Remote, create_flow, step
from paycore.flows.identity import installation_id, intent_mismatch, is_ours
from paycore.flows.jobflow import active_job, begin_job, save_cursor
from paycore.flows.params import OrphanParams, ReconcileParams, params_of
from paycore.flows.steps import OrphanStep
from paycore.flows.steps import ReconcileStep as Step
from paycore.flows.sync import CANCELABLE, LOCAL_STATUS, claimed, order_of
from paycore.listing import MAX_PAGE, seconds_from
from paycore.ports import IntentView, ListPage
from paycore.records import Flow, OrphanCase
from paycore.status import FlowStatus, PaymentStatus
from paycore.unit import Unit

#: The action of an orphan case for an intent that is not paycore's: reported only.
FOREIGN = operations.FOREIGN


def reconcile_one(
    u: Unit, *, view: IntentView, lease: tuple[str | None, int] = (None, 0)
) -> str | None:
    """An orphan flow id, a payment id to re-sync, or None. ``lease``: the orphan flow's,
    (worker id, until when), for the worker that runs it next (the run's: ``reconcile``
    runs the flows it started at once)."""
    installation = installation_id(u)
    owned = u.find(s.PAYMENTS, "provider_intent_id", view.id)
    if owned:
        payment = owned[0]
        why = intent_mismatch(view, payment, order_of(u, payment), installation)
        if why is not None:
            _report_mismatch(u, view, payment.id, why)
            return None  # a human decides: neither the intent nor the payment is changed
        agrees = LOCAL_STATUS[view.status] is payment.status
        return None if agrees or claimed(u, payment) else payment.id
    if not is_ours(view.metadata, installation):
        _report_foreign(u, view)
        return None  # not paycore's (another store, an invoice, a link): never changed
    named = u.get(s.PAYMENTS, view.metadata.get("payment_id", ""))
    if named is not None and named.status is PaymentStatus.CREATING and claimed(u, named):
        return None  # its checkout flow will adopt or cancel it
    holds_money = view.status in ("succeeded", "processing")
    if view.status not in CANCELABLE and not holds_money:
        return None  # canceled: harmless
    if u.get(s.ORPHANS, view.id) is not None:
        return None
    _open_case(u, view, "pending", view.metadata.get("checkout_session_id"))
    fid = f"orphan:{view.id}"
    owner, until = lease
    create_flow(
        u, fid, "orphan", OrphanStep.LOOK, OrphanParams(view.id), owner=owner, lease_until=until
    )
    u.alert(
        "orphan_intent",
        view.id,
        f"provider intent {view.id} ({view.status}) has no local payment; "
        "it will be canceled or refunded",
        intent_id=view.id,
    )
    return fid


def _open_case(u: Unit, view: IntentView, action: str, session: str | None = None) -> None:
    """Record the case of an intent no payment of this store records."""
    u.create(
        s.ORPHANS,
        OrphanCase(
            provider_intent_id=view.id,
            found_at=u.now,
            provider_status=view.status,
            action=action,
            amount=view.amount,
            checkout_session_id=session,
        ),
    )


#: The subject of the one ``foreign_intent`` alert: every intent on the account that this
#: installation did not make is counted in it (``foreign_intent:other_integrations``).
FOREIGN_SUBJECT = "other_integrations"
#: How many of the last foreign intents found the alert names.
NEWEST_NAMED = 5


def _report_foreign(u: Unit, view: IntentView) -> None:
    """Record, once, that an intent on the account is not this installation's: a case
    (action ``foreign``: what it is looked up by, and what keeps it from being counted
    again) and a count in the one ``foreign_intent`` alert. The alerts port is told when
    that alert opens (or opens again after an operator resolved it), not per intent: an
    account shared with another integration would bury every other alert."""
    if view.status == "canceled" or u.get(s.ORPHANS, view.id) is not None:
        return
    _open_case(u, view, FOREIGN)  # its metadata is someone else's: no session recorded
    current = u.get(s.ALERTS, f"foreign_intent:{FOREIGN_SUBJECT}")
    if current is None or not current.open:
        message, fields = _foreign_counted(view, 1, {})
        row = u.alert("foreign_intent", FOREIGN_SUBJECT, message, **fields)
        if row.count != 1:  # opened again: it counts the intents found since
            u.save(s.ALERTS, row, count=1)
        return
    n = int(current.fields.get("intents", current.count)) + 1
    message, fields = _foreign_counted(view, n, _named(current.fields))
    u.save(s.ALERTS, current, message=message, fields=fields, count=n)


def _named(fields: Mapping[str, Any]) -> dict[str, int]:
    """The intents the alert names, with when each was created (milliseconds, as
    ``IntentView.created``)."""
    ids = str(fields.get("newest", "")).split(",")
    created = str(fields.get("newest_created", "")).split(",")
    return {i: int(c) for i, c in zip(ids, created, strict=False) if i and c.isdigit()}


def _foreign_counted(view: IntentView, n: int, named: dict[str, int]) -> tuple[str, dict[str, Any]]:
    """The foreign-intent alert's text and fields once ``view`` is its ``n``-th intent
    (``named``: the intents it named, by id, with when each was created): the newest few
    by creation, whatever order the reconciler's walk met them in."""
    pairs = sorted({**named, view.id: view.created}.items(), key=lambda p: (p[1], p[0]))
    newest = pairs[::-1][:NEWEST_NAMED]
    found = f"{view.id}: {view.status}, {view.amount} {view.currency}"
    if n == 1:
        some, what, they = "1 provider intent on the account was", found, "it is left as it is"
    else:
        some, they = f"{n} provider intents on the account were", "they are left as they are"
        what = f"the newest: {', '.join(i for i, _ in newest)}; the last found: {found}"
    who = "who made it" if n == 1 else "who made them"
    message = (
        f"{some} not made by this paycore installation ({what}); {they}: check {who} "
        "(another integration on the account, a payment link, an invoice); each is "
        "recorded as an orphan case with action foreign"
    )
    fields = {
        "intents": n,
        "intent_id": newest[0][0],
        "newest": ",".join(i for i, _ in newest),
        "newest_created": ",".join(str(c) for _, c in newest),
    }
    return message, fields


def _report_mismatch(u: Unit, view: IntentView, payment_id: str, why: str) -> None:
    """Alert once per intent: every reconciler pass meets it again until a human acted."""
    current = u.get(s.ALERTS, f"intent_mismatch:{view.id}")
    if current is not None and current.open:
        return
    u.alert(
        "intent_mismatch",
        view.id,
        f"payment {payment_id} records provider intent {view.id}, which is not its intent "
        f"({why}); nothing was changed: check the payment and the intent",
        intent_id=view.id,
        payment_id=payment_id,
    )


# --- the reconciler's job flow ----------------------------------------------------------

#: The durable cursor of the reconciler's walk: the last intent a run looked at.
CURSOR = "reconcile"
#: When the walk's current pass began: a pass lists from the newest intent down to the
#: window's start, over as many runs as it takes (milliseconds, as text).
PASS_BEGAN = "reconcile_pass_began"
#: When the last whole pass began: every intent made before then was walked (back to
#: that pass's window start), so the next window starts no later than this.
WALKED_BEFORE = "reconcile_walked_before"


def begin(u: Unit, config: Config, **lease: Any) -> str:
    """Start a run: from the intent after (older than) where the last run stopped, at
    most ``job_batch`` of them, back to the window's start. The window is the last
    ``reconcile_window_ms``, reaching further back when the last whole pass began
    earlier (:data:`WALKED_BEFORE`, less the clock tolerance): after an outage or a
    stopped job worker longer than the window, the intents made before it are still
    walked (an orphaned charge is found only by this walk)."""
    cursor = u.get(s.CURSORS, CURSOR)
    start = cursor.value if cursor is not None else None
    since = u.now - config.reconcile_window_ms
    walked = u.get(s.CURSORS, WALKED_BEFORE)
    if walked is not None and walked.value is not None:
        since = min(since, int(walked.value) - clock_tolerance_ms(config))
    if start is None:  # the pass begins at the newest intent, now
        save_cursor(u, PASS_BEGAN, str(u.now))
    params = ReconcileParams(since, start, config.job_batch)
    data = {"after": start, "wrapped": start is None, "taken": 0}
    return begin_job(u, KIND, Step.LIST, params, data, **lease)


def _prm(flow: Flow) -> ReconcileParams:
    return params_of(ReconcileParams, flow)


def _list(flow: Flow) -> Remote[ListPage[IntentView]]:
    """The next page of the window, going back in time from the run's cursor: the
    provider lists newest first and ``starting_after`` gives older intents. The window's
    start is rounded down to the provider's seconds, so it never starts late."""
    prm, data = _prm(flow), flow.data
    limit = min(MAX_PAGE, prm.limit - int(data["taken"]))
    return Remote(
        "list_intents",
        lambda p: p.list_intents(
            created_gte_s=seconds_from(prm.since), limit=limit, starting_after=data["after"]
        ),
        _page,
        refused=_refused,
        best_effort=True,
    )


def _page(u: Unit, flow: Flow, page: ListPage[IntentView]) -> Advance:
    """Match a page of intents; go on after it (older ones), wrapping around to the
    newest intent once at the window's start (as ``claims.take_read`` does): with no more
    intents than a batch, a run takes them all and ends where it began. Intents made
    since the run began are at the head of the list, reached after the wrap."""
    prm, data = _prm(flow), dict(flow.data)
    for view in page.data:
        data["taken"] += 1
        data["last"] = view.id
        found = reconcile_one(u, view=view, lease=(flow.lease_owner, flow.lease_until))
        if found is not None:
            key = "started" if found.startswith("orphan:") else "stale"
            data[key] = [*data.get(key, []), found]
        if data["wrapped"] and view.id == prm.start:
            return _end(u, flow, data, prm.start)  # around once: ends where it began
    if data["taken"] >= prm.limit:
        return _end(u, flow, data, data["last"])
    if not page.has_more or not page.data:
        return _around(u, flow, data)
    return Advance(to=Step.LIST, data={**data, "after": page.data[-1].id})


def _around(u: Unit, flow: Flow, data: dict[str, Any]) -> Advance:
    """The end of the window: the pass that began at :data:`PASS_BEGAN` is whole (its
    start becomes :data:`WALKED_BEFORE`); start a new pass from the newest intent, or end
    a run that already did."""
    began = u.get(s.CURSORS, PASS_BEGAN)
    if began is not None:
        save_cursor(u, WALKED_BEFORE, began.value)
    if data["wrapped"]:
        return _end(u, flow, data, data.get("last"))
    save_cursor(u, PASS_BEGAN, str(u.now))
    return Advance(to=Step.LIST, data={**data, "after": None, "wrapped": True})


def _refused(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    if isinstance(err, ProviderNotFound):  # the cursor's intent left the window: start over
        return _around(u, flow, dict(flow.data))
    return Advance(failed=err)  # the run fails (the job reports it); the next one asks again


def _end(u: Unit, flow: Flow, data: dict[str, Any], end: str | None) -> Advance:
    """Save the cursor and start what follows from the run: the payment sync (the stale
    payments found and a batch of processing ones) and the reopening of waiting orphans;
    revive orphan, refund and webhook flows the provider's absence killed (:func:`_revive_dead`);
    then walk the window's disputes (:mod:`paycore.flows.reconcile_disputes`)."""
    save_cursor(u, CURSOR, end)
    limit = _prm(flow).limit
    # The jobs that follow run next, on this run's worker: they hold its lease.
    lease: dict[str, Any] = {"owner": flow.lease_owner, "lease_until": flow.lease_until}
    revived = _revive_dead(u, limit=limit, lease=lease)
    follow: list[str] = []
    sync = active_job(u, job_sync.PAYMENT_SYNC.kind)
    if sync is not None:
        follow.append(sync.id)
    else:
        keys = [*data.get("stale", []), *job_sync.processing_batch(u, limit)]
        fid = job_sync.PAYMENT_SYNC.start(u, list(dict.fromkeys(keys)), **lease)
        follow += [fid] if fid is not None else []
    reopen = active_job(u, orphans.REOPEN.kind)
    if reopen is not None:
        follow.append(reopen.id)
    else:
        fid = orphans.REOPEN.start(u, orphans.waiting_batch(u, limit), **lease)
        follow += [fid] if fid is not None else []
    result = {"found": data.get("started", []), "revived": revived, "follow": follow}
    return reconcile_disputes.begin(u, flow, data, result)  # then the window's disputes


#: The flows the provider's absence may kill that the reconciler revives: (the job's
#: cursor name, the flows' id prefix, their kind). Each is safe to restart unattended:
#: an orphan flow looks at its intent before it acts, a refund flow's ``resolve`` step
#: lists the payment's refunds before it sends anything, under keys of its own, and a
#: webhook flow's one step fetches its object and applies what the provider says now.
REVIVED = (
    ("revive_orphans", "orphan:", "orphan"),
    ("revive_refunds", "refund:", "refund"),
    ("revive_webhooks", "webhook:", "webhook"),
)


def _revive_dead(u: Unit, *, limit: int, lease: dict[str, Any]) -> list[str]:
    """Orphan, refund and webhook flows the provider's absence killed: the money is still
    to be returned (or recorded as returned), the event still to be applied. Each is
    leased as this run, whose worker runs it next (``reconcile`` returns it), so another
    instance's recovery does not step it at the same moment; each revival is audited and
    closes the flow's dead-letter alert.

    Only dead flows whose id has the kind's prefix (``orphan:<intent>``,
    ``refund:<refund id>``) are read, at most ``limit`` of each kind a run, going on
    after the last run's and wrapping around (:func:`paycore.claims.take_read`): dead
    flows are never pruned, and a run reads its batch, not all of them; flows dead for
    good (of failures) never hide one to revive."""
    revived: list[str] = []
    for job, prefix, kind in REVIVED:

        def read(after: str, n: int, prefix: str = prefix) -> list[Flow]:
            rows = u.claim(s.FLOWS, "status", FlowStatus.DEAD, n, after=max(after, prefix))
            return [f for f in rows if f.id.startswith(prefix)]

        for flow in claims.take_read(u, job, read, lambda f: f.id, limit):
            if flow.kind != kind or not operations.died_of_outage(flow):
                continue
            if operations.auto_revivals(flow) >= REVIVE_MAX:
                _leave_for_person(u, flow)
                continue
            again = operations.revive(u, flow.id, "the reconciler", automatic=True)
            u.save(s.FLOWS, again, lease_owner=lease["owner"], lease_until=lease["lease_until"])
            revived.append(again.id)
    return revived


#: How many times the reconciler revives one flow (a person's revival starts the count
#: again). A flow that dies "of an outage" this many times while the reconciler's own
#: calls get answers is more likely stuck on something else, such as an adapter's bug
#: raising a raw error, which the engine can only take as the provider unavailable
#: (the call may have landed): it stays dead, for a person.
REVIVE_MAX = 3


def _leave_for_person(u: Unit, flow: Flow) -> None:
    """Say once, on the flow's open ``flow_dead_lettered`` alert, that the reconciler
    will not revive it again; the flow stays dead (``retry.LEFT`` marks it said)."""
    if flow.data.get(retry.LEFT):
        return
    u.alert(
        "flow_dead_lettered",
        flow.id,
        f"flow {flow.id} ({flow.kind}) is dead at step {flow.step} ({flow.last_error}); "
        f"revived automatically {operations.auto_revivals(flow)} times, it died again "
        "each time, so it is left for a person: look at the provider adapter's errors "
        f"in the log, then `paycore flows revive {flow.id}` or abandon it",
        flow_id=flow.id,
        flow_kind=flow.kind,
    )
    u.save(s.FLOWS, flow, data={**flow.data, retry.LEFT: True})


KIND = "reconcile"
DEF = FlowDef(
    KIND,
    {
        Step.LIST: step(_list, Step.LIST, Step.DISPUTES),
        Step.DISPUTES: step(reconcile_disputes.list_step, Step.DISPUTES),
    },
)
