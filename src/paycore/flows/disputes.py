"""Disputes (chargebacks): an alert that names the order, raised as the event comes in.

A customer's bank can take a card payment back (a dispute, or chargeback): the provider
withdraws the money and the shop may answer with evidence until a due date; the bank
then decides (docs.stripe.com/disputes). Stripe tells of it with ``charge.dispute.*``
events whose object is the dispute (docs.stripe.com/api/events/types): ``created``,
``updated``, ``funds_withdrawn``, ``funds_reinstated`` and ``closed`` (its status then
``won`` or ``lost``). The dispute names the disputed ``payment_intent`` (may be null for a
charge made without one), its ``amount`` and lowercase ``currency``, a ``reason``, a
``status`` (``warning_needs_response``, ``warning_under_review``, ``warning_closed``,
``needs_response``, ``under_review``, ``won``, ``lost``, ``prevented``, and the
``appeal_*`` ones) and ``evidence_details.due_by`` (seconds, or null)
(docs.stripe.com/api/disputes/object; stripe-python 16.1.0 ``stripe/_dispute.py``).

paycore does not decide anything about a dispute: it makes sure someone hears of it
before the order ships. An event about a dispute of a payment paycore made (found by its
intent) raises or updates the ``payment_disputed`` alert of that payment, in the
transaction that records the event, from the event's own object (no provider read).

A status only moves forward: statuses are ranked (:data:`RANK`: ``warning_needs_response``
< ``warning_under_review`` < ``warning_closed`` < ``needs_response`` < ``under_review`` <
the closed ``won``, ``lost``, ``prevented``; an unknown one just below the closed, and
any known status replaces an unknown one), and an event or listing that would move a
dispute back (a late or redelivered older event) or reopen a decided one changes nothing.
An inquiry that closed may still become a chargeback under the same dispute id, which
moves it forward.

One payment may have several disputes: the dispute is per charge, an intent may have
several charges, and an inquiry that closed may be followed by a chargeback that comes as
a new dispute object (Square's Disputes API says a later chargeback after a closed inquiry
"may update the existing dispute, or it may arrive as a new dispute", and tells
integrations to handle both; Stripe documents neither way). So the alert keeps each known
dispute's status in its fields (``dispute:<id>``), and its state follows all of them:

- while any known dispute of the payment is open or lost, the alert is open, naming the
  order, the amount, the reason and the due date: do not ship, answer in the provider's
  dashboard (``lost``, ``prevented`` or another closed status: the money is gone);
- once every known dispute is ``won`` or ``warning_closed`` (an inquiry that closed), the
  alert is resolved, saying so.

Its message and main fields describe the most urgent dispute not kept (lost first, then
the earliest due date awaiting evidence, then any other open one), whichever changed
last, and name the others briefly; each other dispute's facts are kept in ``about:<id>``
so that it can lead once the first is settled.

A dispute of an intent no payment holds is not ours; a dispute object paycore cannot
read is acknowledged as ``ignored:unusable_dispute``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from paycore import schema as s
from paycore.catalog import ident
from paycore.errors import InvalidInput
from paycore.money import MAX_AMOUNT
from paycore.outcomes import WebhookOutcome
from paycore.ports import DisputeView, ProviderEvent
from paycore.records import Payment
from paycore.unit import Unit

KIND = "payment_disputed"
#: Closed statuses that leave the shop its money (the bank decided for it, or an inquiry
#: closed without becoming a chargeback).
KEPT = frozenset({"won", "warning_closed"})
#: Statuses after which the dispute does not change again (an inquiry that closed may
#: still become a chargeback: it is kept, not closed).
CLOSED = frozenset({"won", "lost", "prevented"})
#: How far along a status is: a dispute never moves to a lower rank (an unknown status
#: ranks just below the closed ones).
RANK = {
    "warning_needs_response": 1,
    "warning_under_review": 2,
    "warning_closed": 3,
    "needs_response": 4,
    "under_review": 5,
    **{closed: 7 for closed in CLOSED},
}
_UNKNOWN_RANK = 6
#: The prefix of the alert's fields that keep each dispute's status.
EACH = "dispute:"
#: The prefix of the alert's fields that keep the facts of each dispute other than the
#: one it leads with (:func:`_about`).
ABOUT = "about:"
#: The latest due date read (the last second of year 9999: what a date can show).
LAST_DUE_S = 253_402_300_799
EVENT_TYPES = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    }
)


@attrs.frozen
class Dispute:
    """What paycore reads of a dispute object."""

    id: str
    intent_id: str | None
    amount: int
    currency: str
    reason: str
    status: str
    due_by: int | None


def read(event: ProviderEvent) -> Dispute | None:
    """The event's dispute; None when its object cannot be read as one."""
    return read_object(event.object_id, event.snapshot)


