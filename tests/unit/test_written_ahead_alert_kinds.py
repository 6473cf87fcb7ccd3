"""Each kind of time written ahead (pending orders, flows, outbox messages) has its own
``clock_skewed`` alert: a raise of one kind never replaces what another named, and an
open alert counts every record brought back since it was raised (``records``)."""

from __future__ import annotations

from tests.support import make_shop

from paycore import schema as s
from paycore import written_ahead
from paycore.config import Config
from paycore.flows.checkout import CartItem
from paycore.records import Alert
from paycore_adapters.memory import Wiring


def skewed(w: Wiring) -> list[Alert]:
    snap = w.store.snapshot()
    return [a for a in snap.rows(s.ALERTS) if a.kind == "clock_skewed" and a.open]


def test_a_janitor_raise_then_an_outbox_raise_keep_both_kinds_ids() -> None:
    w = make_shop()
    eng = w.service.engine
    cfg = eng.config
    eng.transact(lambda u: written_ahead.report(u, cfg, "orders", ["ord_000001", "ord_000002"]))
    eng.transact(lambda u: written_ahead.report(u, cfg, "outbox", ["msg_9"]))
    alerts = {a.subject: a for a in skewed(w)}
    assert sorted(alerts) == ["times-written-ahead:orders", "times-written-ahead:outbox"]
    orders = alerts["times-written-ahead:orders"]
    assert "ord_000001" in orders.message and "ord_000002" in orders.message
    assert orders.fields["records"] == 2
    outbox = alerts["times-written-ahead:outbox"]
    assert "msg_9" in outbox.message and outbox.fields["records"] == 1


def test_records_add_up_while_the_alert_is_open_and_start_again_once_resolved() -> None:
    w = make_shop()
    eng = w.service.engine
    cfg = eng.config
    eng.transact(lambda u: written_ahead.report(u, cfg, "flows", ["flow_1", "flow_2"]))
    eng.transact(lambda u: written_ahead.report(u, cfg, "flows", ["flow_3"]))
    (row,) = skewed(w)
    assert (row.count, row.fields["records"], row.fields["latest"]) == (2, 3, 1)
    assert "flow_3" in row.message
    w.service.resolve_alert(row.id, "hosts' time sync fixed")
    eng.transact(lambda u: written_ahead.report(u, cfg, "flows", ["flow_4"]))
    (again,) = skewed(w)
    assert again.fields["records"] == 1


def test_the_slack_is_twice_the_readers_own_tolerance() -> None:
    """What docs/operations.md ("Clocks") says the reader's settings decide: an order
    created 35 s ahead is within the slack of a reader whose tolerance is 30 s (60 s),
    not of one with the default 15 s (30 s); ``max_clock_skew_ms=0`` leaves none."""
    w = make_shop()
    res = w.service.create_payment_intent("cs_test_C000000001", [CartItem("p_mug", 1)])
    snap = w.store.snapshot()
    payment = snap.get(s.PAYMENTS, res.payment_id)
    assert payment is not None
    order = snap.get(s.ORDERS, payment.order_id)
    assert order is not None
    now = order.created_at - 35_000
    assert not written_ahead.order_ahead(Config(lease_ms=600_000), order, now)
    assert written_ahead.order_ahead(Config(), order, now)
    assert written_ahead.order_ahead(Config(max_clock_skew_ms=0), order, order.created_at - 1)
    assert not written_ahead.order_ahead(Config(max_clock_skew_ms=0), order, order.created_at)
