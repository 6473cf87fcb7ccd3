"""A refund the provider refuses because the money was already refunded elsewhere.

Someone refunds a payment in the provider's dashboard and its webhook is lost; then
support refunds the same payment through paycore. Stripe refuses it: a fully refunded
charge with ``charge_already_refunded``, a refund past what is left with ``param``
``amount`` (docs.stripe.com/error-codes). The refund flow lists the payment's refunds and
records the dashboard refund at once (the path the reconciler's scan takes); the refusal
is then what it is: the payment was refunded elsewhere and the request asks for more than
is left. The caller gets ``RefundExceedsRefundable`` saying so, the shop a
``refund_refused_<refund id>`` notification, and no ``refund_failed`` notification or
alert tells anyone that a refunded customer got nothing. An out-of-stock order's automatic
refund is explained away only when the dashboard refunded all of it; refunded in part, it
fails and is retried for what is left, so the customer gets the whole payment back once.
Memory and SQLite stores.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from tests.support import SESSION, SESSION_2, deliver_webhooks, mug_shop, quiesce, run

from paycore import errors as err
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.status import OrderStatus, RefundStatus
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore

KINDS = ["memory", "sqlite"]
MINUTE = 60_000


def shop(kind: str, tmp_path: Path, stock: int = 10) -> Wiring:
    store = SQLiteStore(tmp_path / "shop.db", migrate=True) if kind == "sqlite" else None
    return mug_shop(in_memory(None, store=store), stock)


def paid(w: Wiring) -> str:
    """A paid order of two mugs (2500 EUR), its webhooks in."""
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 2)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    deliver_webhooks(w)
    return res.payment_id


def dashboard_refund(w: Wiring, payment_id: str, amount: int) -> str:
    """A refund made in the provider's dashboard whose webhooks are lost."""
    intent = w.service.payment(payment_id).provider_intent_id
    assert intent is not None
    view = w.provider.create_refund(
        intent, amount=amount, reason=None, metadata={}, idempotency_key="dash-1"
    )
    w.provider.take_events()  # lost
    return view.id


def outbox(w: Wiring) -> dict[str, dict[str, object]]:
    return {m.kind: dict(m.payload) for m in w.store.snapshot().rows(s.OUTBOX)}


def alert_kinds(w: Wiring) -> dict[str, bool]:
    return {a.id: a.open for a in w.store.snapshot().rows(s.ALERTS)}


def checked(w: Wiring) -> None:
    """Once quiet: every invariant holds, and the provider made one refund (the dashboard's)."""
    quiesce(w)
    bad = w.violations()
    assert not bad, "\n".join(map(str, bad))
    assert len(w.provider.refunds()) == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("asked", [None, 1000, 2500])
