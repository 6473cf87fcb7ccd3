"""An instance's clock against its database server's (paycore_adapters.clock_skew):
measured at start, refused beyond the tolerance, measured again when the jobs run, and
counted into the lease check. The server here is a store with a clock of its own, so
every time is the test's: no wall clock."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from paycore.config import MINUTE, Config
from paycore.errors import InvalidInput, OperationalError, PaycoreError
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.service import PaymentService
from paycore_adapters.clock_skew import WatchedService
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import EPOCH_MS, ManualClock, RecordingAlerts, RecordingNotifier
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.runtime import STRIPE_RETRIES, STRIPE_TIMEOUT_S, build_service, check_lease

SECOND = 1_000
#: The default tolerance: a twentieth of the default lease (5 minutes).
TOLERANCE = 15 * SECOND


class SteppingClock(ManualClock):
    """A host clock a time daemon may step back (ManualClock only goes forward)."""

    def step_back(self, ms: int) -> None:
        self._now -= ms


class ServerStore(MemoryStore):
    """A memory store whose "server" has a clock of its own; each reading of it takes
    ``trip_ms`` of the instance's clock (the round trip), and can be made to fail.
    ``wait_ms``: how long the connection took to get, before the readings."""

    def __init__(self, server: ManualClock, instance: SteppingClock) -> None:
        super().__init__()
        self.server, self.instance = server, instance
        self.trips: list[int] = []  # the round trip of each reading, the last one repeated
        self.asked = 0
        self.down = False
        self.wait_ms = 0
        self.step_back_ms = 0  # the host's clock is stepped back during the next reading

    def server_readings(self, local: Callable[[], int], samples: int) -> list[tuple[int, int, int]]:
        if self.down:
            raise OperationalError("cannot reach the server")
        self._pass(self.wait_ms)
        return [self._reading(local) for _ in range(samples)]

    def _reading(self, local: Callable[[], int]) -> tuple[int, int, int]:
        self.asked += 1
        trip = self.trips.pop(0) if len(self.trips) > 1 else (self.trips or [0])[0]
        before = local()
        self._pass(trip // 2)  # the server reads its clock halfway through the trip
        now = self.server.now()
        self._pass(trip - trip // 2)
        self.instance.step_back(self.step_back_ms)
        self.step_back_ms = 0
        return before, now, local()

    def _pass(self, ms: int) -> None:
        self.instance.advance(ms)
        self.server.advance(ms)


def wiring(skew_ms: int) -> tuple[ServerStore, ManualClock, SteppingClock]:
    server = ManualClock()
    instance = SteppingClock(EPOCH_MS + skew_ms)
    return ServerStore(server, instance), server, instance


def build(store: ServerStore, clock: ManualClock, **kw: object) -> WatchedService:
    provider = FakeProvider(clock)
    provider.set_account("acct_1")
    return build_service(store, provider, RecordingNotifier(), clock=clock, **kw)  # type: ignore[arg-type]


def refusal(store: ServerStore, clock: ManualClock, **kw: object) -> PaycoreError:
    with pytest.raises(PaycoreError) as caught:
        build(store, clock, **kw)
    return caught.value


class TestStart:
    def test_a_clock_ahead_beyond_the_tolerance_is_refused_and_nothing_is_written(self) -> None:
        """A minute ahead of the server: build_service raises clock_skewed with the
        measured offset, and the store is left as it was."""
        store, _, clock = wiring(MINUTE)
        before = store.fingerprint()
        err = refusal(store, clock)
        assert err.code == "clock_skewed"
        assert err.fields["offset_ms"] == MINUTE
        assert err.fields["tolerance_ms"] == TOLERANCE
        assert "ahead of" in err.message and "NTP" in err.message
        assert store.fingerprint() == before

    def test_a_clock_behind_beyond_the_tolerance_is_refused(self) -> None:
        """Behind by a minute is refused too: the leases it writes end early for others."""
        store, _, clock = wiring(-MINUTE)
        err = refusal(store, clock)
        assert err.code == "clock_skewed"
        assert err.fields["offset_ms"] == -MINUTE
        assert "behind" in err.message

    def test_a_clock_within_the_tolerance_starts_and_its_reading_is_kept(self) -> None:
        """A second ahead starts; the reading says how far, and how sure."""
        store, _, clock = wiring(SECOND)
        store.trips = [10]
        svc = build(store, clock)
        reading = svc.clock_watch.last
        assert (reading.offset_ms, reading.uncertainty_ms) == (SECOND, 5)

    def test_the_round_trip_counts_against_the_tolerance(self) -> None:
        """14 s ahead, read over a 4 s round trip, may be 16 s ahead: refused."""
        store, _, clock = wiring(14 * SECOND)
        store.trips = [4 * SECOND]
        err = refusal(store, clock)
        assert err.code == "clock_skewed"
        assert err.fields["uncertainty_ms"] == 2 * SECOND

    def test_the_quickest_of_several_readings_is_kept(self) -> None:
        """A slow reading among quick ones does not make the measure uncertain."""
        store, _, clock = wiring(14 * SECOND)
        store.trips = [4 * SECOND, 6, 4 * SECOND]
        svc = build(store, clock)
        assert svc.clock_watch.last.uncertainty_ms == 3

    def test_the_tolerance_is_configured(self) -> None:
        """max_clock_skew_ms=500 refuses a clock one second ahead."""
        store, _, clock = wiring(SECOND)
        err = refusal(store, clock, config=Config(max_clock_skew_ms=500))
        assert err.code == "clock_skewed"
        assert err.fields["tolerance_ms"] == 500

    def test_a_store_with_no_server_clock_is_not_measured(self) -> None:
        """A memory store (one host, one clock) starts with nothing measured."""
        clock = ManualClock()
        svc = build_service(MemoryStore(), FakeProvider(clock), RecordingNotifier(), clock=clock)
        assert svc.clock_watch is None


def shop(skew_ms: int = 0) -> tuple[WatchedService, ServerStore, ManualClock, SteppingClock]:
    store, server, clock = wiring(skew_ms)
    alerts = RecordingAlerts()
    svc = build(store, clock, alerts=alerts)
    svc.add_seller("s1", "Mug Shop", "acct_1")
    svc.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    svc.restock("s1", "SKU-MUG", 5)
    return svc, store, server, clock


def skew_alerts(svc: PaymentService) -> list[dict[str, object]]:
    alerts = svc.engine.alerts
    assert isinstance(alerts, RecordingAlerts)
    return [a.fields for a in alerts.raised if a.kind == "clock_skewed"]


def open_skew_alerts(svc: PaymentService) -> list[str]:
    return [str(a.alert_id) for a in svc.attention() if a.kind == "clock_skewed"]


class TestWhileRunning:
    def test_a_lifecycle_never_reads_the_server_clock(self) -> None:
        """Checkout and confirm: no reading beyond the start's (no statement per
        transaction)."""
        svc, store, _, _ = shop()
        asked = store.asked
        checkout = svc.create_payment_intent("cs_skew_lifecycle0001", [CartItem("p_mug", 1)])
        svc.confirm_payment(checkout.payment_id, payment_method="pm_card_visa")
        assert store.asked == asked

    def test_jobs_measure_again_once_a_lease_passed_and_alert_a_drift(self) -> None:
        """Jobs within a lease of the last reading do not measure; once it passed they
        do, and a clock that drifted a minute ahead raises clock_skewed."""
        svc, store, server, clock = shop()
        asked = store.asked
        clock.advance(MINUTE)
        server.advance(MINUTE)
        svc.run_jobs()
        assert store.asked == asked and skew_alerts(svc) == []
        clock.advance(svc.config.lease_ms + MINUTE)
        server.advance(svc.config.lease_ms)
        report = svc.run_jobs()
        assert store.asked > asked
        assert skew_alerts(svc) == [
            {"offset_ms": MINUTE, "uncertainty_ms": 0, "tolerance_ms": TOLERANCE}
        ]
        assert report.failed == ()
        assert svc.clock_watch.last.offset_ms == MINUTE
        assert open_skew_alerts(svc) == [f"clock_skewed:{socket.gethostname()}"]

    def test_a_later_reading_in_step_closes_the_alert(self) -> None:
        """Once the clock is set right, the next due reading closes the host's alert."""
        svc, _, server, clock = shop()
        clock.advance(svc.config.lease_ms + MINUTE)
        server.advance(svc.config.lease_ms)
        svc.run_jobs()
        assert len(open_skew_alerts(svc)) == 1
        clock.advance(svc.config.lease_ms)  # the server catches up: the host was set right
        server.advance(svc.config.lease_ms + MINUTE)
        svc.run_jobs()
        assert open_skew_alerts(svc) == []
        assert len(skew_alerts(svc)) == 1

    def test_a_clock_in_tolerance_at_the_next_reading_raises_nothing(self) -> None:
        """A due reading that finds the clocks agreeing alerts nothing."""
        svc, store, server, clock = shop()
        asked = store.asked
        clock.advance(svc.config.lease_ms + SECOND)
        server.advance(svc.config.lease_ms)
        svc.run_jobs()
        assert store.asked > asked and skew_alerts(svc) == []

    def test_a_server_that_cannot_be_read_leaves_the_jobs_running(self) -> None:
        """A failed reading is logged and the round of jobs runs as usual."""
        svc, store, server, clock = shop()
        store.down = True
        clock.advance(svc.config.lease_ms + SECOND)
        server.advance(svc.config.lease_ms + SECOND)
        checkout = svc.create_payment_intent("cs_skew_down00000001", [CartItem("p_mug", 1)])
        clock.advance(svc.config.reservation_ttl_ms + MINUTE)
        server.advance(svc.config.reservation_ttl_ms + MINUTE)
        report = svc.run_jobs()
        assert report.failed == () and report.janitor_started == 1
        assert svc.order(checkout.order_id).status == "canceled"  # type: ignore[union-attr]


