"""What the operator's actions refuse, and what they keep: abandoning a flow another
instance runs, a flow that never failed, a flow of an unknown kind or a job's run; the
checkout's compensation waiting for a create that may still land; the typed reason of a
refused checkout; a refund_failed alert closed while its money is not back; and the
``flows`` commands' output (``show --json``, ``list --limit``)."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from tests.support import SESSION, cli, deliver_webhooks, flow_of, make_shop, mug

from paycore import schema as s
from paycore.errors import (
    FlowNotAbandonable,
    FlowPending,
    InvalidInput,
    ProviderError,
    ProviderInvalidRequest,
    ProviderUnavailable,
)
from paycore.flows.checkout import CartItem
from paycore.flows.engine import Engine
from paycore.operations import Operator
from paycore.records import Flow
from paycore.status import FlowStatus, OrderStatus, PaymentStatus, RefundStatus
from paycore_adapters.memory import Wiring
from paycore_adapters.stores import OpenStore, open_store


def other_instance(w: Wiring, worker: str = "operator-cli") -> Operator:
    """The operator's actions as another instance (the command line) takes them."""
    eng = w.service.engine
    return Operator(
        Engine(eng.store, eng.provider, eng.clock, eng.alerts, eng.config, eng.defs, worker),
        "the command line",
    )


def rewrite(w: Wiring, flow: Flow, **changes: object) -> None:
    with w.store.transaction() as tx:
        tx.update(s.FLOWS, attrs.evolve(flow, version=flow.version + 1, **changes))


def checkout_in_find(w: Wiring) -> str:
    """A checkout whose create went out and got no answer: it waits in ``find`` for the
    request to land (the provider holds it)."""
    w.provider.hold_next("create_intent")
    with pytest.raises(FlowPending):
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    fid = f"checkout:{SESSION}"
    flow = flow_of(w, fid)
    assert (flow.status, flow.step) == (FlowStatus.ACTIVE, "find")
    assert len(w.provider.held_requests()) == 1
    return fid


class TestAbandonRefusesARunningFlow:
    def test_a_flow_another_instance_runs_under_a_live_lease_is_refused(self) -> None:
        """The worker holds the create's answer in memory, its lease live: the command
        line's abandon is refused, naming the worker and its lease; nothing changes, and
        the worker's answer is applied (it was lease_lost before)."""
        w = make_shop()
        eng = w.service.engine
        fid = w.service.start_checkout(SESSION, [CartItem("p_mug", 1)], chain=True)
        eng.step(fid)  # check_seller + create_intent, the answer held in memory
        before = w.store.fingerprint()
        flow = flow_of(w, fid)
        with pytest.raises(FlowNotAbandonable) as caught:
            other_instance(w).abandon(fid)
        assert eng.worker_id in caught.value.message
        assert str(flow.lease_until) in caught.value.message
        assert caught.value.fields["lease_owner"] == eng.worker_id
        assert w.store.fingerprint() == before
        assert eng.step(fid).result == "succeeded"

    def test_a_flow_this_instance_runs_is_refused(self) -> None:
        """The same instance holds an answer for it: refused as well."""
        w = make_shop()
        eng = w.service.engine
        fid = w.service.start_checkout(SESSION, [CartItem("p_mug", 1)], chain=True)
        eng.step(fid)
        with pytest.raises(FlowNotAbandonable, match="being run by this instance"):
            w.service.abandon_flow(fid)
        assert eng.step(fid).result == "succeeded"

    def test_an_active_flow_that_never_failed_is_refused(self) -> None:
        """Its lease lapsed (its worker died), but it never failed: recovery finishes it;
        only a dead flow or one that is retrying can be abandoned."""
        w = make_shop()
        fid = w.service.start_checkout(SESSION, [CartItem("p_mug", 1)], chain=True)
        flow = flow_of(w, fid)
        w.clock.advance(w.service.config.lease_ms + 1)
        assert flow.attempts == 0
        with pytest.raises(FlowNotAbandonable, match="has not failed"):
            other_instance(w).abandon(fid)

    def test_a_retrying_flow_whose_lease_lapsed_can_be_abandoned(self) -> None:
        """A checkout waiting for its create to land, its worker's lease lapsed: another
        instance may abandon it."""
        w = make_shop()
        fid = checkout_in_find(w)
        with pytest.raises(FlowNotAbandonable, match="retry after"):
            other_instance(w).abandon(fid)
        w.clock.advance(w.service.config.lease_ms)
        after = other_instance(w).abandon(fid)
        assert after.step == "abort" and after.data["compensating"] is True


