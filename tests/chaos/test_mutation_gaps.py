"""Paths the mutation round of 2026-12-05 (third) found no test for: each test pins what
a provider answer or a flow's record leads to, where a changed line would go unnoticed."""

from __future__ import annotations

import pytest
from tests.chaos.test_job_errors import cursor, fail_first
from tests.chaos.test_job_errors_later_keys import refunded_payments
from tests.support import SESSION, make_shop

from paycore import jobs
from paycore import schema as s
from paycore.errors import ProviderIdempotencyMismatch, ProviderInvalidRequest
from paycore.flows.checkout import CartItem
from paycore.status import FlowStatus
from paycore_adapters.memory import Wiring


class TestExternalRefundScanMissingIntentParam:
    """Stripe names the unknown intent of a refund list's filter as a parameter (400
    ``resource_missing``, ``param`` ``payment_intent``): that intent has no refunds, and
    the scan goes on. Any other invalid request on a later payment ends the run there."""

    @pytest.mark.parametrize(
        ("fields", "goes_on"),
        [
            ({"error_code": "resource_missing", "param": "payment_intent"}, True),
            ({"error_code": "resource_missing", "param": "limit"}, False),
            ({"error_code": "parameter_invalid_empty", "param": "payment_intent"}, False),
            ({"error_code": "resource_missing"}, False),
        ],
    )
    def test_only_the_missing_intent_filter_is_passed_over(
        self, fields: dict[str, str], goes_on: bool
    ) -> None:
        w = make_shop()
        amounts = refunded_payments(w, 3)
        first, second, third = amounts
        fail_first(w, "list_refunds", lambda: ProviderInvalidRequest("refused", **fields), nth=2)
        recorded = jobs.find_external_refunds(w.service.engine)
        assert [r.amount.amount for r in w.service.refunds_of(first)] == [amounts[first]]
        assert w.service.refunds_of(second) == []
        if goes_on:
            assert recorded == 2
            assert w.provider.calls["list_refunds"] == 3
            assert [r.amount.amount for r in w.service.refunds_of(third)] == [amounts[third]]
            assert cursor(w, "external_refunds") == third
        else:
            assert recorded == 1
            assert w.provider.calls["list_refunds"] == 2
            assert w.service.refunds_of(third) == []


def mismatch_twice(w: Wiring, call: str) -> list[str]:
    """The first two ``call``s meet a key that answers for another request; the keys each
    ``call`` was sent under."""
    keys: list[str] = []

    def hook(name: str, phase: str, key: str | None) -> None:
        if name == call and phase == "before":
            keys.append(key or "")
            if len(keys) <= 2:
                raise ProviderIdempotencyMismatch("key used with other parameters", http_status=400)

    w.provider.fault = hook
    return keys


class TestConfirmKeyMismatchedAgain:
    def test_a_second_mismatch_is_a_retry_under_the_next_key(self) -> None:
        """The first mismatch sends the confirm again at once under the next key; a
        second one waits as a retry that says why, then sends it under a third key,
        which charges the card."""
        w = make_shop()
        res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        keys = mismatch_twice(w, "confirm_intent")
        fid = w.service.start_confirm(res.payment_id, "pm_card_visa")
        assert fid is not None
        eng = w.service.engine
        for _ in range(8):  # call, sync, call again at once, sync: each a call and its apply
            eng.step(fid)
        flow = w.store.snapshot().get(s.FLOWS, fid)
        assert flow is not None
        assert (flow.status, flow.step, len(keys)) == (FlowStatus.ACTIVE, "call", 2)
        assert flow.last_error == "the confirm's key answered for another request"
        assert flow.next_run_at > w.clock.now()
        for _ in range(10):
            if flow.status is not FlowStatus.ACTIVE:
                break
            w.clock.advance(60_000)
            eng.step(fid)
            flow = w.store.snapshot().get(s.FLOWS, fid)
            assert flow is not None
        assert flow.status is FlowStatus.SUCCEEDED, flow.result
        assert len(set(keys)) == 3
        assert w.service.payment(res.payment_id).status.value == "succeeded"