def read_object(dispute_id: str, snap: object) -> Dispute | None:
    """The dispute object ``snap`` (an event's, or a listed one's); None when it cannot be
    read as one."""
    if not isinstance(snap, Mapping):
        return None
    intent, amount = snap.get("payment_intent"), snap.get("amount")
    texts = [snap.get(k) for k in ("currency", "reason", "status")]
    details = snap.get("evidence_details")
    due = details.get("due_by") if isinstance(details, Mapping) else None
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_AMOUNT:
        return None
    if not all(isinstance(t, str) and t for t in texts):
        return None
    if due is not None and (
        isinstance(due, bool) or not isinstance(due, int) or not 0 <= due <= LAST_DUE_S
    ):
        return None
    try:
        if intent is not None:
            ident("dispute payment_intent", intent)
        for value in texts:
            ident("dispute field", value)
    except InvalidInput:
        return None
    currency, reason, status = (str(t) for t in texts)
    return Dispute(dispute_id, intent, amount, currency.upper(), reason, status, due)


def screen(event: ProviderEvent) -> WebhookOutcome | None:
    """The ignored outcome of a dispute event paycore cannot use, before any read."""
    dispute = read(event)
    if dispute is None:
        return WebhookOutcome.UNUSABLE_DISPUTE
    if dispute.intent_id is None:
        return WebhookOutcome.NOT_OURS  # no intent: not a charge paycore made
    return None


def outcome(u: Unit, event: ProviderEvent) -> WebhookOutcome:
    """What a dispute event taken with no flow tells the endpoint: not ours when no
    payment holds its intent."""
    dispute = read(event)
    if dispute is None or _payment(u, dispute) is None:
        return WebhookOutcome.NOT_OURS
    return WebhookOutcome.PROCESSED


def _payment(u: Unit, dispute: Dispute) -> Payment | None:
    rows: list[Payment] = u.find(s.PAYMENTS, "provider_intent_id", dispute.intent_id)
    return rows[0] if len(rows) == 1 else None


def take(u: Unit, event: ProviderEvent) -> None:
    """What a dispute event does: :func:`apply` its dispute."""
    dispute = read(event)
    if dispute is not None:
        apply(u, dispute)


def take_listed(u: Unit, view: DisputeView) -> str | None:
    """What a dispute the reconciler listed does (its events may all have been lost):
    exactly what its event would, through :func:`apply`. The id of the payment whose alert
    changed, or None (not readable, not ours, or no news)."""
    dispute = read_object(view.id, view.snapshot)
    return apply(u, dispute) if dispute is not None else None


def apply(u: Unit, dispute: Dispute) -> str | None:
    """Raise, update or resolve the ``payment_disputed`` alert of the dispute's payment
    (nothing for a dispute of a payment paycore did not make): the one place that decides
    what a dispute does, whether its event or the reconciler's listing told of it. The
    payment's id when its alert changed, else None."""
    payment = _payment(u, dispute) if dispute.intent_id is not None else None
    if payment is None:
        return None
    current = u.tx.get(s.ALERTS, f"{KIND}:{payment.id}")
    was: Mapping[str, Any] = current.fields if current is not None else {}
    known = _known(was)
    if not _forward(known.get(dispute.id), dispute.status):
        return None  # decided, no news, or a late older event: changes nothing
    known[dispute.id] = dispute.status
    every = {**_facts(was, known), dispute.id: dispute}
    kept = _all_kept(known)
    # The alert leads with the most urgent dispute (the one just closed when every one
    # is kept), whichever changed last; the others are named after it.
    lead = dispute if kept else min(every.values(), key=_urgency)
    others = [every[d] for d in sorted(every) if d != lead.id]
    fields: dict[str, Any] = {
        "order_id": payment.order_id,
        "payment_id": payment.id,
        "dispute_id": lead.id,
        "amount": lead.amount,
        "currency": lead.currency,
        "reason": lead.reason,
        "status": lead.status,
        "due_by": lead.due_by,
        **{f"{EACH}{d}": st for d, st in known.items()},
        **{f"{ABOUT}{d.id}": _about(d) for d in others},
    }
    message = _message(payment, lead) + _also(others)
    if current is not None and dispute.status in KEPT and not kept:
        # Another dispute is still open or lost: the alert is updated, not raised again.
        u.save(s.ALERTS, current, message=message, fields=fields)
        return payment.id
    row = u.alert("payment_disputed", payment.id, message, **fields)
    if dict(row.fields) != fields:  # an open alert keeps its fields: this status is news
        u.save(s.ALERTS, row, fields=fields)
    if kept:
        u.resolve_alert(
            KIND,
            payment.id,
            f"dispute {dispute.id} closed as {dispute.status}: the shop keeps the money "
            f"of order {payment.order_id}, which may ship",
        )
    return payment.id