class TestAbandonedCheckoutWaitsForItsCreate:
    def test_the_compensation_waits_for_a_create_in_flight_then_cancels_it(self) -> None:
        """Abandoned while its create is in flight: the abort lists nothing yet and waits
        (stock held, order open) instead of closing; the create lands; the abort finds the
        intent, cancels it, then releases the stock. No orphan is left for the reconciler.
        (Before: the abort closed at once and the intent landed as an orphan.)"""
        w = make_shop()
        fid = checkout_in_find(w)
        w.service.abandon_flow(fid)
        flow = flow_of(w, fid)
        assert (flow.status, flow.step) == (FlowStatus.ACTIVE, "abort")
        assert flow.last_error is not None and "may still land" in flow.last_error
        assert mug(w) == (5, 1, 0)
        (pay,) = w.store.snapshot().rows(s.PAYMENTS)
        assert pay.status is PaymentStatus.CREATING
        (landed,) = w.provider.release_requests()
        w.clock.advance(w.service.config.backoff_cap_ms)
        w.service.run_recovery()
        assert flow_of(w, fid).status is FlowStatus.FAILED
        assert [(v.id, v.status) for v in w.provider.intents()] == [(landed.id, "canceled")]
        assert mug(w) == (5, 0, 0)
        assert not w.violations()
        assert w.service.run_jobs().orphans_started == 0

    def test_the_compensation_closes_once_nothing_landed_in_time(self) -> None:
        """The create never lands: once ``create_landing_ms`` passed since it was sent,
        the abort concludes that nothing was made, releases the stock and closes."""
        w = make_shop()
        fid = checkout_in_find(w)
        w.service.abandon_flow(fid)
        w.clock.advance(w.service.config.create_landing_ms)
        w.service.run_recovery()
        flow = flow_of(w, fid)
        assert flow.status is FlowStatus.FAILED
        assert mug(w) == (5, 0, 0)

    def test_a_refused_create_still_ends_the_checkout_at_once(self) -> None:
        """A create the provider refused sent nothing that can land: the checkout ends at
        once with its typed error, as before."""
        w = make_shop()

        def fault(name: str, phase: str, key: str | None) -> None:
            if name == "create_intent" and phase == "before":
                raise ProviderInvalidRequest("create_intent: 400 (bad request)")

        w.provider.fault = fault
        with pytest.raises(ProviderError) as caught:
            w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        assert caught.value.fields["reason"] == ProviderInvalidRequest.code
        assert flow_of(w, f"checkout:{SESSION}").status is FlowStatus.FAILED
        assert mug(w) == (5, 0, 0)