class TestStepsAndWaits:
    """Clocks stepped back, slow readings and a server whose clock is the one off."""

    def test_a_clock_stepped_back_is_measured_at_the_next_round(self) -> None:
        """An hour back, just after a reading: the next round of jobs measures (a step
        back never puts the reading off by its size) and alerts the hour."""
        svc, _, _, clock = shop()
        clock.step_back(60 * MINUTE)
        svc.run_jobs()
        assert [a["offset_ms"] for a in skew_alerts(svc)] == [-60 * MINUTE]

    def test_an_alert_closes_within_a_lease_of_the_clock_set_right(self) -> None:
        """The host ran an hour ahead and was alerted; its daemon steps it back: the
        next round closes the alert (not an hour and a lease later)."""
        svc, _, _, clock = shop()
        clock.advance(60 * MINUTE)
        svc.run_jobs()
        assert len(open_skew_alerts(svc)) == 1
        clock.step_back(60 * MINUTE)
        svc.run_jobs()
        assert open_skew_alerts(svc) == []

    def test_a_reading_during_which_the_clock_went_back_is_not_kept(self) -> None:
        """Stepped back an hour in the middle of the start's first reading: that
        reading (a negative round trip) says nothing; the others find the hour and the
        start is refused."""
        store, _, clock = wiring(0)
        store.step_back_ms = 60 * MINUTE
        err = refusal(store, clock)
        assert err.code == "clock_skewed"
        assert err.fields["offset_ms"] == -60 * MINUTE

    def test_waiting_for_the_connection_is_not_counted(self) -> None:
        """Ten seconds to get a connection, each reading 2 ms: the offset and its
        uncertainty are the readings' alone."""
        store, _, clock = wiring(0)
        store.wait_ms, store.trips = 10 * SECOND, [2]
        reading = build(store, clock).clock_watch.last  # type: ignore[union-attr]
        assert (reading.offset_ms, reading.uncertainty_ms) == (0, 1)

    def test_a_reading_too_slow_to_tell_decides_nothing(self) -> None:
        """Readings slower than twice the tolerance (a loaded server): no alert opened
        and none closed; the jobs run."""
        svc, store, _, clock = shop()
        clock.advance(60 * MINUTE)
        svc.run_jobs()
        assert len(open_skew_alerts(svc)) == 1
        clock.step_back(60 * MINUTE)
        store.trips = [2 * TOLERANCE + 2 * SECOND]
        report = svc.run_jobs()
        assert report.failed == ()
        assert len(open_skew_alerts(svc)) == 1 and len(skew_alerts(svc)) == 1

    def test_the_refusal_names_the_database_servers_clock_too(self) -> None:
        """Every instance off by the same amount is the server's clock: the message
        says where to look besides this host."""
        store, _, clock = wiring(MINUTE)
        assert "database server's clock" in refusal(store, clock).message


