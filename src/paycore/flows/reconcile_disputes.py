"""The reconciler's walk over the disputes of its window (its ``disputes`` step).

paycore hears of a dispute (a chargeback) from its ``charge.dispute.*`` events
(:mod:`paycore.flows.disputes`). When they are all lost (an endpoint down past the
provider's retries, a subscription without those types), a disputed order would ship with
its money gone. After it walked the intents, a reconciler run lists the disputes created
within :data:`DISPUTE_LIFE_MS` (``PaymentProvider.list_disputes``, Stripe's
``GET /v1/disputes`` with ``created[gte]``, docs.stripe.com/api/disputes/list): a
dispute's whole life, so that a decision the bank makes weeks after the dispute opened
is seen although its events were lost (the intents' ``Config.reconcile_window_ms`` is
far shorter) and applies
each exactly as its event would (:func:`paycore.flows.disputes.take_listed`, the same
code): a dispute of a payment paycore made raises, updates or resolves its
``payment_disputed`` alert; a decided dispute is never reopened; a dispute of another
intent is left alone.

The walk is bounded and goes on from a durable cursor as the intents' does: at most
``Config.job_batch`` disputes a run, going back in time from where the last run stopped
and wrapping around once to the newest at the window's start.
"""

from __future__ import annotations

from typing import Any

from paycore import schema as s
from paycore.errors import ProviderConfigurationError, ProviderError, ProviderNotFound
from paycore.flows import disputes
from paycore.flows.defs import Advance, Remote
from paycore.flows.jobflow import save_cursor
from paycore.flows.params import ReconcileParams, params_of
from paycore.flows.steps import ReconcileStep as Step
from paycore.listing import MAX_PAGE, seconds_from
from paycore.ports import DisputeView, ListPage
from paycore.records import Flow
from paycore.unit import Unit

#: How long back the walk lists disputes (by their ``created``): a dispute's whole life.
#: The shop has 7-21 days to respond (by card network), and the bank decides 60-75 days
#: after the evidence is due (support.stripe.com/questions/dispute-process-overview, and
#: .../why-does-this-dispute-not-have-a-resolution-yet): 120 days covers both.
DISPUTE_LIFE_MS = 120 * 24 * 3600 * 1000
#: The durable cursor of the disputes' walk: the last dispute a run looked at.
CURSOR = "reconcile_disputes"
#: The flow data's key of the walk: ``start`` (the cursor when it began), ``after`` (the
#: page's cursor), ``wrapped``, ``taken``, ``last``,
#: ``since`` (the window's start, ms); and of the payments whose alert changed.
WALK, DISPUTED = "disputes", "disputed"


def begin(u: Unit, flow: Flow, data: dict[str, Any], result: dict[str, Any]) -> Advance:
    """The intents are walked and ``result`` is the run's: walk the disputes next (a run
    whose batch is 0 walks none)."""
    if params_of(ReconcileParams, flow).limit <= 0:
        return Advance(done=result, data=data)
    cursor = u.get(s.CURSORS, CURSOR)
    start = cursor.value if cursor is not None else None
    since = max(0, u.now - DISPUTE_LIFE_MS)
    walk = {"start": start, "after": start, "wrapped": start is None, "taken": 0, "since": since}
    return Advance(to=Step.DISPUTES, data={**data, "result": result, WALK: walk})


def list_step(flow: Flow) -> Remote[ListPage[DisputeView]]:
    """The next page of the window's disputes, older than the walk's cursor."""
    prm, walk = params_of(ReconcileParams, flow), flow.data[WALK]
    since = int(walk.get("since", prm.since))  # a run begun before the walk kept it
    limit = min(MAX_PAGE, prm.limit - int(walk["taken"]))
    return Remote(
        "list_disputes",
        lambda p: p.list_disputes(
            created_gte_s=seconds_from(since), limit=limit, starting_after=walk["after"]
        ),
        _page,
        refused=_refused,
        best_effort=True,
    )


