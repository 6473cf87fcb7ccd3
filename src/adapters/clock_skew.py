"""How far this instance's clock is from its database server's, and what is done about it.

A lease is a time: an instance writes ``lease_until`` from its own clock, and another one
takes the flow over once its own clock passes it. An instance whose clock runs ahead
takes live flows early (the provider is then called twice under the same keys: no effect
twice, but two answers for one flow), and one whose clock runs behind has its own flows
taken early. On one database several instances share, the server's clock is the one
every instance can reach, so each instance measures itself against it
(docs/operations.md, "Clocks"):

* as it starts (:func:`paycore_adapters.runtime.build_service`): beyond the tolerance
  (``Config.max_clock_skew_ms``, a twentieth of ``lease_ms`` unless set) it refuses to
  start, with :class:`paycore.errors.ClockSkewed`, before it writes anything;
* again when its jobs run, at most once per ``lease_ms`` (:class:`WatchedService`):
  beyond the tolerance, a ``clock_skewed`` alert for the host, closed by the first later
  reading within it. The jobs still run: the leases are
  fenced (a flow's version), so what skew costs is duplicate provider calls, not effects.

A reading brackets one read of the server's clock with two of this instance's, on a
connection the store took before the first (waiting for one is not the round trip): the
server read its clock somewhere in between, so the offset is known to within half the
round trip, which counts against the tolerance. The quickest of :data:`SAMPLES`
readings is kept (as NTP keeps its quickest exchanges); one during which this clock went
back is no reading. Nothing is read during a lifecycle: the requests' transactions send
no statement more.

The tolerance is checked against the server because it is the one clock every instance
reaches; a refusal of every instance at once is the server's clock that is off, and the
message says so.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import attrs

from paycore.config import Config
from paycore.errors import ClockSkewed, OperationalError, PaycoreError
from paycore.flows.engine import Engine
from paycore.ports import Clock
from paycore.results import JobReport
from paycore.service import PaymentService

log = logging.getLogger(__name__)

#: Readings per measure; the quickest is kept.
SAMPLES = 3
#: The tolerance when ``Config.max_clock_skew_ms`` is None: ``lease_ms`` over this.
LEASE_FRACTION = 20
#: How a ``clock_skewed`` alert is closed when a later reading finds the clock in step.
IN_STEP = "a later reading found the clock within the tolerance"


@runtime_checkable
class ServerTimed(Protocol):
    """A store that can tell its server's clock (the PostgreSQL store does)."""

    def server_readings(self, local: Callable[[], int], samples: int) -> list[tuple[int, int, int]]:
        """``samples`` readings of the server's clock, on one connection taken before the
        first: for each, (``local()`` just before the statement, the server's clock in ms
        since the Unix epoch, ``local()`` just after it).

        Raises:
            OperationalError: the server could not be read.
        """


@attrs.frozen
class SkewReading:
    """One measure of this instance's clock against the server's."""

    #: This clock minus the server's: positive, this instance is ahead.
    offset_ms: int
    #: How wrong ``offset_ms`` may be: half the round trip of the reading.
    uncertainty_ms: int
    #: This instance's clock when it was taken.
    at_ms: int

    @property
    def bound_ms(self) -> int:
        """How far apart the two clocks may be, at most."""
        return abs(self.offset_ms) + self.uncertainty_ms

    def describe(self) -> str:
        way = "ahead of" if self.offset_ms >= 0 else "behind"
        return f"{abs(self.offset_ms)} ms {way} the database server's (± {self.uncertainty_ms} ms)"


def tolerance_ms(config: Config) -> int:
    """``config.max_clock_skew_ms``, or a twentieth of ``lease_ms`` when it is None."""
    if config.max_clock_skew_ms is None:
        return config.lease_ms // LEASE_FRACTION
    return config.max_clock_skew_ms


