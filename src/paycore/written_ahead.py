"""Times written by a clock that ran ahead: flow leases and retry times, order expiries,
outbox messages' due times.

A lease, a retry time or an expiry is written by the clock of the instance that wrote
it, and read by another's. Two instances each within the clock tolerance
(:func:`paycore.config.clock_tolerance_ms`) disagree by at most twice it (the slack).
One written further ahead than that was written by a clock that ran ahead (a host whose
time jumped, a restart on a host whose clock differs: SQLite checks no clock at all).
Left as it is it holds a flow, or the stock of an abandoned checkout, for as long as
the jump, unflagged. What the reader's settings decide:

- the slack, twice the reader's own tolerance (its ``max_clock_skew_ms``, or a
  twentieth of its ``lease_ms`` when that is None), for every kind below. So the
  tolerance must be the same on every instance: one with a smaller tolerance than
  another's takes a clock within that other's tolerance for one that ran ahead (a false
  alert, a checkout's time to live shortened by the difference), and with
  ``max_clock_skew_ms=0`` any time a millisecond ahead.
- for flows only, a ``lease_ms`` or ``backoff_cap_ms`` longer than :data:`FLOOR_MS`.

Nothing else: not the reader's ``reservation_ttl_ms``, nor its ``lease_ms`` or
``backoff_cap_ms`` within the floor (another instance may run with others: a config
change, a rolling deploy), as long as the tolerance is the same. Each kind is judged so:

- **Orders**: an order's ``created_at`` and ``expires_at`` were written by the same
  clock in the same row. An order created further ahead of the reader's now than the
  slack was written ahead: its times (and its held reservations' expiries) are brought
  back by that offset, so a live checkout keeps its own time to live.
- **Flows**: a flow holds no time its lease's writer read (a field written at every take
  would cost every store and the harness's state). So a lease or a retry time is judged
  against a fixed floor no sane setting reaches: further ahead than
  ``max(setting, FLOOR_MS)`` plus the slack (the setting: ``lease_ms`` for a lease, the
  longer of ``backoff_cap_ms`` and ``lease_ms`` for a retry time). Settings within the
  floor may differ between instances freely; above it they must be the same on every
  instance. A jump shorter than the floor is not flagged: what it wrote lapses by itself
  within the floor plus the setting.

Recovery (:func:`paycore.jobs.due_flows`) takes such a flow as lapsed and due; the
janitor brings such an order's times back; the outbox job an unsent message's (by its
``created_at``, or its ``due_at`` past the floor, :func:`outbox`); each raises the
``clock_skewed`` alert of its kind (:data:`SUBJECT`, :data:`KINDS`) naming them. A due
flow's lease is judged as the due claim reads it (no read more). Flows not due, pending
orders and unsent messages are looked for by a sweep that reads every active one with a
plain ``find`` (no row lock: on PostgreSQL a claim would lock live rows their steps then
wait for), at most once per ``lease_ms`` for the whole installation: when each sweep last ran is
a cursor row of the store (:func:`sweep_due`), so an idle round reads one row more
than its due claim.
"""

from __future__ import annotations

from collections.abc import Sequence

from paycore import schema as s
from paycore.config import HOUR, Config, clock_tolerance_ms
from paycore.records import Cursor, Flow, Order
from paycore.status import FlowStatus, OrderStatus
from paycore.unit import Unit

#: The subject's prefix of the ``clock_skewed`` alerts raised for times written ahead, one
#: per kind (``times-written-ahead:orders``, ``:flows``, ``:outbox``); the one raised for a
#: host whose clock is off, on PostgreSQL, names the host.
SUBJECT = "times-written-ahead"
#: The kinds of records swept, each with its own alert, and what its message calls them.
KINDS = {
    "orders": "pending orders' expiries",
    "flows": "flows' leases or retry times",
    "outbox": "outbox messages' due times",
}
#: How many ids the alert's message names.
NAMED = 5
#: The least a lease or retry time must be ahead of the reader's now (plus the slack) to
#: be taken as written ahead, whatever the settings: one hour.
FLOOR_MS = HOUR


def _slack(config: Config) -> int:
    return 2 * clock_tolerance_ms(config)


def lease_ahead(config: Config, flow: Flow, now: int) -> bool:
    """Was ``flow``'s lease written by a clock further ahead of ``now`` than any live one?"""
    return flow.lease_until > now + max(config.lease_ms, FLOOR_MS) + _slack(config)


def run_ahead(config: Config, flow: Flow, now: int) -> bool:
    """Was ``flow``'s retry time written by a clock further ahead than any live one?"""
    longest = max(config.backoff_cap_ms, config.lease_ms, FLOOR_MS)
    return flow.next_run_at > now + longest + _slack(config)


