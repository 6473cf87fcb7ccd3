"""confirm_payment and cancel_payment on the paths the model rarely takes: declines,
3-D Secure, refused requests, lost answers, saved server errors, give-ups, and the
errors a caller sees. Each test asserts what a payments engineer reads afterwards:
statuses, stock, the flow's bookkeeping, what was sent to the provider, the error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.support import (
    begin_cancel,
    begin_checkout,
    begin_confirm,
    flow_of,
    mug,
    run,
    step,
    with_config,
)

from paycore import errors as err
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.flows.engine import create_flow
from paycore.flows.params import CancelParams
from paycore.flows.steps import CancelStep
from paycore.ports import IntentView
from paycore.records import Flow
from paycore.service import PaymentService
from paycore.status import FlowStatus, OrderStatus, PaymentStatus
from paycore.unit import Unit
from paycore_adapters.memory import Wiring

PS, OS, FS = PaymentStatus, OrderStatus, FlowStatus
TDS = "pm_card_threeDSecure2Required"
DECLINED = "pm_card_chargeDeclined"
NOT_FOUND_HINT = "use the payment_id that create_payment_intent returned"


@pytest.fixture
def w(shop: Wiring) -> Wiring:
    return shop  # conftest's shop also checks the safety invariants at teardown


# --- helpers --------------------------------------------------------------------------


def checkout(w: Wiring, session: str = "cs_test_paths_000001") -> tuple[str, str]:
    res = w.service.create_payment_intent(session, [CartItem("p_mug", 1)])
    return res.order_id, res.payment_id


def intent_of(w: Wiring, pid: str) -> str:
    iid = w.service.payment(pid).provider_intent_id
    assert iid is not None
    return iid


def order_status(w: Wiring, oid: str) -> OrderStatus:
    order = w.service.order(oid)
    assert order is not None
    return order.status


def reservation_triggers(w: Wiring) -> list[tuple[str, str | None]]:
    """(trigger, flow id) of every reservation status change after its creation."""
    rows = w.store.snapshot().rows(s.AUDIT)
    return [(a.trigger, a.flow_id) for a in rows if a.aggregate == "reservation" and a.from_status]


def flows_of_kind(w: Wiring, kind: str) -> list[Flow]:
    return [f for f in w.store.snapshot().rows(s.FLOWS) if f.kind == kind]


def fail(
    calls: set[str], phase: str, times: int = 1, exc: type[Exception] = err.ProviderUnavailable
) -> Callable[[str, str, str | None], None]:
    """A provider fault: ``calls`` raise ``exc`` at ``phase`` ("before": nothing happened,
    "after": it happened and the answer is lost), ``times`` times."""
    left = [times]

    def fault(name: str, ph: str, key: str | None) -> None:
        if name in calls and ph == phase and left[0] > 0:
            left[0] -= 1
            raise exc(f"injected: {name} {phase}")

    return fault


def record_confirms(w: Wiring) -> list[dict[str, Any]]:
    """Record the arguments of every confirm_intent request sent to the provider."""
    sent: list[dict[str, Any]] = []
    real = w.provider.confirm_intent

    def confirm(intent_id: str, **kwargs: Any) -> IntentView:
        sent.append({"intent_id": intent_id, **kwargs})
        return real(intent_id, **kwargs)

    w.provider.confirm_intent = confirm  # type: ignore[method-assign]
    return sent


def assert_retrying(w: Wiring, fid: str, step_name: str, why: str, attempts: int = 1) -> None:
    """The flow backs off: same or given step, attempts counted, why recorded, delay due."""
    flow = flow_of(w, fid)
    assert flow.status is FS.ACTIVE and flow.step == step_name
    assert (flow.attempts, flow.last_error) == (attempts, why)
    assert flow.next_run_at == w.clock.now() + w.service.engine.backoff(fid, attempts)


# --- confirm ------------------------------------------------------------------------


class TestConfirmOutcomes:
    def test_three_d_secure_returns_the_challenge_url_and_sends_the_return_url(
        self, w: Wiring
    ) -> None:
        """The shop must redirect the buyer to the 3-D Secure page and get them back."""
        oid, pid = checkout(w)
        sent = record_confirms(w)
        res = w.service.confirm_payment(pid, TDS, return_url="https://shop.test/back")
        iid = intent_of(w, pid)
        url = f"https://fake-provider.test/3ds/{iid}/1"
        assert (res.status, res.requires_action, res.next_action_url) == (
            "requires_action",
            True,
            url,
        )
        assert [(m["payment_method"], m["return_url"]) for m in sent] == [
            (TDS, "https://shop.test/back")
        ]
        (flow,) = flows_of_kind(w, "confirm")
        assert flow.params["return_url"] == "https://shop.test/back"
        assert flow.result == {
            "payment_id": pid,
            "status": "requires_action",
            "next_action_url": url,
        }
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.REQUIRES_ACTION, None)
        assert order_status(w, oid) is OS.PENDING and mug(w) == (5, 1, 0)

    def test_a_lost_confirm_answer_is_asked_for_by_retrieve(self, w: Wiring) -> None:
        """The step that asks after a lost confirm answer calls ``retrieve_intent``, as
        its report (and every timeline) names it."""
        _, pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        w.provider.fault = fail({"confirm_intent"}, "after")
        step(w, fid, 2)  # the confirm happens, its answer is lost -> sync
        assert flow_of(w, fid).step == "sync"
        assert w.service.engine.step(fid).effect == "call:retrieve_intent"

    def test_three_d_secure_url_survives_a_lost_confirm_answer(self, w: Wiring) -> None:
        """The confirm's answer is lost: the flow asks the provider and still returns the URL."""
        _, pid = checkout(w)
        w.provider.fault = fail({"confirm_intent"}, "after")
        res = w.service.confirm_payment(pid, TDS)
        url = f"https://fake-provider.test/3ds/{intent_of(w, pid)}/1"
        assert (res.status, res.next_action_url) == ("requires_action", url)
        (flow,) = flows_of_kind(w, "confirm")
        assert (flow.status, flow.step, flow.attempts) == (FS.SUCCEEDED, "sync", 0)
        assert flow.data["last_error"] == "provider_unavailable"  # why it asked
        assert flow.result == {
            "payment_id": pid,
            "status": "requires_action",
            "next_action_url": url,
        }
        assert w.provider.calls["confirm_intent"] == 1

    def test_declined_card_records_the_decline_and_frees_the_payment(self, w: Wiring) -> None:
        """A decline is an answer, not an error: the buyer sees why and may try another card."""
        oid, pid = checkout(w)
        res = w.service.confirm_payment(pid, DECLINED)
        assert (res.status, res.declined, res.requires_action) == ("open", "card_declined", False)
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.OPEN, None)
        assert (payment.last_error, payment.provider_status) == (
            "card_declined",
            "requires_payment_method",
        )
        flow = flow_of(w, f"confirm:{pid}:1")
        assert (flow.status, flow.attempts, flow.last_error) == (FS.SUCCEEDED, 0, None)
        assert flow.result == {
            "payment_id": pid,
            "status": "open",
            "declined": "Your card was declined.",
        }
        assert order_status(w, oid) is OS.PENDING and mug(w) == (5, 1, 0)  # still held
        again = w.service.confirm_payment(pid, "pm_card_visa")
        assert (again.status, again.declined) == ("succeeded", None)
        payment = w.service.payment(pid)
        assert payment.confirm_attempts == 2 and payment.last_error is None
        assert flow_of(w, f"confirm:{pid}:2").status is FS.SUCCEEDED
        assert order_status(w, oid) is OS.PAID and mug(w) == (5, 0, 1)

    def test_unknown_payment_method_fails_with_the_provider_error_and_frees_the_payment(
        self, w: Wiring
    ) -> None:
        """A refused request did nothing: the caller gets the provider's reason, the payment
        is free for a corrected confirm."""
        oid, pid = checkout(w)
        with pytest.raises(err.ProviderInvalidRequest) as info:
            w.service.confirm_payment(pid, "pm_card_bogus")
        e = info.value
        assert e.code == "provider_invalid_request"
        assert e.message == "No such PaymentMethod: 'pm_card_bogus'"
        assert (e.fields["param"], e.fields["flow_id"]) == ("payment_method", f"confirm:{pid}:1")
        flow = flow_of(w, f"confirm:{pid}:1")
        assert (flow.status, flow.step, flow.attempts) == (FS.FAILED, "call", 0)
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.OPEN, None)
        assert w.provider.calls["retrieve_intent"] == 0  # nothing ambiguous to ask about
        assert w.service.confirm_payment(pid, "pm_card_visa").status == "succeeded"
        assert order_status(w, oid) is OS.PAID

    def test_confirm_of_an_intent_canceled_behind_our_back_releases_the_stock(
        self, w: Wiring
    ) -> None:
        """Canceled in the provider's dashboard, webhook lost: confirm learns it and releases."""
        oid, pid = checkout(w)
        w.provider.cancel_intent(intent_of(w, pid), idempotency_key="dashboard-cancel")
        w.provider.take_events()  # the webhook is lost
        res = w.service.confirm_payment(pid, "pm_card_visa")
        assert res.status == "canceled"
        fid = f"confirm:{pid}:1"
        flow = flow_of(w, fid)
        assert (flow.status, flow.attempts, flow.last_error) == (FS.SUCCEEDED, 0, None)
        assert flow.data["last_error"] == "provider_invalid_request"
        assert order_status(w, oid) is OS.CANCELED and mug(w) == (5, 0, 0)
        assert reservation_triggers(w) == [("release", fid)]
        assert w.service.payment(pid).lock_owner is None

    def test_rate_limited_confirm_backs_off_then_succeeds(self, w: Wiring) -> None:
        """A 429 is definite: the flow waits its backoff, counting the attempt, then retries."""
        oid, pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        w.provider.fault = fail({"confirm_intent"}, "before", exc=err.ProviderRateLimited)
        step(w, fid, 2)  # the call is refused, then the refusal is recorded
        assert_retrying(w, fid, "call", "provider_rate_limited")
        assert w.service.payment(pid).lock_owner == fid  # still this flow's payment
        assert run(w, fid).status is FS.SUCCEEDED
        assert w.provider.calls["confirm_intent"] == 2
        assert order_status(w, oid) is OS.PAID

    def test_sync_that_fails_backs_off_then_records_the_provider_truth(self, w: Wiring) -> None:
        """Confirm's answer lost, then the question fails too: wait and ask again; once
        answered, the payment is paid right away, before any webhook."""
        oid, pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        w.provider.fault = fail({"confirm_intent"}, "after")
        step(w, fid, 2)  # confirmed at the provider, the answer lost -> sync
        assert flow_of(w, fid).step == "sync"
        w.provider.fault = fail({"retrieve_intent"}, "before")
        step(w, fid, 2)
        assert_retrying(w, fid, "sync", "provider_unavailable")
        assert w.service.payment(pid).status is PS.OPEN
        step(w, fid, 2)  # asked again: succeeded
        w.provider.take_events()  # no webhook arrives
        flow = flow_of(w, fid)
        assert flow.status is FS.SUCCEEDED
        assert flow.result == {"payment_id": pid, "status": "succeeded", "next_action_url": None}
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner, payment.amount_received) == (
            PS.SUCCEEDED,
            None,
            1250,
        )
        assert order_status(w, oid) is OS.PAID and mug(w) == (5, 0, 1)


