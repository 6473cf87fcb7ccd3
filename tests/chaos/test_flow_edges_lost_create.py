"""A checkout whose seller check went on at once to the create, and whose create answer
was lost (a crash, a store failure while it was applied), runs the seller check again.
When that check now refuses (the seller cannot charge) or fails (settings the provider
refuses), the checkout must look for the intent the lost create may have made before
it closes: cancel it, rather than leave it for the reconciler to cancel as an orphan
with an alert. The first run of a new checkout, which sent nothing, still closes at
once without asking the provider."""

from __future__ import annotations

import pytest
from tests.support import SESSION, make_shop

from paycore import errors as E
from paycore import jobs
from paycore import schema as s
from paycore.flows.checkout import CartItem
from paycore.service import PaymentService
from paycore.status import FlowStatus
from paycore_adapters.memory import Wiring


def lost_create(w: Wiring) -> str:
    """A checkout recorded, its seller check and create made in one engine step, then
    the worker crashed before the create's answer was applied: one live intent at the
    provider that no payment records. Returns the flow id."""
    fid = w.service.start_checkout(SESSION, [CartItem("p_mug", 1)], chain=True)
    report = w.service.engine.step(fid)
    assert report.effect == "call:retrieve_account+create_intent"
    w.service.engine.forget_inflight()
    (intent,) = w.provider.intents()
    assert intent.status == "requires_payment_method"
    return fid


def refuse_settings(call: str, phase: str, key: str | None) -> None:
    """The provider refuses paycore's settings for the seller's account, from now on."""
    if call == "retrieve_account" and phase == "before":
        raise E.ProviderConfigurationError("this key may not read the account")


def recovered(w: Wiring, fid: str) -> None:
    """The crashed worker's lease lapses and recovery claims and runs the flow."""
    w.clock.advance(w.service.config.lease_ms)
    w.service.run_recovery()
    assert w.service.flow(fid).status is FlowStatus.FAILED


class TestSellerCheckAfterALostCreate:
    def test_a_refusal_in_recovery_cancels_the_intent_before_closing(self) -> None:
        """The provider disabled the seller's charges since: recovery ends the checkout
        seller_cannot_charge with the lost create's intent canceled, and the reconciler
        finds no orphan."""
        w = make_shop()
        fid = lost_create(w)
        w.provider.set_account("acct_1", charges_enabled=False)
        recovered(w, fid)
        assert w.service.flow(fid).result["error"] == "seller_cannot_charge"
        assert [i.status for i in w.provider.intents()] == ["canceled"]
        assert jobs.reconcile(w.service.engine) == []
        assert not [a for a in w.alerts.raised if a.kind.startswith("orphan")]

    def test_a_failed_check_in_recovery_cancels_the_intent_before_closing(self) -> None:
        """The provider now refuses the settings the check reads the account with: the
        checkout still ends with that error, the intent canceled first."""
        w = make_shop()
        fid = lost_create(w)
        w.provider.fault = refuse_settings
        recovered(w, fid)
        assert w.service.flow(fid).result["error"] == "provider_configuration"
        assert [i.status for i in w.provider.intents()] == ["canceled"]
        assert jobs.reconcile(w.service.engine) == []

    def test_a_replayed_session_looks_before_closing(self) -> None:
        """The customer's repeated request replays the session before any recovery: the
        check it runs again refuses, and the intent is canceled before the error."""
        w = make_shop()
        lost_create(w)
        w.provider.set_account("acct_1", charges_enabled=False)
        with pytest.raises(E.SellerCannotCharge):
            w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        assert [i.status for i in w.provider.intents()] == ["canceled"]
        assert jobs.reconcile(w.service.engine) == []

    def test_a_first_run_closes_at_once(self) -> None:
        """A new checkout whose first seller check fails sent no create: it closes at
        once, asking the provider nothing more (it may well be down)."""
        w = make_shop()
        w.provider.fault = refuse_settings
        with pytest.raises(E.ProviderConfigurationError):
            w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        assert w.provider.calls["list_intents"] == 0
        assert w.provider.intents() == []


class FailSecondCommit:
    """The store fails the commit of the second writing transaction from now on only:
    the checkout's begin commits, the apply of its check and create does not."""

    def __init__(self) -> None:
        self.commits = 0

    def before_commit(self) -> None:
        self.commits += 1
        if self.commits == 2:
            raise E.OperationalError("database unreachable")

    def after_commit(self) -> None:
        pass


def lost_in_the_call(w: Wiring) -> str:
    """``create_payment_intent`` on a live worker: the store fails as the answers of
    the seller check and the create are applied, so the intent is live at the provider
    and the flow still at its first step (version 0, leased to this worker)."""
    w.store.faults = FailSecondCommit()  # type: ignore[attr-defined]
    with pytest.raises(E.OperationalError):
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.store.faults = None  # type: ignore[attr-defined]
    (intent,) = w.provider.intents()
    assert intent.status == "requires_payment_method"
    (fid,) = [f.id for f in w.store.snapshot().rows(s.FLOWS)]
    assert w.service.flow(fid).version == 0
    return fid


class TestTheSameWorkerRunsItAgain:
    """Not a replay and not recovery: the worker that lost the answer runs the flow
    again itself (its own lease, still live), or a process restarted under the same
    explicit worker id does. Neither knows what the lost run sent: both look."""

    def test_run_flow_after_the_store_failed_cancels_the_intent(self) -> None:
        w = make_shop()
        fid = lost_in_the_call(w)
        w.provider.set_account("acct_1", charges_enabled=False)
        with pytest.raises(E.SellerCannotCharge):
            w.service.run_flow(fid)
        assert [i.status for i in w.provider.intents()] == ["canceled"]
        assert jobs.reconcile(w.service.engine) == []
        assert not [a for a in w.alerts.raised if a.kind.startswith("orphan")]

    def test_a_restart_under_the_same_worker_id_cancels_the_intent(self) -> None:
        w = make_shop()
        fid = lost_in_the_call(w)
        w.provider.fault = refuse_settings
        worker = w.service.engine.worker_id
        restarted = PaymentService(
            w.store, w.provider, w.clock, w.alerts, w.notifier, worker_id=worker
        )
        with pytest.raises(E.ProviderConfigurationError):
            restarted.run_flow(fid)
        assert [i.status for i in w.provider.intents()] == ["canceled"]
