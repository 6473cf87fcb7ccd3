"""Tunable limits and durations. All times are milliseconds."""

from __future__ import annotations

import attrs

from paycore.errors import InvalidInput
from paycore.shown import shown

MINUTE = 60_000
HOUR = 60 * MINUTE
#: The longest any duration setting (``*_ms``) may be: ten years, 315,360,000,000 ms.
#: ``now + setting``, and ``backoff_base_ms`` doubled ten times, then stay far within a
#: signed 64-bit integer (what the SQL stores hold) for any realistic ``now``.
MAX_MS = 10 * 365 * 24 * HOUR


@attrs.frozen
class Config:
    """paycore's limits and durations; every one a whole number (bad ones refused as
    :class:`~paycore.errors.InvalidInput` when the config is made, see :data:`MAY_BE_ZERO`
    and :data:`MAY_BE_NONE`), at most :data:`MAX_MS` (ten years) for a duration and at
    most its :data:`MOST` for a count."""

    #: How long a checkout's stock stays held before the janitor may end its payment.
    reservation_ttl_ms: int = 15 * MINUTE
    #: How long stock stays held for a payment the provider is still processing
    #: (bank debits can take days), counted from the reservation's expiry. None
    #: holds it until the payment settles. After it, the janitor puts the stock back
    #: on sale; a late success then takes stock again if any is left, and is
    #: refunded automatically if not (S14).
    processing_hold_ms: int | None = None
    #: How long a checkout session id stays usable (replays after that are refused).
    checkout_session_ttl_ms: int = 24 * HOUR
    #: The provider forgets idempotency keys after this long.
    provider_key_retention_ms: int = 24 * HOUR
    #: Whether the provider answers a request sent again under its idempotency key with
    #: the first request's result (Stripe does: docs.stripe.com/api/idempotent_requests).
    #: Set False for one that ignores keys (localstripe, some emulators): a checkout or
    #: refund whose answer was lost then lists what exists before it sends anything
    #: again, and sends again only once ``create_landing_ms`` passed, so a lost refund
    #: is not made twice. Extra intents a late request still makes are canceled or
    #: refunded by the reconciler.
    provider_honours_keys: bool = True
    #: Failures other than transient ones (strikes) before the flow compensates or is
    #: dead-lettered.
    max_attempts: int = 8
    backoff_base_ms: int = 1_000
    backoff_cap_ms: int = 10 * MINUTE
    #: How many times a store transaction refused for a conflict with another one
    #: (serializable isolation) runs again before the conflict reaches the caller, after
    #: a random pause of up to ``store_conflict_pause_ms`` doubled per attempt (at most
    #: 100 ms), so that the transactions that collided do not collide again at once.
    store_conflict_retries: int = 10
    store_conflict_pause_ms: int = 1
    #: A worker's claim on a flow; after it lapses another worker may take over. A run
    #: takes it as it starts and each step's commit renews it, so it must outlast the
    #: longest provider call twice over (a step may make two calls in a row): with
    #: Stripe's adapter defaults one call is at most 3 tries of 30 s plus the SDK's
    #: sleeps, 100 s (``paycore_adapters.runtime.longest_call_ms``, which
    #: ``build_service`` checks). A longer lease only delays taking over the flows of an
    #: instance that died.
    lease_ms: int = 5 * MINUTE
    #: Safety bound on steps taken by one synchronous call.
    max_steps_per_run: int = 64
    max_lines: int = 100
    max_quantity: int = 10_000
    #: How far back the reconciler looks at the provider's intents.
    reconcile_window_ms: int = 48 * HOUR
    #: How long after the last request of an unanswered create a list that shows no
    #: intent proves that none was made. Nothing the provider documents bounds when a
    #: request whose answer never came may still land (stripe-python 16.x's
    #: ``RequestsClient`` gives up after 80 s, ``stripe/_http_client.py``; the server may
    #: go on): one that lands later still is an intent no payment records, which the
    #: reconciler cancels. A refund whose answer was lost waits as long before it is
    #: sent again (recorded in the refund's flow when it opens: an automatic refund
    #: takes its checkout's window); one that lands later is reported as
    #: ``refund_made_twice``.
    create_landing_ms: int = 5 * MINUTE
    #: Jobs handle at most this many items per run, so one run stays bounded.
    job_batch: int = 500
    #: A background job that fails this many runs in a row raises a ``job_failed`` alert
    #: (resolved by its next successful run).
    job_failures_before_alert: int = 3
    #: Transient provider failures (no answer, 5xx, rate limits) are retried this long
    #: before a flow gives up: as long as Stripe keeps retrying webhooks (3 days).
    retry_horizon_ms: int = 72 * HOUR
    #: A flow retrying transient failures this long raises one ``flow_stalled`` alert.
    stall_alert_after_ms: int = 15 * MINUTE
    #: How far back the reconciler looks for refunds made outside paycore (the
    #: provider's dashboard) whose webhook was lost: succeeded payments created within it.
    external_refund_window_ms: int = 90 * 24 * HOUR
    #: How long after a refund was made the refund sync still asks the provider about it
    #: once it succeeded, for a bank's late reversal whose webhook was lost: every run
    #: within ``reconcile_window_ms``, then once at 1 day, 7 days and this age (ages
    #: beyond it dropped). Stripe reports such a reversal as the refund's status going
    #: from ``succeeded`` to ``failed`` (docs/operations.md, "Refund sync").
    refund_follow_up_ms: int = 30 * 24 * HOUR
    #: How far this instance's clock may be from the database server's (either way)
    #: before ``paycore_adapters.runtime.build_service`` refuses to start on a store that
    #: can tell its server's time (PostgreSQL); later readings beyond it raise a
    #: ``clock_skewed`` alert. None is a twentieth of ``lease_ms`` (15 s of the default 5
    #: minutes). Two instances may then disagree by twice this, which shortens a lease as
    #: another instance sees it: ``build_service`` wants ``lease_ms`` to cover two
    #: provider calls and twice the tolerance (docs/operations.md, "Clocks").
    max_clock_skew_ms: int | None = None
    #: Whether a call sends the notifications it queued itself, after its commit (the
    #: outbox's first try, in the caller's thread: a webhook delivery's too). False
    #: leaves every send to the outbox job (``run_jobs``): no request then waits on the
    #: notifier, and a message goes out a round of jobs later.
    notify_in_requests: bool = True

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(Config):
            check_setting(field.name, getattr(self, field.name))


