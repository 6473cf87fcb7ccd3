"""What a service running paycore for real plugs in besides a store and a provider.

The in-memory wiring (:func:`paycore_adapters.memory.in_memory`) runs on a manual clock
and records alerts and notifications in lists, for tests and the demo. A service in
production needs the wall clock, alerts that reach its logs (and from there its
paging), a worker id of its own for every instance (leases and claims name it), and
the circuit breaker between the flows and the provider. :func:`build_service` puts
these together around any store and provider; the caller brings the notifier, since
only the service knows how it mails its customers and sellers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from paycore import wiring
from paycore.config import Config
from paycore.errors import InvalidInput
from paycore.ports import Alerts, Clock, Notifier, PaymentProvider, Store
from paycore.records import OutboxMessage
from paycore.tokens import RandomTokens

from .breaker import Breaker, BreakerProvider
from .clock_skew import ClockWatch, ServerTimed, WatchedService, tolerance_ms

log = logging.getLogger(__name__)

#: The Stripe adapter's defaults (``paycore_adapters.stripe_provider.DEFAULT_TIMEOUT_S``
#: and ``DEFAULT_RETRIES``), repeated so that this module needs no Stripe SDK.
STRIPE_TIMEOUT_S = 30.0
STRIPE_RETRIES = 2
#: The longest sleep of stripe-python 16.x between two tries of one request
#: (``HTTPClient.MAX_DELAY``, ``stripe/_http_client.py``, ``_sleep_time_seconds``).
SDK_MAX_RETRY_SLEEP_S = 5.0


def longest_call_ms(timeout_s: float, retries: int) -> int:
    """The longest one provider call can last: every try times out, with the SDK's
    longest sleep between two tries."""
    return int(((1 + retries) * timeout_s + retries * SDK_MAX_RETRY_SLEEP_S) * 1000)


def check_lease(config: Config, timeout_s: float, retries: int) -> None:
    """Refuse a ``lease_ms`` shorter than two of the longest provider calls and twice the
    clock tolerance: a step may make two calls in a row, a lease that lapses during a
    call lets another instance make the same call (``docs/operations.md``, "Leases"), and
    two instances each within the tolerance of the database server's clock may disagree
    by twice it, by which a lease ends early as the other sees it ("Clocks").

    Raises:
        InvalidInput: the lease is too short for the provider's timeout and retries and
            the clock tolerance.
    """
    skew = tolerance_ms(config)  # never negative: Config refuses that
    calls = 2 * longest_call_ms(timeout_s, retries)
    if config.lease_ms < calls + 2 * skew:
        raise InvalidInput(
            f"lease_ms={config.lease_ms} is shorter than two provider calls of "
            f"{retries + 1} tries of {timeout_s} s each ({calls} ms) and twice the clock "
            f"tolerance of {skew} ms (max_clock_skew_ms): raise lease_ms, or lower the "
            "provider's timeout or retries or the clock tolerance",
            field="lease_ms",
        )


class SystemClock:
    """The wall clock in milliseconds since the epoch, as the port's times are."""

    def now(self) -> int:
        return time.time_ns() // 1_000_000


class LoggingAlerts:
    """Alerts as ERROR records of the ``paycore_adapters.runtime`` logger, the alert's
    kind and fields in ``extra`` (``alert_kind``, ``alert_fields``) for a structured
    log handler to index. paycore's alerts name ids and amounts, never secrets."""

    def alert(self, kind: str, message: str, **fields: Any) -> None:
        log.error("alert %s: %s", kind, message, extra={"alert_kind": kind, "alert_fields": fields})


class LoggingNotifier:
    """A notifier that only logs what it would send: for local development, where no
    mail should leave. A service in production passes its own :class:`Notifier`."""

    def send(self, message: OutboxMessage) -> None:
        log.info(
            "notification %s for order %s",
            message.kind,
            message.order_id,
            extra={"outbox_id": message.id, "notification_kind": message.kind},
        )


def build_service(
    store: Store,
    provider: PaymentProvider,
    notifier: Notifier,
    *,
    config: Config | None = None,
    clock: Clock | None = None,
    alerts: Alerts | None = None,
    breaker: Breaker | None = None,
    worker_id: str | None = None,
    provider_timeout_s: float = STRIPE_TIMEOUT_S,
    provider_retries: int = STRIPE_RETRIES,
) -> WatchedService:
    """A :class:`PaymentService` for production: the wall clock, alerts to the log, random
    tokens, this instance's worker id, and ``provider`` behind a circuit breaker
    (:mod:`paycore_adapters.breaker`; give ``breaker`` to tune it or to share one).

    ``provider_timeout_s`` and ``provider_retries``: what the provider's adapter was
    built with (the Stripe adapter's defaults unless given); ``config.lease_ms`` must
    cover two such calls and twice the clock tolerance.

    On a store that can tell its server's time (PostgreSQL), the clock is measured
    against the server's first, and again when the jobs run
    (:mod:`paycore_adapters.clock_skew`); nothing is written before.

    Raises:
        InvalidInput: an argument of the wrong kind (named in ``field``), or
            ``config.lease_ms`` too short (:func:`check_lease`).
        ClockSkewed: the clock is further from the server's than the tolerance.
        OperationalError: the server's clock could not be read.
    """
    check_arguments(provider, provider_timeout_s, provider_retries)
    clock = SystemClock() if clock is None else clock  # not `or`: a wrong falsy one is refused
    alerts = LoggingAlerts() if alerts is None else alerts
    guarded = BreakerProvider(provider, breaker or Breaker(clock))
    service = WatchedService(  # checks every other part, the config and the worker id
        store,
        guarded,
        clock,
        alerts,
        notifier,
        config,
        worker_id,  # None: one no other instance shares (paycore.workers.instance_id)
        RandomTokens(),
    )
    check_lease(service.config, provider_timeout_s, provider_retries)
    if isinstance(store, ServerTimed):  # nothing was written before: building writes nothing
        service.clock_watch = ClockWatch(store, clock, service.config)
        service.clock_watch.start()
    return service


def check_arguments(provider: object, timeout_s: object, retries: object) -> None:
    """Refuse, by name, what :func:`build_service` takes that the service it builds
    cannot check itself (``PaymentService`` checks the other parts, the config and the
    worker id, once, :func:`paycore.wiring.check_service`): the provider, which the
    service sees only behind the breaker, and the provider's timeout and retries. A
    provider without the port's calls would fail as a provider outage, every checkout
    pending with its stock held; a timeout that is not a positive number would pass the
    lease check whatever the lease."""
    wiring.check_part("provider", provider)
    wiring.positive_seconds("provider_timeout_s", timeout_s)
    wiring.whole_number("provider_retries", retries)
