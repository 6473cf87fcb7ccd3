"""An orphan's cancel that goes unanswered is followed by a look at the intent, not by the
same cancel again: what the provider did decides the next action."""

from __future__ import annotations

from tests.support import made_here, make_shop

from paycore import jobs
from paycore.errors import ProviderUnavailable
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore.status import FlowStatus


def test_an_unanswered_cancel_of_an_orphan_is_followed_by_a_look() -> None:
    w = make_shop()
    view = w.provider.create_intent(
        CreateIntent(Money(700, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_x")),
        idempotency_key="lost-create",
    )
    w.provider.take_events()
    eng = w.service.engine
    assert jobs.reconcile(eng) == [f"orphan:{view.id}"]

    def answer_lost(name: str, phase: str, key: str | None) -> None:
        if name == "cancel_intent" and phase == "after":
            raise ProviderUnavailable("connection dropped after the request was sent")

    w.provider.fault = answer_lost
    steps = []
    for _ in range(4):
        report = eng.step(f"orphan:{view.id}")
        steps.append((report.effect, report.result))
    assert steps == [
        ("call:retrieve_intent", "ok"),
        ("apply:retrieve_intent", "-> cancel"),
        ("call:cancel_intent", "provider_unavailable"),
        ("apply:cancel_intent", "-> look"),
    ]
    w.provider.fault = None
    flow = w.service.run_flow(f"orphan:{view.id}")
    assert flow.status is FlowStatus.SUCCEEDED
    assert w.provider.calls["cancel_intent"] == 1
    assert w.provider.retrieve_intent(view.id).status == "canceled"
