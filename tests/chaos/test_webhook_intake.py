"""Webhook intake (issue 7, items 8 and 9): verified events paycore cannot use are
acknowledged as ignored with a typed reason, a definite "not found" is never retried as
transient, and a malformed signature header is refused with a typed error."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support import deliver_webhooks, flow_of, made_here, make_shop

from paycore import WebhookOutcome
from paycore import schema as s
from paycore.errors import FlowPending, ProviderInvalidRequest, WebhookSignatureInvalid
from paycore.flows.checkout import CartItem
from paycore.ports import ProviderEvent
from paycore.status import FlowStatus
from paycore_adapters import signing
from paycore_adapters.memory import Wiring

SECRET = "whsec_test_secret"


def paid_shop() -> tuple[Wiring, str]:
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_intake0001", [CartItem("p_mug", 2)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    deliver_webhooks(w)
    return w, r.payment_id


def no_dead_letters(w: Wiring) -> None:
    dead = [f for f in w.store.snapshot().rows(s.FLOWS) if f.status is FlowStatus.DEAD]
    assert dead == []
    assert [a.kind for a in w.alerts.raised if a.kind == "flow_dead_lettered"] == []


class TestIgnoredEvents:
    @pytest.mark.parametrize("object_id", ["pi_does_not_exist", "re_does_not_exist"])
    def test_event_for_an_object_the_provider_does_not_know_is_ignored(
        self, object_id: str
    ) -> None:
        """The provider answers "not found": acknowledged as ignored at once, never retried."""
        w, _ = paid_shop()
        kind = "refund" if object_id.startswith("re_") else "payment_intent"
        event = ProviderEvent("evt_ghost_1", f"{kind}.updated", 0, kind, object_id, "succeeded")
        assert w.service.handle_webhook(event) == WebhookOutcome.NOT_FOUND
        flow = flow_of(w, "webhook:evt_ghost_1")
        assert flow.status is FlowStatus.SUCCEEDED
        assert flow.attempts == 0
        assert flow.result == {"matched": False, "outcome": "ignored:not_found"}
        # A redelivery is a duplicate, and a week of jobs never dead-letters anything.
        assert w.service.handle_webhook(event) == WebhookOutcome.DUPLICATE
        for _ in range(20):
            w.clock.advance(24 * 3_600_000)
            w.service.run_jobs()
        no_dead_letters(w)

    def test_another_definite_refusal_is_retried_as_a_strike(self) -> None:
        """A definite refusal other than "not found" is not an answer: the flow retries the
        fetch, one strike recorded under the refusal's code."""
        w = make_shop()
        r = w.service.create_payment_intent("cs_test_intake0002", [CartItem("p_mug", 1)])
        intent = w.service.payment(r.payment_id).provider_intent_id
        assert intent is not None

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise ProviderInvalidRequest("the provider refused the request")

        w.provider.retrieve_intent = refuse  # type: ignore[method-assign]
        event = ProviderEvent(
            "evt_refused_1", "payment_intent.updated", 0, "payment_intent", intent, "succeeded"
        )
        with pytest.raises(FlowPending):
            w.service.handle_webhook(event)
        flow = flow_of(w, "webhook:evt_refused_1")
        assert (flow.status, flow.attempts) == (FlowStatus.ACTIVE, 1)
        assert flow.last_error == "provider_invalid_request"

    @pytest.mark.parametrize("object_id", ["", None])
    def test_event_with_an_empty_or_missing_object_id_is_ignored(
        self, object_id: str | None
    ) -> None:
        """Nothing to fetch: ignored with its reason, recorded once, no flow started."""
        w, _ = paid_shop()
        event = ProviderEvent(
            "evt_noid_1",
            "payment_intent.succeeded",
            0,
            "payment_intent",
            object_id,  # type: ignore[arg-type]
        )
        outcome = w.service.handle_webhook(event)
        assert outcome == WebhookOutcome.MISSING_OBJECT_ID
        assert outcome.ignored
        assert w.store.snapshot().get(s.FLOWS, "webhook:evt_noid_1") is None
        entry = w.store.snapshot().get(s.INBOX, "evt_noid_1")
        assert entry is not None and entry.flow_id == ""
        assert w.service.handle_webhook(event) == WebhookOutcome.DUPLICATE
        w.clock.advance(3_600_000)
        w.service.run_jobs()
        no_dead_letters(w)

    @pytest.mark.parametrize("kind", ["charge", "customer", "invoice"])
    def test_event_of_a_kind_paycore_does_not_use_is_ignored(self, kind: str) -> None:
        """The provider sends every kind the endpoint subscribes to: acknowledge the others."""
        w, _ = paid_shop()
        payments = w.store.snapshot().rows(s.PAYMENTS)
        event = ProviderEvent("evt_other_1", f"{kind}.updated", 0, kind, "ch_1", "succeeded")
        outcome = w.service.handle_webhook(event)
        assert outcome == WebhookOutcome.UNSUPPORTED_OBJECT_KIND
        assert outcome == "ignored:unsupported_object_kind"
        assert w.store.snapshot().rows(s.PAYMENTS) == payments
        assert w.service.handle_webhook(event) == WebhookOutcome.DUPLICATE

    def test_event_of_an_intent_that_is_not_ours_is_ignored(self) -> None:
        """An intent on the account that no payment of this store names: not ours."""
        from paycore.money import Money
        from paycore.ports import CreateIntent

        w, _ = paid_shop()
        view = w.provider.create_intent(
            CreateIntent(Money(999, "EUR"), "acct_1", {"source": "invoice"}),
            idempotency_key="elsewhere-1",
        )
        w.provider.take_events()
        event = ProviderEvent(
            "evt_foreign_1", "payment_intent.created", 0, "payment_intent", view.id
        )
        assert w.service.handle_webhook(event) == WebhookOutcome.NOT_OURS

    def test_processed_event_says_processed(self) -> None:
        """The usual case keeps its answer."""
        w = make_shop()
        w.service.create_payment_intent("cs_test_intake0002", [CartItem("p_mug", 1)])
        outcomes = deliver_webhooks(w)
        assert outcomes and set(outcomes) == {WebhookOutcome.PROCESSED}
        assert not WebhookOutcome.PROCESSED.ignored