def _facts(fields: Mapping[str, Any], known: Mapping[str, str]) -> dict[str, Dispute]:
    """What the alert's fields keep of each known dispute, with its status: the one it
    leads with in its main fields, each other in ``about:<id>`` (a dispute whose facts
    an older alert did not keep has its status only: amount -1)."""
    out: dict[str, Dispute] = {}
    for d, status in known.items():
        text = fields.get(f"{ABOUT}{d}")
        if d == fields.get("dispute_id"):
            amount, due = fields.get("amount"), fields.get("due_by")
            out[d] = Dispute(
                d,
                None,
                amount if isinstance(amount, int) else -1,
                str(fields.get("currency") or ""),
                str(fields.get("reason") or ""),
                status,
                due if isinstance(due, int) else None,
            )
        elif isinstance(text, str) and len(parts := text.split(" ")) == 4:
            amount_s, currency, reason, due_s = parts
            due_by = int(due_s) if due_s.isdigit() else None
            amount_i = int(amount_s) if amount_s.isdigit() else -1
            out[d] = Dispute(d, None, amount_i, currency, reason, status, due_by)
        else:
            out[d] = Dispute(d, None, -1, "", "", status, None)
    return out


def _about(d: Dispute) -> str:
    """A dispute's facts in one field: ``<amount> <currency> <reason> <due_by or ->``."""
    due = "-" if d.due_by is None else str(d.due_by)
    return f"{d.amount if d.amount >= 0 else '-'} {d.currency or '-'} {d.reason or '-'} {due}"


def _urgency(d: Dispute) -> tuple[int, int, str]:
    """Lost (or another closed status that is not kept) first, then the earliest due
    date of a dispute awaiting a response, then any other open one; kept ones last."""
    if d.status in KEPT:
        return (3, 0, d.id)
    if d.status in CLOSED:
        return (0, 0, d.id)
    if d.due_by is not None and d.status.endswith("needs_response"):
        return (1, d.due_by, d.id)
    return (2, 0, d.id)


def _also(others: list[Dispute]) -> str:
    """The other disputes of the payment, briefly."""
    if not others:
        return ""
    told = []
    for d in others:
        what = f"{d.id} {d.status}"
        if d.amount >= 0:
            what += f" {d.amount} {d.currency}"
        if d.due_by is not None and d.status not in CLOSED | KEPT:
            what += f" due {_when(d.due_by)}"
        told.append(what)
    return "; also on this payment: " + ", ".join(told)


def _when(due_by: int) -> str:
    return datetime.fromtimestamp(due_by, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _known(fields: Mapping[str, Any]) -> dict[str, str]:
    """Each dispute's status the alert's fields keep (an alert raised before they were
    kept names its one dispute in ``dispute_id`` and ``status``)."""
    known = {k[len(EACH) :]: str(v) for k, v in fields.items() if k.startswith(EACH)}
    if not known and isinstance(fields.get("dispute_id"), str):
        known[fields["dispute_id"]] = str(fields.get("status"))
    return known


def _rank(status: str) -> int:
    return RANK.get(status, _UNKNOWN_RANK)


def _forward(was: str | None, status: str) -> bool:
    """Is ``status`` news after ``was``: a first status, or a move forward from an open
    one (a status of the same rank but another name, an unknown one, counts). A known
    status always replaces an unknown one: an unknown status must not hide a later
    chargeback's due date."""
    if was is None:
        return True
    if was not in RANK and status in RANK:
        return True
    return was not in CLOSED and status != was and _rank(status) >= _rank(was)


def _all_kept(known: Mapping[str, str]) -> bool:
    return bool(known) and all(st in KEPT for st in known.values())


def _message(payment: Payment, d: Dispute) -> str:
    what = (
        f"payment {payment.id} of order {payment.order_id} is disputed (dispute {d.id}, "
        f"{d.amount if d.amount >= 0 else 'amount unknown'} {d.currency}, reason "
        f"{d.reason or 'unknown'}, status {d.status})"
    )
    if d.status in KEPT:
        return f"{what}: closed in the shop's favour, the money stays"
    if d.status in CLOSED:
        return (
            f"{what}: the dispute is {d.status}, the money is gone for good; do not ship "
            "the order (or get it back), and close this alert once that is settled"
        )
    due = f" before {_when(d.due_by)}" if d.due_by is not None else ""
    taken = (
        "an inquiry: the bank may take the money back"
        if d.status.startswith("warning_")
        else "the provider has taken the money back until the bank decides"
    )
    return (
        f"{what}: {taken}; do not ship the order, and respond with evidence in the "
        f"provider's dashboard{due}; do not refund it (the dispute decides the money)"
    )