def test_a_refund_of_a_payment_refunded_in_the_dashboard_says_so(
    kind: str, asked: int | None, tmp_path: Path
) -> None:
    """All 2500 went back from the dashboard; support then asks paycore for ``asked``
    (None: everything left, which paycore still believes is 2500)."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    outside = dashboard_refund(w, pid, 2500)
    with pytest.raises(err.RefundExceedsRefundable) as caught:
        w.service.create_refund(pid, asked, None, "rma-1")
    said, want = caught.value, 2500 if asked is None else asked
    assert said.message == (
        f"refund rf_000001 of {want} EUR was not made: payment {pid} was already refunded "
        f"outside paycore ({outside}: 2500 succeeded, recorded now as rf_000002), and "
        "nothing is left to refund (2500 EUR captured, 2500 EUR refunded)"
    )
    assert said.fields["refund_id"] == "rf_000001"
    assert (said.fields["payment_id"], said.fields["refundable"]) == (pid, 0)
    assert said.fields["requested"] == want
    mine, external = sorted(w.service.refunds_of(pid), key=lambda r: r.id)
    assert (mine.id, mine.status, mine.external) == ("rf_000001", RefundStatus.FAILED, False)
    assert (external.provider_refund_id, external.status) == (outside, RefundStatus.SUCCEEDED)
    assert w.service.payment(pid).amount_refunded == 2500
    order = w.service.order(w.service.payment(pid).order_id)
    assert order is not None and order.status is OrderStatus.REFUNDED
    told = outbox(w)
    assert "refund_failed_rf_000001" not in told
    assert told["refund_refused_rf_000001"] == {
        "amount": want,
        "refundable": 0,
        "amount_refunded": 2500,
        "refunded_elsewhere": True,
    }
    assert told["order_refunded"] == {"amount": 2500}
    assert alert_kinds(w) == {f"external_refund:{outside}": True}
    checked(w)
    assert "refund_failed_rf_000001" not in outbox(w)
    assert not any(a.startswith("refund_failed") for a in alert_kinds(w))


@pytest.mark.parametrize("kind", KINDS)
def test_a_refund_past_what_a_dashboard_refund_left_is_refused_for_the_rest(
    kind: str, tmp_path: Path
) -> None:
    """2000 of 2500 went back from the dashboard; support asks for 1000. Refused for what
    is left (500): the shop is told so, and the rest can be refunded afterwards."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    outside = dashboard_refund(w, pid, 2000)
    with pytest.raises(err.RefundExceedsRefundable) as caught:
        w.service.create_refund(pid, 1000, None, "rma-1")
    assert caught.value.message == (
        f"refund rf_000001 of 1000 EUR was not made: payment {pid} was already refunded "
        f"outside paycore ({outside}: 2000 succeeded, recorded now as rf_000002), and "
        "only 500 EUR is left to refund"
    )
    assert (caught.value.fields["requested"], caught.value.fields["refundable"]) == (1000, 500)
    told = outbox(w)
    assert "refund_failed_rf_000001" not in told
    assert told["refund_refused_rf_000001"] == {
        "amount": 1000,
        "refundable": 500,
        "amount_refunded": 2000,
        "refunded_elsewhere": True,
    }
    assert alert_kinds(w) == {f"external_refund:{outside}": True}
    order = w.service.order(w.service.payment(pid).order_id)
    assert order is not None and order.status is OrderStatus.PARTIALLY_REFUNDED
    rest = w.service.create_refund(pid, None, None, "rma-2")
    assert (rest.amount, rest.status) == (500, "succeeded")
    assert w.service.payment(pid).amount_refunded == 2500
    quiesce(w)
    bad = w.violations()
    assert not bad, "\n".join(map(str, bad))
    assert not any(a.startswith("refund_failed") for a in alert_kinds(w))


def out_of_stock(w: Wiring, dashboard: int) -> tuple[str, str, str]:
    """An order of the last mug (1250 EUR) whose delayed payment settles after the mug was
    sold to someone else: paycore refunds it automatically. Before that refund is sent,
    ``dashboard`` of it is refunded in the provider's dashboard, its webhook lost. Returns
    the payment, its order and the dashboard refund's provider id."""
    w.service.config = attrs.evolve(w.service.config, processing_hold_ms=60 * MINUTE)
    w.service.engine.config = w.service.config
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    assert w.service.confirm_payment(res.payment_id, "pm_successDelayed_de").status == "processing"
    deliver_webhooks(w)
    w.clock.advance(w.service.config.reservation_ttl_ms + 60 * MINUTE)
    w.service.run_janitor()
    other = w.service.create_payment_intent(SESSION_2, [CartItem("p_mug", 1)])
    w.service.confirm_payment(other.payment_id, "pm_card_visa")
    intent = w.service.payment(res.payment_id).provider_intent_id
    assert intent is not None
    w.provider.settle(intent)
    paid_events = w.provider.take_events()
    outside = dashboard_refund(w, res.payment_id, dashboard)
    for ev in paid_events:
        w.service.handle_webhook(ev)
    order = w.service.order(res.order_id)
    assert order is not None and order.status is OrderStatus.OUT_OF_STOCK
    return res.payment_id, res.order_id, outside


