"""The PostgreSQL server's clock, read for ``paycore_adapters.clock_skew``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: The server's clock now (not the transaction's start), in ms since the Unix epoch.
SERVER_TIME_MS = "SELECT round(extract(epoch FROM clock_timestamp()) * 1000)::bigint"


def readings(conn: Any, local: Callable[[], int], samples: int) -> list[tuple[int, int, int]]:
    """``samples`` readings on ``conn``, already taken from its pool: (``local()`` just
    before the statement, the server's clock, ``local()`` just after). The transaction's
    BEGIN goes out first, untimed, so a reading's round trip is its statement's alone."""
    conn.execute("SELECT 1")
    out = []
    for _ in range(samples):
        before = local()
        (server,) = conn.execute(SERVER_TIME_MS).fetchone() or (0,)
        out.append((before, int(server), local()))
    return out