@pytest.mark.parametrize(
    "job", ["run_janitor", "run_recovery", "run_reconciler", "dispatch_notifications"]
)
def test_each_job_run_on_its_own_measures_too(job: str) -> None:
    """A shop that schedules the jobs one by one, never run_jobs, is watched as well."""
    svc, store, server, clock = shop()
    asked = store.asked
    clock.advance(svc.config.lease_ms + MINUTE)
    server.advance(svc.config.lease_ms)
    getattr(svc, job)()
    assert store.asked > asked
    assert [a["offset_ms"] for a in skew_alerts(svc)] == [MINUTE]


class TestLeaseCheck:
    def test_the_lease_must_cover_the_tolerance_twice_besides_two_calls(self) -> None:
        """210 s covers two 100 s calls but not the tolerance (10.5 s each way)."""
        with pytest.raises(InvalidInput, match="clock"):
            check_lease(Config(lease_ms=210 * SECOND), STRIPE_TIMEOUT_S, STRIPE_RETRIES)

    def test_a_tolerance_of_zero_leaves_two_calls(self) -> None:
        """With no tolerance, two calls' length is enough."""
        check_lease(
            Config(lease_ms=200 * SECOND, max_clock_skew_ms=0), STRIPE_TIMEOUT_S, STRIPE_RETRIES
        )

    def test_a_negative_tolerance_is_refused(self) -> None:
        """max_clock_skew_ms=-1 is bad input, named, refused as the config is made."""
        with pytest.raises(InvalidInput) as caught:
            Config(max_clock_skew_ms=-1)
        assert caught.value.fields["field"] == "max_clock_skew_ms"
