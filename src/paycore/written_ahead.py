"""Times written by a clock that ran ahead: flow leases and retry times, reservation expiries.

A lease, a retry time or an expiry is written by the clock of the instance that wrote
it, and read by another's. Two instances each within the clock tolerance
(:func:`paycore.config.clock_tolerance_ms`) disagree by at most twice it, so no live
instance writes:

- a flow's ``lease_until`` further ahead of another's now than ``lease_ms`` plus twice
  the tolerance (a lease is its writer's now plus ``lease_ms``);
- a flow's ``next_run_at`` further ahead than the longest wait (``backoff_cap_ms``, or a
  lease) plus twice the tolerance;
- an order's ``expires_at`` further ahead than ``reservation_ttl_ms`` plus twice it.

One that is was written by a clock that ran ahead (a host whose time jumped, a restart
on a host whose clock differs: SQLite checks no clock at all). Left as it is it holds a
flow, or the stock of an abandoned checkout, for as long as the jump, unflagged: so
recovery (:func:`paycore.jobs.due_flows`) takes such a flow as lapsed and due, the
janitor ends such an order as expired now (its expiry, and its held reservations',
brought back to now), and each raises one ``clock_skewed`` alert (:data:`SUBJECT`)
naming them. The twice-the-tolerance slack is what keeps a live lease safe from a
reader whose clock is behind; beyond it, the flow's version fences a holder that is
still alive (what two instances cost is duplicate provider calls, never effects).

They are found through the status index, a batch per run going on from a cursor
(:func:`paycore.claims.take_read`): active flows and pending orders only (work in
flight, never the finished history), at most ``Config.job_batch`` rows a run, so a run
never reads every row. No index on the times themselves: a flow's ``next_run_at``
changes at every step, and an index on it would cost every step's write.
"""

from __future__ import annotations

from collections.abc import Sequence

from paycore import claims
from paycore import schema as s
from paycore.config import Config, clock_tolerance_ms
from paycore.records import Flow, Order
from paycore.status import FlowStatus, OrderStatus
from paycore.unit import Unit

#: The subject of the ``clock_skewed`` alert raised for times written ahead (the one
#: raised for a host whose clock is off, on PostgreSQL, names the host).
SUBJECT = "times-written-ahead"
#: How many ids the alert's message names.
NAMED = 5


def _slack(config: Config) -> int:
    return 2 * clock_tolerance_ms(config)


def lease_ahead(config: Config, flow: Flow, now: int) -> bool:
    """Was ``flow``'s lease written by a clock further ahead of ``now`` than any live one?"""
    return flow.lease_until > now + config.lease_ms + _slack(config)


def run_ahead(config: Config, flow: Flow, now: int) -> bool:
    """Was ``flow``'s retry time written by a clock further ahead than any live one?"""
    longest = max(config.backoff_cap_ms, config.lease_ms)
    return flow.next_run_at > now + longest + _slack(config)


def expiry_ahead(config: Config, order: Order, now: int) -> bool:
    """Was ``order``'s expiry written by a clock further ahead than any live one?"""
    return order.expires_at > now + config.reservation_ttl_ms + _slack(config)


def flows(u: Unit, config: Config, limit: int) -> list[Flow]:
    """Active flows of this run's batch whose lease or retry time was written ahead."""

    def read(after: str, n: int) -> list[Flow]:
        return u.claim(s.FLOWS, "status", FlowStatus.ACTIVE, n, after=after)

    batch = claims.take_read(u, "flows_written_ahead", read, lambda f: f.id, limit)
    return [f for f in batch if run_ahead(config, f, u.now) or lease_ahead(config, f, u.now)]


def orders(u: Unit, config: Config, limit: int) -> list[Order]:
    """Pending orders of this run's batch whose expiry was written ahead, each with its
    expiry and its held reservations' brought back to now (as the order is read)."""

    def read(after: str, n: int) -> list[Order]:
        return u.claim(s.ORDERS, "status", OrderStatus.PENDING, n, after=after)

    batch = claims.take_read(u, "orders_written_ahead", read, lambda o: o.id, limit)
    found: list[Order] = []
    for order in batch:
        if expiry_ahead(config, order, u.now):
            for r in u.find(s.RESERVATIONS, "order_id", order.id):
                if r.expires_at > u.now:
                    u.save(s.RESERVATIONS, r, expires_at=u.now)
            found.append(u.save(s.ORDERS, order, expires_at=u.now))
    return found


def report(u: Unit, config: Config, what: str, ids: Sequence[str]) -> None:
    """Raise (or count again) the ``clock_skewed`` alert for times written ahead."""
    if not ids:
        return
    named = ", ".join(ids[:NAMED]) + (f" and {len(ids) - NAMED} more" if len(ids) > NAMED else "")
    u.alert(
        "clock_skewed",
        SUBJECT,
        f"{what} {named}: written by a clock that ran ahead of this one (further ahead than "
        f"their setting plus twice the clock tolerance, {_slack(config)} ms); taken as due "
        'now. Check the hosts\' time sync (docs/operations.md, "Clocks")',
        records=len(ids),
    )
