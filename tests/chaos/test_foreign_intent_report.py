"""What the reconciler records about an intent on the account that paycore did not make:
one case, and a count in the one ``foreign_intent`` alert, that say which intent it is and
that nothing was done to it; a canceled one, which can take no money, is not reported at
all."""

from __future__ import annotations

from tests.support import make_shop

from paycore import jobs
from paycore import schema as s
from paycore.flows.reconcile import FOREIGN_SUBJECT
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore_adapters.memory import Wiring


def foreign(w: Wiring, key: str) -> str:
    """An intent of another system on the shop's account (no paycore identity)."""
    view = w.provider.create_intent(
        CreateIntent(Money(4_200, "EUR"), "acct_1", {"invoice": f"in_{key}"}, "not paycore"),
        idempotency_key=f"elsewhere-{key}",
    )
    return view.id


def test_a_foreign_intent_is_reported_once_by_id_and_a_canceled_one_not_at_all() -> None:
    w = make_shop()
    open_id = foreign(w, "open")
    canceled_id = foreign(w, "canceled")
    w.provider.cancel_intent(canceled_id, idempotency_key="elsewhere-cancel")
    w.provider.take_events()
    for _ in range(2):
        assert jobs.reconcile(w.service.engine) == []
    snap = w.store.snapshot()
    case = snap.get(s.ORPHANS, open_id)
    assert case is not None
    assert (case.action, case.provider_status, case.checkout_session_id) == (
        "foreign",
        "requires_payment_method",
        None,
    )
    assert snap.get(s.ORPHANS, canceled_id) is None
    alerts = [a for a in snap.rows(s.ALERTS) if a.kind == "foreign_intent"]
    created = str(w.provider.retrieve_intent(open_id).created)
    fields = {"intents": 1, "intent_id": open_id, "newest": open_id, "newest_created": created}
    assert [(a.id, a.subject, a.count, dict(a.fields)) for a in alerts] == [
        (f"foreign_intent:{FOREIGN_SUBJECT}", FOREIGN_SUBJECT, 1, fields)
    ]
    assert alerts[0].message == (
        f"1 provider intent on the account was not made by this paycore installation "
        f"({open_id}: requires_payment_method, 4200 EUR); it is left as it is: check who "
        "made it (another integration on the account, a payment link, an invoice); each "
        "is recorded as an orphan case with action foreign"
    )