def _page(u: Unit, flow: Flow, page: ListPage[DisputeView]) -> Advance:
    """Apply a page of disputes; go on after it, wrapping around once at the window's
    start (as the intents' walk does)."""
    limit = params_of(ReconcileParams, flow).limit
    walk = dict(flow.data[WALK])
    disputed = list(flow.data.get(DISPUTED, []))
    u.resolve_alert("provider_permission", "disputes", "the provider lists disputes again")
    for view in page.data:
        walk["taken"] += 1
        walk["last"] = view.id
        payment_id = disputes.take_listed(u, view)
        if payment_id is not None:
            disputed.append(payment_id)
        if walk["wrapped"] and view.id == walk["start"]:
            return _end(u, flow, walk, disputed, walk["start"])
    if walk["taken"] >= limit:
        return _end(u, flow, walk, disputed, walk["last"])
    if not page.has_more or not page.data:
        return _around(u, flow, walk, disputed)
    data = {**flow.data, WALK: {**walk, "after": page.data[-1].id}, DISPUTED: disputed}
    return Advance(to=Step.DISPUTES, data=data)


def _around(u: Unit, flow: Flow, walk: dict[str, Any], disputed: list[str]) -> Advance:
    """The end of the window: start over from its newest, or end a walk that already did."""
    if walk["wrapped"]:
        return _end(u, flow, walk, disputed, walk.get("last"))
    data = {**flow.data, WALK: {**walk, "after": None, "wrapped": True}, DISPUTED: disputed}
    return Advance(to=Step.DISPUTES, data=data)


def _refused(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    if isinstance(err, ProviderNotFound):  # the cursor's dispute left the window
        return _around(u, flow, dict(flow.data[WALK]), list(flow.data.get(DISPUTED, [])))
    if isinstance(err, ProviderConfigurationError) and not _key_refused(err):
        return _not_permitted(u, flow, err)
    # The run fails (the job reports it); the flows it started and revived go on.
    return Advance(failed=err)


def _key_refused(err: ProviderConfigurationError) -> bool:
    """Is it the key itself that was refused, not a permission it lacks: a 401 (an invalid
    or revoked key: every step fails with it, the run fails as the intents' step does), or
    a request that could not be built (a malformed key or API base, no status). A 403 (a
    restricted key without the permission), or a refusal whose adapter tells no status, is
    a missing permission."""
    status = err.fields.get("http_status")
    return status == 401 or (status is None and "error_type" in err.fields)


def _not_permitted(u: Unit, flow: Flow, err: ProviderConfigurationError) -> Advance:
    """The key may not list disputes (a 403; the intents' listing, with the same key, was
    answered): raise ``provider_permission`` (subject ``disputes``) naming the step and
    the permission, and end the run with what it did (``disputes_error`` in its result)
    instead of failing it, whose ``job_failed`` alert would name neither."""
    u.alert(
        "provider_permission",
        "disputes",
        "the reconciler's disputes step: the provider refused to list disputes "
        f"(GET /v1/disputes: {err.message}); a restricted key needs the Disputes: Read "
        "permission: fix the key's permissions in the provider's dashboard. Until then "
        "disputes whose events are lost are not found (the rest of the run goes on)",
        step="disputes",
        permission="Disputes: Read",
        error=err.code,
    )
    result = {**flow.data["result"], "disputes_error": err.code}
    return Advance(done=result, data=flow.data)


def _end(
    u: Unit, flow: Flow, walk: dict[str, Any], disputed: list[str], end: str | None
) -> Advance:
    save_cursor(u, CURSOR, end)
    result = dict(flow.data["result"])
    if disputed:  # the payments whose dispute alert this run raised, changed or resolved
        result[DISPUTED] = disputed
    return Advance(done=result, data={**flow.data, WALK: walk, DISPUTED: disputed})
