"""The provider lists newest first, a page at a time (review of provider listing, L1 and
L2): the reconciler reaches intents made after its last run, and every page of an
intent's refunds is read. The provider here lists at most two (or one) objects a page,
so every walk crosses pages."""

from __future__ import annotations

from tests.support import deliver_webhooks, flow_of, made_here, make_shop, step

from paycore import jobs
from paycore.errors import ProviderUnavailable
from paycore.flows.checkout import CartItem
from paycore.flows.params import REFUND_LANDING_MS
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore.status import FlowStatus, RefundStatus
from paycore_adapters.harness.bugs import switched_on
from paycore_adapters.memory import Wiring


def orphan(w: Wiring, n: int) -> str:
    """An intent this installation made that no payment records (a lost create)."""
    req = CreateIntent(Money(700, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_l"))
    return w.provider.create_intent(req, idempotency_key=f"lost-create-{n}").id


def paid(w: Wiring) -> str:
    r = w.service.create_payment_intent("cs_test_listing0001", [CartItem("p_mug", 2)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    deliver_webhooks(w)
    return r.payment_id


def dashboard_refund(w: Wiring, intent: str, amount: int, key: str) -> str:
    made = w.provider.create_refund(
        intent, amount=amount, reason=None, metadata={}, idempotency_key=key
    )
    return made.id


class TestL01ReconcilerReachesNewIntents:
    @staticmethod
    def late_orphan_found(w: Wiring) -> list[str]:
        w.provider.page_cap = 2  # type: ignore[attr-defined]
        first = [orphan(w, n) for n in range(3)]
        eng = w.service.engine
        assert sorted(jobs.reconcile(eng)) == sorted(f"orphan:{i}" for i in first)
        late = orphan(w, 3)
        found = jobs.reconcile(eng)
        assert set(found) <= {f"orphan:{late}"}
        return found

    def test_an_orphan_made_after_a_run_is_found_by_the_next(self) -> None:
        """A run ends with its cursor on the oldest intent; an intent orphaned afterwards
        is the newest: the next run goes around to the head of the list and finds it."""
        w = make_shop()
        assert len(self.late_orphan_found(w)) == 1

    def test_the_flaw_switched_on_misses_it(self) -> None:
        """L1 goes on back in time from where the last run stopped: the late orphan is
        never listed."""
        with switched_on("L1"):
            assert self.late_orphan_found(make_shop()) == []


class TestL02EveryRefundPageRead:
    @staticmethod
    def lost_refund_behind_newer_ones(w: Wiring) -> str:
        """A refund of 700 whose answer is lost; then two dashboard refunds, newer: the
        refund is third on a list read one refund a page. Returns the payment."""
        pid = paid(w)
        intent = w.service.payment(pid).provider_intent_id
        assert intent is not None
        w.provider.page_cap = 1  # type: ignore[attr-defined]
        lost: list[str] = []

        def answer_lost(name: str, phase: str, key: str | None) -> None:
            if name == "create_refund" and phase == "after" and len(lost) < 2:
                lost.append(name)
                raise ProviderUnavailable("injected: the answer is lost")

        w.provider.fault = answer_lost  # type: ignore[attr-defined]
        fid = w.service.start_refund(pid, 700, None, "rma-listing")
        step(w, fid, 4)  # its call and its replay (made, both answers lost), each applied
        assert len(lost) == 2 and flow_of(w, fid).step == "resolve"
        for n in range(2):
            dashboard_refund(w, intent, 100, f"dash-{n}")
        step(w, fid, 2)  # the list of every page, applied
        return pid

    def test_a_lost_refund_behind_newer_ones_is_found_not_made_again(self) -> None:
        """The flow reads every page, finds its refund and records it: one provider refund
        carries its id."""
        w = make_shop()
        pid = self.lost_refund_behind_newer_ones(w)
        ours = [r for r in w.service.refunds_of(pid) if not r.external]
        assert [(r.status, r.amount.amount) for r in ours] == [(RefundStatus.SUCCEEDED, 700)]
        made = [r for r in w.provider.refunds() if r.metadata.get("refund_id") == ours[0].id]
        assert [r.id for r in made] == [ours[0].provider_refund_id]

    def test_the_flaw_switched_on_refunds_twice(self) -> None:
        """L2 reads the first page only: the refund is not found and made again."""
        w = make_shop()
        with switched_on("L2"):
            pid = self.lost_refund_behind_newer_ones(w)
            w.clock.advance(REFUND_LANDING_MS + w.service.config.backoff_cap_ms)
            w.service.run_recovery()  # nothing listed once no request can land: a new key
            w.clock.advance(w.service.config.backoff_cap_ms)
            w.service.run_recovery()
        ours = next(r for r in w.service.refunds_of(pid) if not r.external)
        made = [r for r in w.provider.refunds() if r.metadata.get("refund_id") == ours.id]
        assert len(made) == 2 and sum(r.amount for r in made) == 1400

    def test_the_scan_records_refunds_on_every_page(self) -> None:
        """Three dashboard refunds whose webhooks were lost, listed one a page: the
        reconciler's scan records all three."""
        w = make_shop()
        pid = paid(w)
        intent = w.service.payment(pid).provider_intent_id
        assert intent is not None
        w.provider.page_cap = 1  # type: ignore[attr-defined]
        made = {dashboard_refund(w, intent, 100, f"dash-{n}") for n in range(3)}
        w.provider.take_events()  # lost
        assert jobs.find_external_refunds(w.service.engine) == 3
        recorded = {r.provider_refund_id for r in w.service.refunds_of(pid) if r.external}
        assert recorded == made
        assert flow_of(w, "job:external_refunds:1").status is FlowStatus.SUCCEEDED