@pytest.mark.parametrize("kind", KINDS)
def test_an_automatic_refund_of_a_payment_refunded_in_the_dashboard_is_not_retried(
    kind: str, tmp_path: Path
) -> None:
    """An out-of-stock order's automatic refund, refused because the dashboard refunded
    the whole payment first (its webhook lost): nothing is owed, so no refund_failed
    alert, no retry, and the shop is not told the refund failed."""
    w = shop(kind, tmp_path, stock=1)
    pid, _, outside = out_of_stock(w, 1250)
    (auto,) = w.service.refunds_of(pid)
    run(w, f"refund:{auto.id}")  # the automatic refund's flow, as a worker runs it
    refunds = sorted(w.service.refunds_of(pid), key=lambda r: r.id)
    assert [(r.automatic, r.external, r.status) for r in refunds] == [
        (True, False, RefundStatus.FAILED),
        (False, True, RefundStatus.SUCCEEDED),
    ]
    assert refunds[1].provider_refund_id == outside
    told = outbox(w)
    assert not any(k.startswith("refund_failed") for k in told)
    assert told[f"refund_refused_{refunds[0].id}"]["refundable"] == 0
    assert alert_kinds(w) == {f"external_refund:{outside}": True}
    checked(w)


@pytest.mark.parametrize("kind", KINDS)
def test_an_automatic_refund_a_dashboard_refund_covered_in_part_returns_the_rest(
    kind: str, tmp_path: Path
) -> None:
    """An out-of-stock order's automatic refund of 1250, refused for what is left because
    500 of it went back from the dashboard first (its webhook lost). Paycore decided to
    return the whole payment, so the refusal is not explained away: the refund fails as
    any automatic refund does, is retried for the 750 left under ``out-of-stock#2``, and
    the customer gets back 1250 in all, once: the provider's refunds and paycore's books
    agree, and nothing more is sent."""
    w = shop(kind, tmp_path, stock=1)
    pid, oid, outside = out_of_stock(w, 500)
    (auto,) = w.service.refunds_of(pid)
    run(w, f"refund:{auto.id}")  # refused by the provider: 1250 asked, 750 left
    rows = sorted(w.service.refunds_of(pid), key=lambda r: r.id)
    assert [
        (r.automatic, r.external, r.idempotency_key, r.amount.amount, r.status) for r in rows
    ] == [
        (True, False, "out-of-stock", 1250, RefundStatus.FAILED),
        (False, True, f"external:{outside}", 500, RefundStatus.SUCCEEDED),
        (True, False, "out-of-stock#2", 750, RefundStatus.PENDING),  # the rest, retried
    ]
    first, external, retry = rows
    assert outbox(w) == {
        "order_paid": {"amount": 1250},
        "order_out_of_stock": {"amount": 1250},
        f"refund_failed_{first.id}": {"amount": 1250},
    }
    assert alert_kinds(w) == {
        f"external_refund:{outside}": True,
        f"refund_failed:{first.id}": True,
    }
    run(w, f"refund:{retry.id}")
    quiesce(w)
    bad = w.violations()
    assert not bad, "\n".join(map(str, bad))
    sent = sorted((r.id, r.amount, r.status) for r in w.provider.refunds())
    assert sent == [(outside, 500, "succeeded"), (sent[1][0], 750, "succeeded")]
    payment = w.service.payment(pid)
    assert payment.amount_received == payment.amount_refunded == 1250
    rows = sorted(w.service.refunds_of(pid), key=lambda r: r.id)
    assert [(r.id, r.status) for r in rows] == [
        (first.id, RefundStatus.FAILED),
        (external.id, RefundStatus.SUCCEEDED),
        (retry.id, RefundStatus.SUCCEEDED),
    ]
    assert rows[2].provider_refund_id == sent[1][0]
    assert alert_kinds(w) == {
        f"external_refund:{outside}": True,
        f"refund_failed:{first.id}": False,  # closed: the money is back
    }
    told = outbox(w)
    assert not any(k.startswith("refund_refused") for k in told)
    assert told[f"refund_failed_{first.id}"] == {"amount": 1250}
    order = w.service.order(oid)
    assert order is not None and order.status is OrderStatus.OUT_OF_STOCK


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_left_to_refund_says_what_was_captured_and_refunded(
    kind: str, tmp_path: Path
) -> None:
    """The dashboard refund's webhook is in: paycore refuses the refund of everything left
    itself, and says there is nothing left rather than "cannot refund 0"."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    intent = w.service.payment(pid).provider_intent_id
    assert intent is not None
    w.provider.create_refund(intent, amount=2500, reason=None, metadata={}, idempotency_key="d")
    deliver_webhooks(w)
    with pytest.raises(err.RefundExceedsRefundable) as caught:
        w.service.create_refund(pid, None, None, "rma-1")
    assert caught.value.message == (
        f"payment {pid} has nothing left to refund: 2500 EUR captured, 2500 EUR refunded"
    )
    assert caught.value.code == "refund_exceeds_refundable"
    assert len(w.service.refunds_of(pid)) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_refusal_as_refunded_elsewhere_spends_the_key(kind: str, tmp_path: Path) -> None:
    """The provider refused the refund (it reached the provider): the failed refund holds
    its key, as Stripe keeps a key's result once the request began to run
    (docs.stripe.com/idempotency). The same request under it returns that failed refund;
    the same key for what is left is another request: ``IdempotencyKeyReused``. What is
    left goes back under a new key."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    outside = dashboard_refund(w, pid, 2000)
    with pytest.raises(err.RefundExceedsRefundable) as caught:
        w.service.create_refund(pid, 1000, None, "rma-1")
    refused = caught.value.fields
    assert (refused["refund_id"], refused["refundable"]) == ("rf_000001", 500)
    again = w.service.create_refund(pid, 1000, None, "rma-1")
    assert (again.refund_id, again.amount, again.status) == ("rf_000001", 1000, "failed")
    with pytest.raises(err.IdempotencyKeyReused) as reused:
        w.service.create_refund(pid, 500, None, "rma-1")
    assert reused.value.message == (
        "idempotency key rma-1 was used for a refund of 1000, not 500; "
        "use a new key for a new refund"
    )
    assert reused.value.fields["refund_id"] == "rf_000001"
    assert len(w.provider.refunds()) == 1  # nothing sent for either
    rest = w.service.create_refund(pid, 500, None, "rma-2")
    assert (rest.amount, rest.status) == (500, "succeeded")
    assert w.service.payment(pid).amount_refunded == 2500
    assert sorted(r.amount for r in w.provider.refunds()) == [500, 2000]
    assert w.provider.refunds()[0].id == outside
    quiesce(w)
    bad = w.violations()
    assert not bad, "\n".join(map(str, bad))


@pytest.mark.parametrize("kind", KINDS)
def test_paycores_own_refusal_leaves_the_key_free(kind: str, tmp_path: Path) -> None:
    """The dashboard refund's webhook is in: paycore refuses the refund itself, before
    anything is recorded or sent (as Stripe saves nothing for a request that fails
    validation), so the error names no refund and the same key may ask for what is left."""
    w = shop(kind, tmp_path)
    pid = paid(w)
    intent = w.service.payment(pid).provider_intent_id
    assert intent is not None
    w.provider.create_refund(intent, amount=2000, reason=None, metadata={}, idempotency_key="d")
    deliver_webhooks(w)
    with pytest.raises(err.RefundExceedsRefundable) as caught:
        w.service.create_refund(pid, 1000, None, "rma-1")
    assert "refund_id" not in caught.value.fields
    assert caught.value.fields["refundable"] == 500
    assert not any(r.idempotency_key == "rma-1" for r in w.service.refunds_of(pid))
    rest = w.service.create_refund(pid, 500, None, "rma-1")
    assert (rest.amount, rest.status) == (500, "succeeded")
    assert w.service.payment(pid).amount_refunded == 2500
