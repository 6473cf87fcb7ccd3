"""An alert raised again while open takes the new raise's fields, as it takes its message:
a ``clock_skewed`` alert's ``offset_ms`` (or ``records``) is the latest reading's, not the
first one's."""

from __future__ import annotations

from tests.support import make_shop

from paycore import schema as s


def test_raising_again_while_open_updates_the_fields() -> None:
    w = make_shop()
    tx = w.service.engine.transact
    tx(lambda u: u.alert("clock_skewed", "host-1", "40 s ahead", offset_ms=40_000, records=1))
    tx(lambda u: u.alert("clock_skewed", "host-1", "90 s ahead", offset_ms=90_000, records=3))
    row = w.store.snapshot().get(s.ALERTS, "clock_skewed:host-1")
    assert row is not None and row.open and row.count == 2
    assert row.message == "90 s ahead"
    assert dict(row.fields) == {"offset_ms": 90_000, "records": 3}
    assert w.alerts.raised[-1].fields == {"offset_ms": 90_000, "records": 3}
