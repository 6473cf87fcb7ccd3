"""Alerts are durable records written with the change that raised them (A6)."""

from __future__ import annotations

import pytest
from tests.support import make_shop

from paycore import schema as s
from paycore.errors import OperationalError
from paycore.unit import Unit


class TestUnitAlert:
    def test_raising_records_an_open_alert_and_tells_the_port_after_commit(self) -> None:
        """The row and the port's message both exist once the transaction committed."""
        w = make_shop()
        w.service.engine.transact(lambda u: u.alert("refund_failed", "rf_1", "it failed", x=1))
        row = w.store.snapshot().get(s.ALERTS, "refund_failed:rf_1")
        assert row is not None and row.open and row.count == 1 and row.fields == {"x": 1}
        assert [(a.kind, a.message, a.fields) for a in w.alerts.raised] == [
            ("refund_failed", "it failed", {"x": 1})
        ]

    def test_a_rolled_back_alert_leaves_no_row_and_tells_no_one(self) -> None:
        """An alert is part of its transaction: a rollback takes it back."""
        w = make_shop()

        def body(u: Unit) -> None:
            u.alert("refund_failed", "rf_1", "it failed")
            raise OperationalError("disk full")

        with pytest.raises(OperationalError):
            w.service.engine.transact(body)
        assert w.store.snapshot().get(s.ALERTS, "refund_failed:rf_1") is None
        assert w.alerts.raised == []

    def test_raising_again_counts_and_resolving_then_raising_reopens(self) -> None:
        """One row per (kind, subject): counted while open, opened again after resolution."""
        w = make_shop()
        tx = w.service.engine.transact
        tx(lambda u: u.alert("k", "a", "first"))
        tx(lambda u: u.alert("k", "a", "second"))
        row = w.store.snapshot().get(s.ALERTS, "k:a")
        assert row is not None and (row.count, row.message, row.open) == (2, "second", True)
        assert tx(lambda u: u.resolve_alert("k", "a", "handled by hand")) is True
        assert tx(lambda u: u.resolve_alert("k", "a", "again")) is False
        row = w.store.snapshot().get(s.ALERTS, "k:a")
        assert row is not None and not row.open and row.resolution == "handled by hand"
        tx(lambda u: u.alert("k", "a", "third"))
        row = w.store.snapshot().get(s.ALERTS, "k:a")
        assert row is not None and row.open and row.count == 3 and row.resolution is None