class TestConfirmGivesUp:
    def test_confirm_that_gave_up_records_the_provider_truth_and_frees_the_payment(
        self, w: Wiring
    ) -> None:
        """After its retries the confirm compensates: it frees the payment, records what the
        provider says (here: paid) and fails with an error telling the caller what happens."""
        oid, pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        lost = fail({"confirm_intent"}, "after")
        with_config(w, retry_horizon_ms=0)  # the first transient failure exhausts it
        down = fail({"retrieve_intent"}, "before", times=1)
        w.provider.fault = lambda *a: (lost(*a), down(*a))
        for _ in range(40):
            if flow_of(w, fid).step == "give_up":
                break
            step(w, fid)
        assert flow_of(w, fid).step == "give_up"
        assert w.service.payment(pid).status is PS.OPEN  # nothing recorded yet
        w.provider.take_events()  # and every webhook is lost
        flow = run(w, fid)
        assert flow.status is FS.FAILED
        assert flow.result == {
            "error": "provider_error",
            "message": f"the provider did not answer for payment {pid}; its status will be "
            "synchronized by webhooks and the reconciler",
            "payment_id": pid,
        }
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.SUCCEEDED, None)
        assert order_status(w, oid) is OS.PAID and mug(w) == (5, 0, 1)
        assert [a.kind for a in w.alerts.raised] == ["flow_gave_up"]

    def test_confirm_that_gave_up_without_an_answer_only_frees_the_payment(self, w: Wiring) -> None:
        """Provider down throughout: the payment is freed unchanged for webhooks and jobs."""
        oid, pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        w.provider.fault = fail({"confirm_intent", "retrieve_intent"}, "before", times=10**6)
        with_config(w, retry_horizon_ms=0)
        flow = run(w, fid)
        assert flow.status is FS.FAILED and flow.step == "give_up"
        assert (flow.result or {})["error"] == "provider_error"
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.OPEN, None)
        assert order_status(w, oid) is OS.PENDING and mug(w) == (5, 1, 0)
        w.provider.fault = None
        assert w.service.confirm_payment(pid, "pm_card_visa").status == "succeeded"