def measure(server: ServerTimed, clock: Clock, samples: int = SAMPLES) -> SkewReading:
    """The quickest of ``samples`` readings of ``server``'s clock against ``clock``.

    Raises:
        OperationalError: the server could not be read (the store's error).
    """
    best: SkewReading | None = None
    for before, server_ms, after in server.server_readings(clock.now, max(1, samples)):
        trip = after - before
        if trip < 0:
            continue  # this clock went back meanwhile (a step): the reading says nothing
        reading = SkewReading(before + trip // 2 - server_ms, (trip + 1) // 2, after)
        if best is None or reading.uncertainty_ms < best.uncertainty_ms:
            best = reading
    if best is None:
        raise OperationalError("the clock went back during every reading of the server's")
    return best


def skew_message(reading: SkewReading, tolerance: int) -> str:
    """What a reading beyond the tolerance means, and where to look."""
    return (
        f"this instance's clock is {reading.describe()}, beyond the tolerance of "
        f"{tolerance} ms (Config.max_clock_skew_ms): leases would lapse early between "
        "instances. Check this host's NTP daemon (chrony, systemd-timesyncd); if every "
        "instance finds itself off by about as much, the database server's clock is the "
        "one that is off"
    )


def refuse_skew(reading: SkewReading, tolerance: int) -> None:
    """Raise :class:`ClockSkewed` when ``reading`` may be beyond ``tolerance`` ms."""
    if reading.bound_ms > tolerance:
        raise ClockSkewed(
            skew_message(reading, tolerance),
            offset_ms=reading.offset_ms,
            uncertainty_ms=reading.uncertainty_ms,
            tolerance_ms=tolerance,
        )


class ClockWatch:
    """Measures an instance's clock against its store's server: at start (refusing a
    skew beyond the tolerance) and when :meth:`due`, at most once per ``lease_ms``. Its
    alert's subject is the host (the clock is the host's, whichever process reads it)."""

    def __init__(self, server: ServerTimed, clock: Clock, config: Config) -> None:
        self.server, self.clock = server, clock
        self.tolerance_ms = tolerance_ms(config)
        self.every_ms = config.lease_ms
        self.host = socket.gethostname()
        #: The last reading taken (None before the first).
        self.last: SkewReading | None = None
        #: This clock when a reading was last tried, taken or not (None before the first).
        self.tried_ms: int | None = None

    def start(self) -> SkewReading:
        """Measure, and refuse a skew beyond the tolerance.

        Raises:
            ClockSkewed: beyond the tolerance.
            OperationalError: the server could not be read.
        """
        self.tried_ms = self.clock.now()
        self.last = measure(self.server, self.clock)
        refuse_skew(self.last, self.tolerance_ms)
        return self.last

    def due(self) -> bool:
        """A lease passed since the last try, or this clock went back since: a step back
        is what the readings watch for, so it never puts the next one off."""
        if self.tried_ms is None:
            return True
        elapsed = self.clock.now() - self.tried_ms
        return not 0 <= elapsed < self.every_ms

    def recheck(self, engine: Engine) -> None:
        """Measure again: beyond the tolerance, raise the host's ``clock_skewed`` alert
        (a row of the store, as every alert is); within it, close that alert if it is open.
        A reading too slow to tell (its uncertainty alone beyond the tolerance: a loaded
        server or network) decides nothing either way. Never raises: a server or store
        that fails is logged, and the caller goes on; either waits for the next lease."""
        self.tried_ms = self.clock.now()
        try:
            self.last = reading = measure(self.server, self.clock)
            if reading.uncertainty_ms > self.tolerance_ms:
                log.warning(
                    "the clock's reading was too slow to tell (± %d ms, tolerance %d ms)",
                    reading.uncertainty_ms,
                    self.tolerance_ms,
                )
                return
            try:
                refuse_skew(reading, self.tolerance_ms)
            except ClockSkewed as exc:
                skewed = exc
                engine.transact(
                    lambda u: u.alert("clock_skewed", self.host, skewed.message, **skewed.fields)
                )
            else:
                engine.transact(lambda u: u.resolve_alert("clock_skewed", self.host, IN_STEP))
        except PaycoreError as exc:
            log.warning("the clock was not measured against the server's: %s", exc.code)


class WatchedService(PaymentService):
    """A :class:`PaymentService` whose background jobs first measure the clock again
    when a lease passed since the last reading (:class:`ClockWatch`): ``run_jobs`` and
    each job run on its own alike, so a shop that schedules them one by one is watched
    too. What :func:`paycore_adapters.runtime.build_service` returns; ``clock_watch`` is
    None on a store with no server clock (memory, SQLite: one host, one clock)."""

    clock_watch: ClockWatch | None = None

    def _watch(self) -> None:
        watch = self.clock_watch
        if watch is not None and watch.due():
            watch.recheck(self.engine)

    def run_jobs(self) -> JobReport:
        self._watch()
        return super().run_jobs()

    def run_janitor(self) -> int:
        self._watch()
        return super().run_janitor()

    def run_recovery(self) -> tuple[int, int]:
        self._watch()
        return super().run_recovery()

    def run_reconciler(self) -> tuple[int, int]:
        self._watch()
        return super().run_reconciler()

    def dispatch_notifications(self) -> int:
        self._watch()
        return super().dispatch_notifications()
