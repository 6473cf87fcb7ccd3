"""The operator's commands that change a store with a server (PostgreSQL) first check
this host's clock against the server's, as an instance does before it starts: abandoning
judges a flow's lease by this clock, and what they record is dated by it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from paycore.config import Config
from paycore.errors import ClockSkewed
from paycore_adapters.cli_ops import checked_clock
from paycore_adapters.memory import ManualClock

HOUR = 3_600_000


class Server:
    """A store whose server's clock reads ``offset`` ms behind the given local clock."""

    def __init__(self, behind_ms: int) -> None:
        self.behind_ms = behind_ms

    def server_readings(self, local: Callable[[], int], samples: int) -> list[tuple[int, int, int]]:
        out = []
        for _ in range(samples):
            before = local()
            out.append((before, before - self.behind_ms, local()))
        return out


def test_a_host_ahead_of_the_server_beyond_the_tolerance_is_refused() -> None:
    with pytest.raises(ClockSkewed) as refused:
        checked_clock(Server(behind_ms=HOUR), ManualClock(), Config())
    assert refused.value.fields["offset_ms"] == HOUR


def test_a_host_within_the_tolerance_acts() -> None:
    checked_clock(Server(behind_ms=1_000), ManualClock(), Config())


def test_a_store_without_a_server_is_not_measured() -> None:
    checked_clock(object(), ManualClock(), Config())
