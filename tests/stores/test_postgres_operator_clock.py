"""`paycore flows revive/abandon` and `attention resolve` on PostgreSQL refuse to act from
a host whose clock is off from the server's beyond the tolerance; reads still run."""

from __future__ import annotations

import pytest
from tests.postgres_server import url_of
from tests.support import cli

from paycore_adapters import cli_ops
from paycore_adapters.runtime import SystemClock

HOUR = 3_600_000


class Ahead(SystemClock):
    def now(self) -> int:
        return super().now() + HOUR


def test_a_change_from_a_host_an_hour_ahead_is_refused(
    migrated_postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_ops, "SystemClock", Ahead)
    url = url_of(migrated_postgres_dsn)
    code, out, err = cli("flows", "revive", "refund:rf_nope", "--store", url)
    assert (code, out) == (2, "")
    assert err.startswith("error: clock_skewed:") and "ahead of" in err
    code, out, err = cli("flows", "list", "--store", url)
    assert code == 0, err  # a read is not refused


def test_a_change_from_a_host_in_step_with_the_server_goes_ahead(
    migrated_postgres_dsn: str,
) -> None:
    code, _, err = cli(
        "flows", "revive", "refund:rf_nope", "--store", url_of(migrated_postgres_dsn)
    )
    assert code == 2 and err.startswith("error: flow_not_found:")
