"""Dispute reconciliation: a dispute whose ``charge.dispute.*`` events were all lost is
found by the reconciler's listing of its window's disputes and applied as its events
would be (the ``payment_disputed`` alert raised, updated, resolved; never reopened once
decided), a dispute of an intent paycore did not make is left alone, and the listing
is bounded per run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import faultable, made_here, mug_shop, with_config

from paycore import jobs
from paycore import schema as s
from paycore.errors import ProviderRateLimited
from paycore.flows.checkout import CartItem
from paycore.flows.reconcile_disputes import DISPUTE_LIFE_MS
from paycore.money import Money
from paycore.ports import CreateIntent, Store
from paycore.records import Alert
from paycore_adapters.memory import MemoryStore, Wiring, in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore


@pytest.fixture(params=["memory", "sqlite"])
def w(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Wiring]:
    store: Store = (
        MemoryStore()
        if request.param == "memory"
        else SQLiteStore(tmp_path / "disputes.db", migrate=True)
    )
    yield mug_shop(in_memory(store=store), 10)  # type: ignore[arg-type]
    close = getattr(store, "close", None)
    if close is not None:
        close()


def paid(w: Wiring, n: int = 1) -> tuple[str, str]:
    """A paid order's payment id and its intent (its webhooks delivered)."""
    r = w.service.create_payment_intent(f"cs_test_dispute_{n:04d}", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    for e in w.provider.take_events():
        w.service.handle_webhook(e)
    return r.payment_id, str(w.service.payment(r.payment_id).provider_intent_id)


def alert(w: Wiring, payment_id: str) -> Alert | None:
    row: Alert | None = w.store.snapshot().get(s.ALERTS, f"payment_disputed:{payment_id}")
    return row


def reconcile(w: Wiring) -> dict[str, object]:
    eng = w.service.engine
    run = jobs.finish_job(eng, jobs.start_reconcile(eng))
    return dict(run.result or {})


def test_a_dispute_whose_events_were_lost_is_raised_by_the_reconciler(w: Wiring) -> None:
    payment_id, intent = paid(w)
    du = w.provider.open_dispute(intent, due_by_s=1_900_000_000)
    w.provider.take_events()  # created, funds_withdrawn: lost
    assert alert(w, payment_id) is None
    result = reconcile(w)
    assert result["disputed"] == [payment_id]
    row = alert(w, payment_id)
    assert row is not None and row.open and "do not ship" in row.message
    assert row.fields["dispute_id"] == du and row.fields["status"] == "needs_response"
    assert row.fields["due_by"] == 1_900_000_000
    assert "disputed" not in reconcile(w)  # no news: nothing changes
    assert row == alert(w, payment_id)


def test_a_dispute_lost_then_won_over_two_runs_resolves_its_alert(w: Wiring) -> None:
    payment_id, intent = paid(w)
    du = w.provider.open_dispute(intent)
    w.provider.take_events()
    reconcile(w)
    first = alert(w, payment_id)
    assert first is not None and first.open
    w.provider.close_dispute(du, won=True)
    w.provider.take_events()  # closed, funds_reinstated: lost too
    assert reconcile(w)["disputed"] == [payment_id]
    row = alert(w, payment_id)
    assert row is not None and not row.open and row.fields["status"] == "won"


def test_a_decided_dispute_is_never_reopened_by_the_reconciler(w: Wiring) -> None:
    payment_id, intent = paid(w)
    du = w.provider.open_dispute(intent)
    w.provider.close_dispute(du, won=False)
    w.provider.take_events()
    reconcile(w)
    row = alert(w, payment_id)
    assert row is not None and row.open and row.fields["status"] == "lost"
    w.service.resolve_alert(f"payment_disputed:{payment_id}", "order stopped, goods kept")
    assert "disputed" not in reconcile(w)
    again = alert(w, payment_id)
    assert again is not None and not again.open


def test_the_webhook_and_the_reconciler_agree(w: Wiring) -> None:
    """One place decides: the alert the events raise is the one the listing leaves."""
    payment_id, intent = paid(w)
    w.provider.open_dispute(intent, due_by_s=1_900_000_000)
    for e in w.provider.take_events():
        w.service.handle_webhook(e)
    by_event = alert(w, payment_id)
    assert "disputed" not in reconcile(w)
    assert alert(w, payment_id) == by_event


def test_a_dispute_of_an_intent_paycore_did_not_make_is_ignored(w: Wiring) -> None:
    view = w.provider.create_intent(
        CreateIntent(Money(999, "EUR"), "acct_1", {"order_id": "ord_other"}, "another app"),
        idempotency_key="other-app-1",
    )
    w.provider.confirm_intent(
        view.id, payment_method="pm_card_visa", return_url=None, idempotency_key="other-c"
    )
    payment_id, intent = paid(w)
    w.provider.open_dispute(view.id)
    w.provider.open_dispute(intent)
    w.provider.take_events()
    assert reconcile(w)["disputed"] == [payment_id]  # the other dispute: listed, left alone
    alerts = w.store.snapshot().rows(s.ALERTS)
    assert [a.subject for a in alerts if a.kind == "payment_disputed"] == [payment_id]


def test_the_dispute_listing_is_bounded_per_run(w: Wiring) -> None:
    with_config(w, job_batch=2)
    made = [paid(w, n) for n in range(3)]
    for _, intent in made:
        w.provider.open_dispute(intent)
    w.provider.take_events()
    before = w.provider.calls["list_disputes"]
    first = reconcile(w)
    assert len(first["disputed"]) == 2  # type: ignore[arg-type]
    assert w.provider.calls["list_disputes"] - before == 1  # one page of 2
    second = reconcile(w)
    assert set(first["disputed"]) | set(second["disputed"]) == {p for p, _ in made}  # type: ignore[call-overload]


def test_a_dispute_older_than_the_window_is_not_listed(w: Wiring) -> None:
    """The window is a dispute's whole life (``DISPUTE_LIFE_MS``), not the intents'."""
    payment_id, intent = paid(w)
    w.provider.open_dispute(intent)
    w.provider.take_events()
    w.clock.advance(DISPUTE_LIFE_MS + 2_000)
    recent, recent_intent = paid(w, 2)
    w.provider.open_dispute(recent_intent)
    w.provider.take_events()
    assert reconcile(w)["disputed"] == [recent]
    assert alert(w, payment_id) is None


def test_a_refused_dispute_listing_fails_the_run_not_what_it_started(w: Wiring) -> None:
    """The provider rate-limits the listing: the run fails at its ``disputes`` step (the
    job reports it); the orphan flow its intents' walk started stays to run, and the run
    after finds the dispute. (A key without the permission: test_dispute_permission.)"""
    faultable(w)
    payment_id, intent = paid(w)
    w.provider.open_dispute(intent)
    w.provider.take_events()
    lost = w.provider.create_intent(
        CreateIntent(Money(500, "EUR"), "acct_1", made_here(w, order_id="ord_lost")),
        idempotency_key="lost-create",
    )

    def refuse(call: str, phase: str, key: str | None) -> None:
        if call == "list_disputes" and phase == "before":
            raise ProviderRateLimited("Too many requests")

    w.provider.fault = refuse  # type: ignore[attr-defined]
    with pytest.raises(ProviderRateLimited):
        jobs.reconcile_counted(w.service.engine)
    assert w.store.snapshot().get(s.FLOWS, f"orphan:{lost.id}") is not None
    assert alert(w, payment_id) is None
    w.provider.fault = None  # type: ignore[attr-defined]
    assert reconcile(w)["disputed"] == [payment_id]