class TestSignatureHeader:
    @pytest.mark.parametrize(
        "header",
        [
            "t=\u00b2,v1=00",  # a superscript two: isdigit() but not a number int() takes
            "t=\u0661\u0662,v1=00",  # Arabic-Indic digits
            "t=1767225600,v1=\u00e9\u00e9",  # a non-ASCII signature
            "t=1767225600,v1=\ud800",  # a lone surrogate
            "t=,v1=",
            "t=1,t=2,v1=00",
            "",
        ],
    )
    def test_malformed_header_is_a_typed_refusal(self, header: str) -> None:
        """Only WebhookSignatureInvalid, never ValueError or TypeError from inside."""
        with pytest.raises(WebhookSignatureInvalid):
            signing.verify(b"{}", header, SECRET, 1_767_225_600)

    @pytest.mark.parametrize("header", [None, b"t=1,v1=00", 17])
    def test_header_that_is_not_text_is_a_typed_refusal(self, header: object) -> None:
        with pytest.raises(WebhookSignatureInvalid):
            signing.verify(b"{}", header, SECRET, 1_767_225_600)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "payload",
        [b"not json", b"[]", b'{"id": "evt_1"}', b"\xff\xfe", b'{"id": 1, "type": 2}'],
    )
    def test_signed_but_malformed_payload_is_a_typed_refusal(self, payload: bytes) -> None:
        """A correctly signed body that is not an event: typed, and says why."""
        header = signing.sign(payload, SECRET, 1_767_225_600)
        with pytest.raises(WebhookSignatureInvalid):
            signing.receive(payload, header, SECRET, 1_767_225_600)

    @pytest.mark.parametrize("byte", range(0x80, 0x100))
    def test_a_non_ascii_byte_anywhere_is_a_typed_refusal(self, byte: int) -> None:
        """Each byte 0x80-0xff (a header read as latin-1), in the timestamp, in a v1 beside a
        genuine one, or alone: the header is malformed, never TypeError or accepted."""
        char = bytes([byte]).decode("latin-1")
        payload = b"{}"
        genuine = signing.sign(payload, SECRET, 1_767_225_600)
        for header in (
            f"{genuine},v1={char * 64}",
            genuine.replace("t=1767225600", f"t=1767225600{char}"),
            genuine + char,
            char * 8,
        ):
            with pytest.raises(WebhookSignatureInvalid, match="malformed"):
                signing.verify(payload, header, SECRET, 1_767_225_600)

    def test_good_signature_still_verifies(self) -> None:
        event = ProviderEvent("evt_1", "refund.updated", 5, "refund", "re_1", "succeeded")
        payload = signing.to_payload(event)
        header = signing.sign(payload, SECRET, 1_767_225_600)
        assert signing.receive(payload, header, SECRET, 1_767_225_610) == event


class TestOrphanRefundWebhook:
    def test_refund_of_an_orphan_is_processed_not_ignored(self) -> None:
        """paycore refunded an orphan intent itself: its refund webhook is not foreign."""
        from paycore.money import Money
        from paycore.ports import CreateIntent

        w, _ = paid_shop()
        view = w.provider.create_intent(
            CreateIntent(
                Money(700, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_elsewhere")
            ),
            idempotency_key="elsewhere-2",
        )
        w.provider.customer_confirm(view.id, "pm_card_visa")
        w.provider.take_events()
        w.service.run_reconciler()  # finds the orphan and refunds it
        events = [e for e in w.provider.take_events() if e.object_kind == "refund"]
        assert events
        assert {w.service.handle_webhook(e) for e in events} == {WebhookOutcome.PROCESSED}


class TestRefundMatching:
    def test_foreign_refund_naming_one_of_our_refund_ids_is_not_applied_to_it(self) -> None:
        """Another store's refund whose metadata collides with our refund id changes nothing."""
        from paycore.money import Money
        from paycore.ports import CreateIntent

        w, pid = paid_shop()
        w.provider.refunds_settle_immediately = False
        w.service.create_refund(pid, 500, idempotency_key="rk-ours")
        (ours,) = w.service.refunds_of(pid)
        foreign = w.provider.create_intent(
            CreateIntent(Money(900, "EUR"), "acct_1", {"payment_id": "pay_other"}),
            idempotency_key="other-store-1",
        )
        w.provider.customer_confirm(foreign.id, "pm_card_visa")
        w.provider.take_events()
        theirs = w.provider.create_refund(
            foreign.id,
            amount=900,
            reason=None,
            metadata={"refund_id": ours.id},
            idempotency_key="other-store-refund",
        )
        event, charge = w.provider.take_events()  # refund.created, charge.refunded
        assert (event.object_id, charge.type) == (theirs.id, "charge.refunded")
        assert w.service.handle_webhook(event) == WebhookOutcome.NOT_OURS
        assert w.service.handle_webhook(charge) == WebhookOutcome.UNSUPPORTED_OBJECT_KIND
        (still,) = w.service.refunds_of(pid)
        assert (still.status, still.provider_refund_id) == (ours.status, ours.provider_refund_id)