#: Settings that may be 0: no pause, no retry, no hold, no tolerance, no waiting out
#: an outage (``retry_horizon_ms``: a transient failure gives up at once).
MAY_BE_ZERO = frozenset(
    {
        "processing_hold_ms",
        "retry_horizon_ms",
        "backoff_base_ms",
        "store_conflict_retries",
        "store_conflict_pause_ms",
        "create_landing_ms",
        "stall_alert_after_ms",
        "max_clock_skew_ms",
    }
)
#: The most each count may be: far above any real use, and far within what every store
#: holds. ``max_quantity``: as ``catalog.MAX_STOCK``, no more of a product can be in stock.
MOST = {
    "max_attempts": 1_000,
    "store_conflict_retries": 1_000,
    "max_steps_per_run": 100_000,
    "max_lines": 10_000,
    "max_quantity": 1_000_000_000,
    "job_batch": 100_000,
    "job_failures_before_alert": 1_000,
}
#: Settings that are True or False.
SWITCHES = frozenset({"provider_honours_keys", "notify_in_requests"})
#: Settings whose None means something (see each one's comment).
MAY_BE_NONE = frozenset({"processing_hold_ms", "max_clock_skew_ms"})


#: The clock tolerance when ``Config.max_clock_skew_ms`` is None: ``lease_ms`` over this
#: (``paycore_adapters.clock_skew`` checks instances against it).
LEASE_FRACTION = 20


def clock_tolerance_ms(config: Config) -> int:
    """How far an instance's clock may be from the database server's:
    ``config.max_clock_skew_ms``, or a twentieth of ``lease_ms`` when it is None. Two
    instances within it may disagree by twice it; only PostgreSQL checks it (the memory
    and SQLite stores measure no clock), so a time another clock wrote further ahead
    than that was written by a clock that ran ahead (docs/operations.md, "Clocks")."""
    if config.max_clock_skew_ms is None:
        return config.lease_ms // LEASE_FRACTION
    return config.max_clock_skew_ms


def most(name: str) -> int:
    """The largest value the setting ``name`` (not a switch) may have."""
    return MAX_MS if name.endswith("_ms") else MOST[name]


def check_setting(name: str, value: object) -> None:
    """Raise InvalidInput for a setting that is not a whole number in its range."""
    if name in SWITCHES:
        if not isinstance(value, bool):
            raise InvalidInput(f"Config.{name} must be True or False", field=name)
        return
    if value is None and name in MAY_BE_NONE:
        return
    least, top = (0 if name in MAY_BE_ZERO else 1), most(name)
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= top:
        what = "ten years" if top == MAX_MS else "the most it may be"
        raise InvalidInput(
            f"Config.{name} must be a whole number from {least} to {top:,} ({what}), "
            f"not {shown(value)}",
            field=name,
        )