# --- cancel -------------------------------------------------------------------------


class TestCancelOutcomes:
    def test_cancel_records_the_reason_and_releases_with_the_release_trigger(
        self, w: Wiring
    ) -> None:
        """A requested cancel is recorded as such and its stock goes back as a release."""
        oid, pid = checkout(w)
        assert w.service.cancel_payment(pid).status == "canceled"
        (flow,) = flows_of_kind(w, "cancel")
        assert flow.params["reason"] == "requested"
        assert flow.result == {"payment_id": pid, "status": "canceled"}
        assert reservation_triggers(w) == [("release", flow.id)]
        assert order_status(w, oid) is OS.CANCELED and mug(w) == (5, 0, 0)

    def test_expired_checkout_canceled_with_a_lost_answer_releases_as_expired(
        self, w: Wiring
    ) -> None:
        """The janitor's cancel, answer lost: the sync step records it as an expiry."""
        oid, pid = checkout(w)
        w.clock.advance(w.service.config.reservation_ttl_ms + 1)
        w.provider.fault = fail({"cancel_intent"}, "after")
        assert w.service.run_janitor() == 1
        (flow,) = flows_of_kind(w, "cancel")
        assert flow.params["reason"] == "expired"
        assert (flow.status, flow.step) == (FS.SUCCEEDED, "sync")
        assert flow.data["last_error"] == "provider_unavailable"
        assert reservation_triggers(w) == [("expire", flow.id)]
        assert w.service.payment(pid).status is PS.CANCELED
        assert order_status(w, oid) is OS.CANCELED and mug(w) == (5, 0, 0)

    def test_cancel_after_server_errors_saved_under_its_keys_retries_with_new_keys(
        self, w: Wiring
    ) -> None:
        """Stripe replays a saved 5xx for the same key forever: each time the provider says
        the cancel did not happen, the retry must use a new key generation."""
        oid, pid = checkout(w)
        iid = intent_of(w, pid)
        w.provider.customer_confirm(iid, DECLINED)  # the buyer tried a card; webhook lost
        w.provider.take_events()
        keys: list[str] = []
        saved_errors: set[str] = set()
        real = w.provider.cancel_intent

        def cancel(intent_id: str, *, idempotency_key: str) -> IntentView:
            keys.append(idempotency_key)
            if len(saved_errors) < 2 or idempotency_key in saved_errors:
                saved_errors.add(idempotency_key)  # a 500, saved under the key
                raise err.ProviderUnavailable("injected: 500, saved under the key")
            return real(intent_id, idempotency_key=idempotency_key)

        w.provider.cancel_intent = cancel  # type: ignore[method-assign]
        fid = begin_cancel(w, pid)
        assert fid is not None
        for generation in (1, 2):
            step(w, fid, 4)  # cancel: 500 -> sync: still cancelable -> back to call, new key
            assert_retrying(w, fid, "call", "cancel had no effect", attempts=generation)
            assert flow_of(w, fid).data["keygen"] == generation
            payment = w.service.payment(pid)
            assert (payment.status, payment.lock_owner) == (PS.OPEN, fid)
            # what the sync saw is recorded even though the cancel goes on
            assert (payment.provider_status, payment.last_error) == (
                "requires_payment_method",
                "card_declined",
            )
            assert mug(w) == (5, 1, 0)
            w.clock.advance(w.service.engine.backoff(fid, generation))
        assert run(w, fid).status is FS.SUCCEEDED
        inst, salt = w.service.installation_id(), flow_of(w, fid).data["key_salt"]
        assert keys == [f"{inst}:{fid}:{salt}:cancel:{n}" for n in range(3)]
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.CANCELED, None)
        assert order_status(w, oid) is OS.CANCELED and mug(w) == (5, 0, 0)

    def test_rate_limited_cancel_backs_off_then_cancels(self, w: Wiring) -> None:
        """A 429 on cancel: wait the backoff with the attempt counted, then cancel once."""
        oid, pid = checkout(w)
        fid = begin_cancel(w, pid)
        assert fid is not None
        w.provider.fault = fail({"cancel_intent"}, "before", exc=err.ProviderRateLimited)
        step(w, fid, 2)
        assert_retrying(w, fid, "call", "provider_rate_limited")
        assert mug(w) == (5, 1, 0)
        assert run(w, fid).status is FS.SUCCEEDED
        assert w.provider.calls["cancel_intent"] == 2
        assert order_status(w, oid) is OS.CANCELED and mug(w) == (5, 0, 0)

    def test_cancel_refused_because_the_buyer_paid_first_says_refund_instead(
        self, w: Wiring
    ) -> None:
        """The browser confirms just before our cancel arrives: a sale, and the error says
        what to do."""
        oid, pid = checkout(w)
        self._buyer_confirms_before_cancel(w, pid, "pm_card_visa")
        with pytest.raises(err.PaymentNotCancelable) as info:
            w.service.cancel_payment(pid)
        e = info.value
        assert e.message == (
            f"payment {pid} is succeeded at the provider and cannot be canceled; refund it instead"
        )
        assert (e.fields["payment_id"], e.fields["status"]) == (pid, "succeeded")
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.SUCCEEDED, None)
        assert order_status(w, oid) is OS.PAID and mug(w) == (5, 0, 1)

    def test_a_refused_cancel_records_why_it_asks_and_asks_by_retrieve(self, w: Wiring) -> None:
        """The cancel's refusal is kept in the flow's data (why it went to ask), and the
        step that asks is the provider's ``retrieve_intent``, as its report names it."""
        _, pid = checkout(w)
        self._buyer_confirms_before_cancel(w, pid, "pm_card_visa")
        fid = begin_cancel(w, pid)
        assert fid is not None
        step(w, fid, 2)  # the cancel is refused (the buyer paid first) -> sync
        flow = flow_of(w, fid)
        assert (flow.step, flow.data["last_error"]) == ("sync", "provider_invalid_request")
        assert w.service.engine.step(fid).effect == "call:retrieve_intent"

    def test_cancel_refused_while_processing_says_not_now(self, w: Wiring) -> None:
        """A payment the bank is processing cannot be canceled now; its stock stays held."""
        oid, pid = checkout(w)
        self._buyer_confirms_before_cancel(w, pid, "pm_successDelayed_de")
        with pytest.raises(err.PaymentNotCancelable) as info:
            w.service.cancel_payment(pid)
        e = info.value
        assert e.message == (
            f"payment {pid} is processing at the provider and cannot be canceled now"
        )
        assert (e.fields["payment_id"], e.fields["status"]) == (pid, "processing")
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.PROCESSING, None)
        assert order_status(w, oid) is OS.PENDING and mug(w) == (5, 1, 0)

    @staticmethod
    def _buyer_confirms_before_cancel(w: Wiring, pid: str, method: str) -> None:
        real = w.provider.cancel_intent

        def cancel(intent_id: str, *, idempotency_key: str) -> IntentView:
            w.provider.customer_confirm(intent_id, method)
            return real(intent_id, idempotency_key=idempotency_key)

        w.provider.cancel_intent = cancel  # type: ignore[method-assign]