class TestAbandonKeepsWhatItMeets:
    def test_abandoning_a_refused_checkout_keeps_its_typed_reason(self) -> None:
        """The create was refused, then the abort's look-up met an outage: abandoning it
        keeps the refusal's code as the flow's error (it was overwritten by
        "abandoned")."""
        w = make_shop()

        def fault(name: str, phase: str, key: str | None) -> None:
            if name == "create_intent" and phase == "before":
                raise ProviderInvalidRequest("create_intent: 400 (bad request)")
            if name == "list_intents":
                raise ProviderUnavailable("list_intents: 503 (outage)")

        w.provider.fault = fault
        with pytest.raises(FlowPending):
            w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        fid = f"checkout:{SESSION}"
        assert flow_of(w, fid).step == "abort"
        w.service.abandon_flow(fid)
        assert flow_of(w, fid).data["error"] == ProviderInvalidRequest.code
        w.provider.fault = None
        w.clock.advance(w.service.config.backoff_cap_ms)
        w.service.run_recovery()
        flow = flow_of(w, fid)
        assert flow.status is FlowStatus.FAILED
        assert flow.result is not None and flow.result["reason"] == ProviderInvalidRequest.code

    def test_a_flow_of_an_unknown_kind_is_a_typed_refusal(self, tmp_path: Path) -> None:
        """A kind this paycore does not know (a newer version's, a renamed one): refused
        with FlowNotAbandonable, and the command exits 2 (it was a KeyError traceback);
        an ended one is refused for having ended."""
        w = make_shop()
        w.provider.hold_next("create_intent")
        with pytest.raises(FlowPending):
            w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        fid = f"checkout:{SESSION}"
        rewrite(w, flow_of(w, fid), kind="legacy", status=FlowStatus.DEAD)
        with pytest.raises(FlowNotAbandonable, match="no flow kind legacy"):
            w.service.abandon_flow(fid)
        path = tmp_path / "shop.json"
        OpenStore(w.store, path).save()
        code, _, err = cli("flows", "abandon", fid, "--store", str(path))
        assert code == 2 and "flow_not_abandonable" in err and "legacy" in err
        rewrite(w, flow_of(w, fid), status=FlowStatus.SUCCEEDED)
        with pytest.raises(FlowNotAbandonable, match="already ended"):
            w.service.abandon_flow(fid)

    def test_a_job_run_cannot_be_abandoned(self) -> None:
        """A background job's run has no compensation and needs none: refused with its
        own message."""
        w = make_shop()
        w.service.run_jobs()
        (job, *_) = [f for f in w.service.flows() if f.id.startswith("job:")]
        rewrite(w, job, status=FlowStatus.DEAD)
        with pytest.raises(FlowNotAbandonable, match="background job"):
            w.service.abandon_flow(job.id)

    def test_the_command_revives_a_dead_job_run_and_says_what_it_is(self, tmp_path: Path) -> None:
        """Reviving is how a dead job run finishes: allowed, and the command says that it
        only repeats reads beside the job's current run."""
        w = make_shop()
        w.service.run_jobs()
        (job, *_) = [f for f in w.service.flows() if f.id.startswith("job:")]
        rewrite(w, job, status=FlowStatus.DEAD)
        path = tmp_path / "shop.json"
        OpenStore(w.store, path).save()
        code, _, err = cli("flows", "abandon", job.id, "--store", str(path))
        assert code == 2 and "background job" in err
        code, out, _ = cli("flows", "revive", job.id, "--store", str(path))
        assert code == 0 and "revived" in out and "background job" in out


def refund_reversed(w: Wiring) -> tuple[str, str]:
    """A paid order refunded in full, whose refund the bank then reversed: the money is
    decided, not back, and a refund_failed alert says so. Returns (order, alert id)."""
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 2)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    w.service.create_refund(res.payment_id, idempotency_key="rma-1")
    deliver_webhooks(w)
    (rf,) = w.service.refunds_of(res.payment_id)
    w.provider.fail_refund(rf.provider_refund_id or "")
    deliver_webhooks(w)
    assert w.service.refunds_of(res.payment_id)[0].status is RefundStatus.FAILED
    order = w.service.order(res.order_id)
    assert order is not None and order.status is OrderStatus.REFUNDED
    return res.order_id, f"refund_failed:{rf.id}"


