"""A service on the PostgreSQL store measures its clock against the server's
(``clock_timestamp()``) as it starts: an hour off is refused before anything is written,
an instance in step starts. The test server runs on this host, so the host's clock is
the server's: a clock offset from it by a set amount is that far from the server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from tests.support import cli

from paycore.config import MINUTE, Config
from paycore.errors import PaycoreError
from paycore_adapters.clock_skew import WatchedService
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import RecordingNotifier
from paycore_adapters.runtime import build_service
from paycore_adapters.sql.postgres_store import PostgresStore

from .conftest import OpenStore
from .test_postgres_urls import as_url

HOUR = 60 * MINUTE


class OffsetClock:
    """This host's clock moved ``offset_ms``: an instance whose clock is that far off."""

    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms

    def now(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms


def build(store: PostgresStore, clock: OffsetClock) -> WatchedService:
    return build_service(store, FakeProvider(clock), RecordingNotifier(), clock=clock)


@pytest.mark.parametrize("offset_ms", [HOUR, -HOUR])
def test_an_instance_an_hour_off_is_refused_and_writes_nothing(
    stores: OpenStore, offset_ms: int
) -> None:
    """An hour ahead or behind: clock_skewed, with the offset measured, and no write."""
    store = stores()
    before = store.fingerprint()
    with pytest.raises(PaycoreError) as caught:
        build(store, OffsetClock(offset_ms))
    err = caught.value
    assert err.code == "clock_skewed"
    measured = err.fields["offset_ms"]
    assert abs(measured - offset_ms) <= err.fields["uncertainty_ms"] + 1
    assert store.fingerprint() == before and sum(store.writes.values()) == 0


def test_an_instance_in_step_with_the_server_starts(stores: OpenStore) -> None:
    """The host's own clock starts; its reading is within the tolerance."""
    store = stores()
    svc = build(store, OffsetClock(0))
    reading = svc.clock_watch.last
    tolerance = Config().lease_ms // 20
    assert abs(reading.offset_ms) + reading.uncertainty_ms <= tolerance


def test_the_server_clock_is_read_outside_any_transaction(stores: OpenStore) -> None:
    """A reading gives the server's time (this host's) and counts no commit or rollback."""
    store = stores()
    before = dict(store.stats)
    (before_ms, read, after_ms), *_ = store.server_readings(OffsetClock(0).now, 3)
    assert before_ms <= after_ms and abs(read - before_ms) < HOUR
    assert store.stats == before


def test_a_busy_pool_is_not_counted_as_skew(stores: OpenStore) -> None:
    """The pool's one connection held by another thread: this host's clock is read only
    once the connection is this reading's, so the wait for it is in no round trip."""
    store = stores(max_size=1)
    held, ending = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction():
            held.set()
            time.sleep(0.2)  # the reading below waits for the pool meanwhile
            ending.set()  # before the connection goes back: a reading after it sees this

    other = threading.Thread(target=hold)
    other.start()
    assert held.wait(10)
    seen: list[bool] = []

    def local() -> int:
        seen.append(ending.is_set())
        return OffsetClock(0).now()

    store.server_readings(local, 3)
    other.join()
    assert seen == [True] * 6


def test_a_clock_that_drifts_after_the_start_raises_the_alert(stores: OpenStore) -> None:
    """Started in step, then an hour ahead: the next round of jobs (the hour is past a
    lease) measures again and records the host's clock_skewed alert; the jobs ran."""
    store = stores()
    clock = OffsetClock(0)
    svc = build(store, clock)
    clock.offset_ms = HOUR
    report = svc.run_jobs()
    assert report.failed == ()
    kinds = [item.kind for item in svc.attention()]
    assert kinds == ["clock_skewed"]
    assert abs(svc.clock_watch.last.offset_ms - HOUR) < MINUTE


def test_paycore_check_shows_this_hosts_clock_against_the_server(
    migrated_postgres_dsn: str,
) -> None:
    """The check's report says how far this host's clock is from the server's (here, the
    same clock), in its JSON and in its last line."""
    url = as_url(migrated_postgres_dsn)
    code, out, err = cli("check", "--store", url, "--json")
    assert code == 0, err
    clock = json.loads(out)["clock"]
    assert abs(clock["offset_ms"]) <= clock["uncertainty_ms"] + 1
    assert clock["default_tolerance_ms"] == Config().lease_ms // 20
    code, out, _ = cli("check", "--store", url)
    assert code == 0
    assert out.splitlines()[-1].startswith("clock: this host's clock is ")


def test_paycore_check_on_sqlite_has_no_server_clock(tmp_path: Path) -> None:
    """A SQLite file has no server: the report's clock is null, no clock line."""
    path = f"sqlite:{tmp_path / 'shop.db'}"
    assert cli("migrate", "--store", path)[0] == 0
    code, out, _ = cli("check", "--store", path, "--json")
    assert code == 0 and json.loads(out)["clock"] is None
    assert "clock:" not in cli("check", "--store", path)[1]