# --- errors the caller sees ---------------------------------------------------------


class TestCallerErrors:
    @pytest.mark.parametrize("op", ["confirm", "cancel"])
    def test_unknown_payment_id_raises_payment_not_found(self, w: Wiring, op: str) -> None:
        """A typo in the payment id is a clear PaymentNotFound, never a crash."""
        call = w.service.confirm_payment if op == "confirm" else w.service.cancel_payment
        with pytest.raises(err.PaymentNotFound) as info:
            call("pay_nope")
        assert info.value.code == "payment_not_found"
        assert info.value.message == f"no payment pay_nope: {NOT_FOUND_HINT}"
        assert info.value.fields == {"payment_id": "pay_nope"}

    @pytest.mark.parametrize("bad", [42, "", None])
    def test_payment_id_that_is_not_a_string_is_refused_with_advice(
        self, w: Wiring, bad: object
    ) -> None:
        """A non-string or empty id says what was passed and what to pass instead."""
        with pytest.raises(err.PaymentNotFound) as info:
            w.service.confirm_payment(bad)  # type: ignore[arg-type]
        assert info.value.message == (
            f"payment id must be a non-empty string, got {bad!r}; {NOT_FOUND_HINT}"
        )

    def test_confirming_a_canceled_payment_is_refused_for_good(self, w: Wiring) -> None:
        """A canceled payment never takes money: the error says to start a new checkout."""
        _, pid = checkout(w)
        w.service.cancel_payment(pid)
        with pytest.raises(err.PaymentNotConfirmable) as info:
            w.service.confirm_payment(pid, "pm_card_visa")
        assert info.value.message == (
            f"payment {pid} is canceled and can never be confirmed; start a new checkout"
        )
        assert info.value.fields == {"payment_id": pid, "status": "canceled"}
        assert w.provider.calls["confirm_intent"] == 0

    def test_cancel_of_a_paid_payment_says_refund_instead(self, w: Wiring) -> None:
        """Money taken is given back by a refund, never by a cancel."""
        _, pid = checkout(w)
        w.service.confirm_payment(pid, "pm_card_visa")
        with pytest.raises(err.PaymentNotCancelable) as info:
            w.service.cancel_payment(pid)
        assert info.value.message == f"payment {pid} succeeded; refund it instead of canceling"
        assert info.value.fields == {"payment_id": pid}
        assert w.provider.calls["cancel_intent"] == 0

    @pytest.mark.parametrize("op", ["confirm", "cancel"])
    def test_payment_still_being_created_is_busy(self, w: Wiring, op: str) -> None:
        """Before the checkout recorded its intent there is nothing to confirm or cancel yet."""
        fid = begin_checkout(w)
        pid = flow_of(w, fid).params["payment_id"]
        assert w.service.payment(pid).status is PS.CREATING
        call = w.service.confirm_payment if op == "confirm" else w.service.cancel_payment
        with pytest.raises(err.PaymentBusy) as info:
            call(pid)
        assert info.value.message == f"payment {pid} is still being created; retry shortly"
        assert info.value.fields == {"payment_id": pid}
        assert info.value.retryable
        run(w, fid)

    @pytest.mark.parametrize("holder", ["confirm", "cancel"])
    def test_busy_payment_names_the_operation_holding_it(self, w: Wiring, holder: str) -> None:
        """Confirm and cancel exclude each other; the loser is told which one holds it."""
        _, pid = checkout(w)
        fid = (begin_confirm if holder == "confirm" else begin_cancel)(w, pid)
        assert fid is not None
        other = w.service.cancel_payment if holder == "confirm" else w.service.confirm_payment
        with pytest.raises(err.PaymentBusy) as info:
            other(pid)
        assert info.value.message == f"payment {pid} is busy with {holder}; retry shortly"
        assert info.value.fields == {"payment_id": pid}
        assert w.service.payment(pid).lock_owner == fid
        run(w, fid)


