"""The attention list and closing alerts: what needs a human, and what they did about it.

The attention list is every open alert, plus any dead flow or waiting orphan case that
has none (an operator closing an alert never hides unfinished work). Closing an alert
records what was done; closing a ``refund_failed`` alert while its money is not back is
refused unless the operator says it went back another way (:func:`resolve_alert`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from paycore import schema as s
from paycore.catalog import flag, text
from paycore.errors import AlertNotFound, InvalidInput
from paycore.records import Alert
from paycore.shown import shown_id
from paycore.status import FlowStatus, OrderStatus, RefundStatus
from paycore.unit import Unit, storable

#: Orders whose money paycore decided to return, and the refunds that return it.
_DECIDED = (OrderStatus.REFUNDED, OrderStatus.OUT_OF_STOCK)
_LIVE = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)


@attrs.frozen
class AttentionItem:
    """One thing a human should look at.

    ``kind`` is the alert's kind (``flow_dead_lettered``, ``refund_failed``, ...), or
    ``flow_dead`` for a dead flow with no open alert; ``subject`` is what it is about
    (a flow id, an intent id, a refund id); ``alert_id`` is set when it is an alert,
    to resolve it with.
    """

    kind: str
    subject: str
    message: str
    since: int
    count: int = 1
    alert_id: str | None = None
    fields: Mapping[str, Any] = attrs.field(factory=dict)


def attention(u: Unit) -> list[AttentionItem]:
    """Every open alert; every dead flow and every orphan case waiting for the bank
    that has no open alert of its own; oldest first."""
    alerts: list[Alert] = u.find(s.ALERTS, "open", True)
    items = [
        AttentionItem(a.kind, a.subject, a.message, a.raised_at, a.count, a.id, a.fields)
        for a in alerts
    ]
    flagged = {a.subject for a in alerts if a.kind == "flow_dead_lettered"}
    for flow in u.find(s.FLOWS, "status", FlowStatus.DEAD):
        if flow.id not in flagged:
            items.append(
                AttentionItem(
                    "flow_dead",
                    flow.id,
                    f"flow {flow.id} ({flow.kind}) is dead at step {flow.step}: {flow.last_error}",
                    flow.created_at,
                    fields={"flow_id": flow.id, "flow_kind": flow.kind},
                )
            )
    reported = {a.subject for a in alerts if a.kind == "orphan_intent"}
    for case in u.find(s.ORPHANS, "action", "waiting"):
        if case.provider_intent_id not in reported:
            items.append(
                AttentionItem(
                    "orphan_waiting",
                    case.provider_intent_id,
                    f"provider intent {case.provider_intent_id} ({case.provider_status}) has "
                    "no local payment; it is handled once the bank has settled it",
                    case.found_at,
                    fields={"intent_id": case.provider_intent_id},
                )
            )
    return sorted(items, key=lambda i: (i.since, i.kind, i.subject))


def resolve_alert(u: Unit, alert_id: object, resolution: object, force: bool = False) -> Alert:
    """Close an open alert (``<kind>:<subject>``), saying what was done about it.

    A ``refund_failed`` alert is the record that money paycore decided to return (an
    order refunded, or closed out of stock) is not back; closing the last one of its
    payment while that money is not covered by pending or succeeded refunds is refused:
    refund it again (``create_refund``), and the alert closes by itself. ``force`` says
    the money went back outside paycore: the alert closes with ``settled_outside`` in its
    fields, which ``decided-refunds-covered`` accepts as the record of that settlement."""
    force = flag("force", force)  # the money went back outside paycore: a decision
    if not isinstance(resolution, str) or not resolution.strip():
        raise InvalidInput("say what was done about the alert: resolution must be text")
    text("resolution", resolution)  # text every store can hold
    # An id no store can hold names no alert, on any store.
    row = u.get(s.ALERTS, alert_id) if isinstance(alert_id, str) and storable(alert_id) else None
    if row is None or not row.open:
        raise AlertNotFound(
            f"no open alert {shown_id(alert_id)}: list them with `paycore attention`",
            alert_id=shown_id(alert_id) if isinstance(alert_id, str) else None,
        )
    if row.kind == "refund_failed":
        missing = _uncovered(u, row)
        if missing and not force:
            raise InvalidInput(
                f"{missing} of payment {row.fields.get('payment_id')} that paycore decided to "
                "return is not covered by a pending or succeeded refund, and this alert is "
                "what records it: refund it again with create_refund (the alert then closes "
                "by itself), or, if the money went back outside paycore, resolve with "
                "force (--force)",
                alert_id=row.id,
            )
        if missing:
            u.save(s.ALERTS, row, fields={**row.fields, "settled_outside": True})
    u.resolve_alert(row.kind, row.subject, resolution)
    resolved = u.get(s.ALERTS, row.id)
    assert resolved is not None
    return resolved


def _uncovered(u: Unit, alert: Alert) -> int:
    """What closing this ``refund_failed`` alert would leave decided, not back and alerted
    by nothing (``decided-refunds-covered``): 0 when nothing."""
    payment = u.get(s.PAYMENTS, str(alert.fields.get("payment_id")))
    order = u.get(s.ORDERS, payment.order_id) if payment is not None else None
    if payment is None or order is None or order.status not in _DECIDED:
        return 0
    refunds = u.find(s.REFUNDS, "payment_id", payment.id)
    live = sum(r.amount.amount for r in refunds if r.status in _LIVE)
    others = [
        a
        for r in refunds
        if (a := u.get(s.ALERTS, f"refund_failed:{r.id}")) is not None
        and a.open
        and a.id != alert.id
    ]
    return 0 if others else max(payment.amount_received - live, 0)