class TestRefundFailedAlert:
    def test_closing_it_while_the_money_is_not_back_is_refused(self) -> None:
        """Closing the alert would leave decided money neither refunded nor alerted
        (decided-refunds-covered would fail on every later check): refused, nothing
        changed."""
        w = make_shop()
        _, alert_id = refund_reversed(w)
        before = w.store.fingerprint()
        with pytest.raises(InvalidInput, match="force"):
            w.service.resolve_alert(alert_id, "customer paid back by bank transfer")
        assert w.store.fingerprint() == before
        assert not w.violations("safety")

    def test_forced_it_records_the_settlement(self) -> None:
        """With force the operator says the money went back another way: the alert
        closes and records that (``settled_outside``)."""
        w = make_shop()
        _, alert_id = refund_reversed(w)
        closed = w.service.resolve_alert(alert_id, "paid back by bank transfer", force=True)
        assert not closed.open and closed.fields["settled_outside"] is True
        assert closed.resolution == "paid back by bank transfer"
        # The recorded settlement is what decided-refunds-covered accepts from then on.
        assert not w.violations("safety")

    def test_it_closes_freely_once_a_refund_covers_the_money(self) -> None:
        """Refunded again in full: the alert closes by itself (and could be closed)."""
        w = make_shop()
        _, alert_id = refund_reversed(w)
        (pay,) = w.store.snapshot().rows(s.PAYMENTS)
        w.service.create_refund(pay.id, idempotency_key="rma-2")
        alert = w.store.snapshot().get(s.ALERTS, alert_id)
        assert alert is not None and not alert.open

    def test_the_command_refuses_without_force_and_closes_with_it(self, tmp_path: Path) -> None:
        w = make_shop()
        _, alert_id = refund_reversed(w)
        path = tmp_path / "shop.json"
        OpenStore(w.store, path).save()
        kind, subject = alert_id.split(":", 1)
        code, _, err = cli("attention", "resolve", kind, subject, "--store", str(path))
        assert code == 2 and "--force" in err
        code, out, _ = cli(
            "attention", "resolve", kind, subject, "--store", str(path), "--note", "paid", "--force"
        )
        assert code == 0 and "resolved" in out
        alert = open_store(str(path)).store.snapshot().get(s.ALERTS, alert_id)
        assert alert is not None and not alert.open and alert.fields["settled_outside"] is True


class TestFlowsCommands:
    def test_show_json_prints_the_flow_document(self, tmp_path: Path) -> None:
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        path = tmp_path / "shop.json"
        OpenStore(w.store, path).save()
        fid = f"checkout:{SESSION}"
        code, out, _ = cli("flows", "show", fid, "--json", "--store", str(path))
        assert code == 0
        doc = json.loads(out)
        assert doc["id"] == fid and doc["status"] == "succeeded"

    def test_list_shows_the_newest_up_to_a_limit_and_says_when_more_exist(
        self, tmp_path: Path
    ) -> None:
        w = make_shop()
        for n in range(3):
            w.service.create_payment_intent(f"cs_test_000000000{n}", [CartItem("p_mug", 1)])
            w.clock.advance(1_000)
        path = tmp_path / "shop.json"
        OpenStore(w.store, path).save()
        code, out, _ = cli("flows", "list", "--limit", "2", "--store", str(path))
        assert code == 0
        lines = out.splitlines()
        assert lines[0].startswith("checkout:cs_test_0000000002")
        assert lines[1].startswith("checkout:cs_test_0000000001")
        assert "2 of 3 flows" in out and "--limit" in out
        code, out, _ = cli("flows", "list", "--store", str(path))
        assert code == 0 and out.splitlines()[-1] == "3 flows"
        code, out, _ = cli("flows", "list", "--limit", "1", "--json", "--store", str(path))
        assert [d["id"] for d in json.loads(out)] == ["checkout:cs_test_0000000002"]
        code, _, err = cli("flows", "list", "--limit", "0", "--store", str(path))
        assert code == 2 and "invalid_input" in err

    def test_the_service_lists_the_newest_page(self) -> None:
        w = make_shop()
        for n in range(3):
            w.service.create_payment_intent(f"cs_test_000000000{n}", [CartItem("p_mug", 1)])
            w.clock.advance(1_000)
        page = w.service.operator.latest(None, 2)
        assert [f.id for f in page.flows] == [
            "checkout:cs_test_0000000002",
            "checkout:cs_test_0000000001",
        ]
        assert page.total == 3 and page.more
        with pytest.raises(InvalidInput):
            w.service.operator.latest(None, 0)
