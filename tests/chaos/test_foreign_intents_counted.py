"""Another integration on the shop's provider account: its intents are counted in one
``foreign_intent`` alert, kept current, never one alert per intent.

Each foreign intent is recorded once, as an orphan case with action ``foreign`` (what an
operator looks one up by, and what keeps it from being counted twice), and the one open
alert says how many were found since it opened and names the last few. The alerts port
is told when the alert opens, not once per intent; once resolved, the next foreign intent
opens it again, counting from one."""

from __future__ import annotations

from tests.support import deliver_webhooks, make_shop

from paycore import jobs
from paycore import schema as s
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore.records import Alert
from paycore_adapters.memory import Wiring

#: The one alert's subject, and how many intents its text names.
FOREIGN_SUBJECT = "other_integrations"
NEWEST_NAMED = 5
ALERT_ID = f"foreign_intent:{FOREIGN_SUBJECT}"


def foreign(w: Wiring, n: int, *, pay: bool = True) -> str:
    """The ``n``-th intent another integration makes on the shop's account (9.99 EUR), a
    second after the one before."""
    w.clock.advance(1_000)
    view = w.provider.create_intent(
        CreateIntent(Money(999, "EUR"), "acct_1", {"order_id": f"ord_{n:06d}"}, "another app"),
        idempotency_key=f"other-app-{n}",
    )
    if pay:
        w.provider.confirm_intent(
            view.id, payment_method="pm_card_visa", return_url=None, idempotency_key=f"{view.id}-c"
        )
    return view.id


def reconcile_until_quiet(w: Wiring, runs: int = 3) -> None:
    for _ in range(runs):
        w.clock.advance(60_000)
        jobs.reconcile(w.service.engine)


def the_alert(w: Wiring) -> Alert:
    alert = w.store.snapshot().get(s.ALERTS, ALERT_ID)
    assert alert is not None
    return alert


def test_thirty_foreign_intents_are_one_alert_that_counts_them() -> None:
    w = make_shop()
    ids = [foreign(w, n) for n in range(30)]
    w.provider.take_events()
    reconcile_until_quiet(w)
    items = w.service.attention()
    assert [(i.kind, i.subject, i.count) for i in items] == [
        ("foreign_intent", FOREIGN_SUBJECT, 30)
    ]
    alert = the_alert(w)
    assert alert.fields["intents"] == 30
    named = str(alert.fields["newest"]).split(",")
    assert named == ids[::-1][:NEWEST_NAMED]  # the newest by creation, newest first
    assert alert.fields["intent_id"] == ids[-1]
    assert alert.message.startswith(
        "30 provider intents on the account were not made by this paycore installation"
    )
    assert all(i in alert.message for i in named)
    # Each is recorded once, as a case to look it up by; none was changed.
    cases = {c.provider_intent_id: c for c in w.store.snapshot().rows(s.ORPHANS)}
    assert set(cases) == set(ids) and {c.action for c in cases.values()} == {"foreign"}
    assert all(v.status == "succeeded" for v in w.provider.intents())
    assert w.provider.refunds() == []
    # The alerts port heard of it once, not thirty times.
    assert [a.kind for a in w.alerts.raised] == ["foreign_intent"]
    assert not w.violations()


def test_the_alert_is_kept_current_and_opens_again_counting_from_one() -> None:
    w = make_shop()
    first = [foreign(w, n) for n in range(3)]
    reconcile_until_quiet(w)
    assert (the_alert(w).count, the_alert(w).fields["intents"]) == (3, 3)
    later = foreign(w, 3)
    reconcile_until_quiet(w)
    alert = the_alert(w)
    assert (alert.count, alert.fields["intents"], alert.fields["intent_id"]) == (4, 4, later)
    assert str(alert.fields["newest"]).split(",")[0] == later
    w.service.resolve_alert(ALERT_ID, "the marketplace app's payments")
    reconcile_until_quiet(w)  # the same intents again: nothing new, nothing reopened
    assert not the_alert(w).open and w.service.attention() == []
    newer = [foreign(w, n) for n in (4, 5)]
    reconcile_until_quiet(w)
    alert = the_alert(w)
    assert alert.open and (alert.count, alert.fields["intents"]) == (2, 2)
    assert set(str(alert.fields["newest"]).split(",")) == set(newer)
    assert not set(first) & set(str(alert.fields["newest"]).split(","))
    assert alert.message.startswith("2 provider intents on the account were not made")


def test_one_intent_reads_as_one_and_a_canceled_one_is_not_counted() -> None:
    w = make_shop()
    open_id = foreign(w, 0, pay=False)
    canceled = foreign(w, 1, pay=False)
    w.provider.cancel_intent(canceled, idempotency_key="other-app-cancel")
    reconcile_until_quiet(w)
    alert = the_alert(w)
    assert (alert.count, alert.fields["intents"], alert.fields["newest"]) == (1, 1, open_id)
    assert alert.message == (
        f"1 provider intent on the account was not made by this paycore installation "
        f"({open_id}: requires_payment_method, 999 EUR); it is left as it is: check who "
        "made it (another integration on the account, a payment link, an invoice); each "
        "is recorded as an orphan case with action foreign"
    )
    assert w.store.snapshot().get(s.ORPHANS, canceled) is None


def test_the_webhook_path_records_nothing_and_the_reconciler_counts_each_once() -> None:
    """Their events are acknowledged and leave no alert and no case; the reconciler, from
    the provider's own list, counts the same intents once."""
    w = make_shop()
    ids = [foreign(w, n) for n in range(4)]
    outcomes = deliver_webhooks(w)
    assert outcomes and all(o.startswith("ignored:") for o in outcomes)
    snap = w.store.snapshot()
    assert list(snap.rows(s.ALERTS)) == [] and list(snap.rows(s.ORPHANS)) == []
    reconcile_until_quiet(w)
    deliver_webhooks(w)
    assert the_alert(w).fields["intents"] == len(ids)
    assert {c.provider_intent_id for c in w.store.snapshot().rows(s.ORPHANS)} == set(ids)