# --- claims and leases ----------------------------------------------------------------


class TestClaimsAndLeases:
    @pytest.mark.parametrize("kind", ["confirm", "cancel"])
    def test_new_flow_is_leased_to_its_creator_until_its_lease_lapses(
        self, w: Wiring, kind: str
    ) -> None:
        """Another worker's recovery leaves a just-begun confirm/cancel to the worker running
        it, and takes it over only once that worker's lease lapsed."""
        oid, pid = checkout(w)
        fid = (begin_confirm if kind == "confirm" else begin_cancel)(w, pid)
        assert fid is not None
        flow = flow_of(w, fid)
        lease_until = w.clock.now() + w.service.config.lease_ms
        assert (flow.lease_owner, flow.lease_until) == ("worker-1", lease_until)
        assert (flow.step, flow.next_run_at) == ("call", w.clock.now())
        other = PaymentService(
            w.store, w.provider, w.clock, w.alerts, w.notifier, worker_id="worker-2"
        )
        calls = sum(w.provider.calls.values())
        assert other.run_recovery() == (0, 0)
        assert sum(w.provider.calls.values()) == calls
        w.clock.advance(w.service.config.lease_ms)
        assert other.run_recovery() == (1, 0)
        want = (OS.PAID, (5, 0, 1)) if kind == "confirm" else (OS.CANCELED, (5, 0, 0))
        assert (order_status(w, oid), mug(w)) == want

    def test_stale_flow_settling_keeps_a_newer_flows_claim(self, w: Wiring) -> None:
        """A flow records only its own claim's release: a claim another flow holds stays."""
        _, pid = checkout(w)
        fid = begin_confirm(w, pid)
        assert fid is not None
        step(w, fid)  # confirmed at the provider; the answer is held in memory
        newer, iid = "cancel:newer", intent_of(w, pid)

        def hand_over(u: Unit) -> None:
            # Stand-in for a newer flow that claimed the payment meanwhile.
            create_flow(u, newer, "cancel", CancelStep.CALL, CancelParams(pid, iid))
            payment = u.get(s.PAYMENTS, pid)
            u.save(s.PAYMENTS, payment, lock_owner=newer)

        w.service.engine.transact(hand_over)
        step(w, fid)  # the old flow records the provider's answer
        assert flow_of(w, fid).status is FS.SUCCEEDED
        payment = w.service.payment(pid)
        assert (payment.status, payment.lock_owner) == (PS.SUCCEEDED, newer)
        assert run(w, newer).status is FS.FAILED  # the newer cancel then learns it is paid
        assert w.service.payment(pid).lock_owner is None