def order_ahead(config: Config, order: Order, now: int) -> bool:
    """Was ``order`` written by a clock further ahead of ``now`` than any live one?"""
    return order.created_at > now + _slack(config)


def sweep_due(u: Unit, config: Config, what: str) -> bool:
    """Is the sweep ``what`` due (none in the last ``lease_ms``, by any instance)? If so
    it is noted as run now, in this transaction. A time noted further ahead than the
    slack (written ahead too) does not put the sweep off. The row is claimed: an
    instance that finds it held leaves the sweep to the holder."""
    name = f"swept:{what}"
    row = u.get(s.CURSORS, name)
    if row is None:
        u.create(s.CURSORS, Cursor(name, str(u.now)))
        return True
    value = row.value or ""
    last = int(value) if value.lstrip("-").isdigit() else None
    if last is not None and u.now - config.lease_ms < last <= u.now + _slack(config):
        return False
    held = u.claim(s.CURSORS, "name", name, 1)
    if not held:
        return False
    u.save(s.CURSORS, held[0], value=str(u.now))
    return True


def flows(u: Unit, config: Config, limit: int) -> list[Flow]:
    """Up to ``limit`` active flows whose lease or retry time was written ahead."""
    if limit <= 0 or not sweep_due(u, config, "flows_written_ahead"):
        return []
    now = u.now
    rows = u.find(s.FLOWS, "status", FlowStatus.ACTIVE)
    return [f for f in rows if run_ahead(config, f, now) or lease_ahead(config, f, now)][:limit]


def orders(u: Unit, config: Config) -> list[Order]:
    """Pending orders written ahead, each with its times and its held reservations'
    expiries brought back by how far its creation was ahead (as the order is read)."""
    if not sweep_due(u, config, "orders_written_ahead"):
        return []
    found: list[Order] = []
    for order in u.find(s.ORDERS, "status", OrderStatus.PENDING):
        if order_ahead(config, order, u.now):
            offset = order.created_at - u.now
            for r in u.find(s.RESERVATIONS, "order_id", order.id):
                if r.expires_at > u.now:
                    u.save(s.RESERVATIONS, r, expires_at=r.expires_at - offset)
            back = {"created_at": u.now, "expires_at": order.expires_at - offset}
            found.append(u.save(s.ORDERS, order, **back))
    return found


def outbox(u: Unit, config: Config) -> list[str]:
    """Unsent messages written ahead: one queued ahead (its ``created_at``, the same
    clock's as its ``due_at``) has both brought back by that offset; one retried or
    taken ahead (``due_at`` further ahead than a retry time may be) is due now."""
    if not sweep_due(u, config, "outbox_written_ahead"):
        return []
    found: list[str] = []
    longest = max(config.backoff_cap_ms, config.lease_ms, FLOOR_MS) + _slack(config)
    for msg in u.find(s.OUTBOX, "sent", False):
        if msg.created_at > u.now + _slack(config):
            offset = msg.created_at - u.now
            u.save(s.OUTBOX, msg, created_at=u.now, due_at=msg.due_at - offset)
        elif msg.due_at > u.now + longest:
            u.save(s.OUTBOX, msg, due_at=u.now)
        else:
            continue
        found.append(msg.id)
    return found


def report(u: Unit, config: Config, kind: str, ids: Sequence[str]) -> None:
    """Raise (or count again) the ``clock_skewed`` alert of ``kind`` (a key of
    :data:`KINDS`): subject ``times-written-ahead:<kind>``, so one kind's raise never
    replaces what another's named. Its ``records`` add up while it is open (``latest``:
    this raise's); its message names this raise's ids."""
    if not ids:
        return
    subject = f"{SUBJECT}:{kind}"
    current = u.get(s.ALERTS, f"clock_skewed:{subject}")
    before = current.fields.get("records") if current is not None and current.open else 0
    total = len(ids) + (before if isinstance(before, int) else 0)
    named = ", ".join(ids[:NAMED]) + (f" and {len(ids) - NAMED} more" if len(ids) > NAMED else "")
    u.alert(
        "clock_skewed",
        subject,
        f"{KINDS[kind]} {named}: written by a clock that ran ahead of this one (created "
        f"after its now, or further ahead than their setting or an hour, plus twice this "
        f"instance's clock tolerance, {_slack(config)} ms); brought back to this clock (a "
        "flow or message due now, an order with its time to live from now). Check the "
        "hosts' time sync, and that every instance has the same lease_ms and "
        'max_clock_skew_ms (docs/operations.md, "Clocks")',
        records=total,
        latest=len(ids),
    )
