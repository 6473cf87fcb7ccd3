"""Requests still running at the provider when a flow goes on (F3).

The fake holds a request in flight (``FakeProvider.hold_next``): its caller gets no
answer, its key answers 409 ``idempotency_key_in_use`` and its intent 429 ``lock_timeout``
until it lands. The flows must not take either answer, or an empty list right after, as
"nothing was made".
"""

from __future__ import annotations

from tests.support import begin_checkout, converged, flow_of, make_shop, run, step

from paycore.flows.checkout import CartItem
from paycore.flows.params import REFUND_LANDING_MS
from paycore.status import FlowStatus, RefundStatus
from paycore_adapters.harness.bugs import switched_on
from paycore_adapters.memory import Wiring


def paid(w: Wiring) -> str:
    res = w.service.create_payment_intent("cs_inflight_0000000001", [CartItem("p_mug", 2)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    return res.payment_id


def refund_held(w: Wiring, pid: str) -> str:
    """A refund of 1000 whose request is held in flight; its flow is stepped through its
    call (no answer), its replay (key in use) and its first look (nothing listed)."""
    w.provider.hold_next("create_refund")  # type: ignore[attr-defined]
    fid = w.service.start_refund(pid, 1000, None, "rma-held")
    step(w, fid, 2)  # the call: no answer -> replay
    assert flow_of(w, fid).step == "replay"
    step(w, fid, 2)  # the same key: 409, in use -> resolve
    assert flow_of(w, fid).step == "resolve"
    assert w.provider.conflicts["idempotency_key_in_use"] == 1  # type: ignore[attr-defined]
    step(w, fid, 2)  # the list: empty while the first request runs
    return fid


class TestRefundStillRunning:
    def test_the_refund_waits_for_the_request_still_running_and_is_made_once(self) -> None:
        """Nothing listed yet: the flow waits (a transient retry, no new key); the held
        request lands and the next look finds it. One provider refund, recorded."""
        w = make_shop()
        pid = paid(w)
        fid = refund_held(w, pid)
        flow = flow_of(w, fid)
        assert (flow.step, flow.last_error) == (
            "resolve",
            "no refund listed yet; a request may still land",
        )
        assert "keygen" not in flow.data and w.provider.refunds() == []
        w.provider.release_requests()  # type: ignore[attr-defined]
        assert run(w, fid).status is FlowStatus.SUCCEEDED
        (made,) = w.provider.refunds()
        (rf,) = w.service.refunds_of(pid)
        assert (rf.provider_refund_id, rf.status) == (made.id, RefundStatus.SUCCEEDED)
        converged(w)

    def test_a_request_that_never_lands_lets_a_new_key_go_once_landing_passed(self) -> None:
        """Still nothing listed once ``landing_ms`` passed since the last request: then,
        and only then, a new key generation makes the refund."""
        w = make_shop()
        pid = paid(w)
        fid = refund_held(w, pid)
        w.clock.advance(REFUND_LANDING_MS - 1)
        step(w, fid, 2)
        assert flow_of(w, fid).step == "resolve"
        w.provider.drop_requests()  # type: ignore[attr-defined]
        w.clock.advance(1)
        step(w, fid, 2)
        flow = flow_of(w, fid)
        assert (flow.step, flow.data["keygen"]) == ("call", 1)
        assert run(w, fid).status is FlowStatus.SUCCEEDED
        assert [r.amount for r in w.provider.refunds()] == [1000]

    def test_a_list_read_early_but_applied_late_proves_nothing(self) -> None:
        """The look's list was read while the request still ran, and its answer applied
        only after landing_ms (a slow worker, a pause): what counts is when the list was
        read, so the flow looks again instead of taking a new key. One provider refund."""
        w = make_shop()
        pid = paid(w)
        w.provider.hold_next("create_refund")  # type: ignore[attr-defined]
        fid = w.service.start_refund(pid, 1000, None, "rma-held")
        step(w, fid, 2)  # the call: no answer -> replay
        step(w, fid, 2)  # the same key: 409, in use -> resolve
        step(w, fid, 1)  # the list is read: empty, the request still runs
        w.clock.advance(REFUND_LANDING_MS + 1)
        step(w, fid, 1)  # its answer applied, long after
        flow = flow_of(w, fid)
        assert (flow.step, "keygen" in flow.data) == ("resolve", False)
        w.provider.release_requests()  # type: ignore[attr-defined]
        assert run(w, fid).status is FlowStatus.SUCCEEDED
        (made,) = w.provider.refunds()
        (rf,) = w.service.refunds_of(pid)
        assert (rf.provider_refund_id, made.amount) == (made.id, 1000)
        converged(w)

    def test_with_the_flaw_switched_on_the_refund_is_made_twice(self) -> None:
        """F3 lists at once and takes the empty list as nothing made: its new key's refund
        and the held request's both land."""
        w = make_shop()
        pid = paid(w)
        with switched_on("F3"):
            w.provider.hold_next("create_refund")  # type: ignore[attr-defined]
            fid = w.service.start_refund(pid, 1000, None, "rma-held")
            step(w, fid, 4)  # no answer -> resolve -> nothing listed: a new key at once
            assert flow_of(w, fid).data["keygen"] == 1
            w.provider.release_requests()  # type: ignore[attr-defined]
            w.clock.advance(w.service.config.backoff_cap_ms)
            run(w, fid)
        (rf,) = w.service.refunds_of(pid)
        made = [r for r in w.provider.refunds() if r.metadata.get("refund_id") == rf.id]
        assert len(made) == 2


class TestCheckoutStillRunning:
    def test_a_create_still_running_is_adopted_not_made_again(self) -> None:
        """The create's request is held: no answer, then 409 on the replay; the look-up
        lists nothing yet and waits. Once the request landed, the look-up adopts its
        intent: one intent for the checkout."""
        w = make_shop()
        w.provider.hold_next("create_intent")  # type: ignore[attr-defined]
        fid = begin_checkout(w)
        step(w, fid, 2)  # check the seller and create at once: no answer -> replay
        assert flow_of(w, fid).step == "replay"
        step(w, fid, 2)  # the same key: in use -> find
        assert flow_of(w, fid).step == "find"
        step(w, fid, 2)  # nothing listed yet: it waits
        assert flow_of(w, fid).step == "find" and w.provider.intents() == []
        w.provider.release_requests()  # type: ignore[attr-defined]
        assert run(w, fid).status is FlowStatus.SUCCEEDED
        (intent,) = w.provider.intents()
        assert w.service.payment(flow_of(w, fid).result["payment_id"]).provider_intent_id == (
            intent.id
        )

    def test_a_create_listed_early_but_applied_late_is_looked_for_again(self) -> None:
        """The look-up's list was read while the create still ran, its answer applied
        past the landing window: that list proves nothing, so no new key goes out; the
        request lands and is adopted. One intent for the checkout."""
        w = make_shop()
        w.provider.hold_next("create_intent")  # type: ignore[attr-defined]
        fid = begin_checkout(w)
        step(w, fid, 2)  # check the seller and create at once: no answer -> replay
        step(w, fid, 2)  # the same key: in use -> find
        step(w, fid, 1)  # the list is read: nothing yet
        w.clock.advance(REFUND_LANDING_MS + 1)
        step(w, fid, 1)  # its answer applied, long after
        flow = flow_of(w, fid)
        assert (flow.step, flow.data.get("keygen", 0)) == ("find", 0)
        w.provider.release_requests()  # type: ignore[attr-defined]
        assert run(w, fid).status is FlowStatus.SUCCEEDED
        assert len(w.provider.intents()) == 1

    def test_a_second_refund_meets_the_lock_of_one_still_running_and_retries(self) -> None:
        """While one refund's request is held, a second refund of the same payment gets
        429 lock_timeout: a transient retry of the same call that made nothing. Both land
        once the first did: two provider refunds, one per refund."""
        w = make_shop()
        pid = paid(w)
        first = refund_held(w, pid)
        second = w.service.start_refund(pid, 500, None, "rma-second")
        step(w, second, 2)
        flow = flow_of(w, second)
        assert (flow.step, flow.last_error) == ("call", "provider_lock_timeout")
        assert w.provider.conflicts["lock_timeout"] == 1  # type: ignore[attr-defined]
        assert w.provider.refunds() == []
        w.provider.release_requests()  # type: ignore[attr-defined]
        assert run(w, first).status is FlowStatus.SUCCEEDED
        assert run(w, second).status is FlowStatus.SUCCEEDED
        assert sorted(r.amount for r in w.provider.refunds()) == [500, 1000]
        assert {r.provider_refund_id for r in w.service.refunds_of(pid)} == {
            r.id for r in w.provider.refunds()
        }
        converged(w)
