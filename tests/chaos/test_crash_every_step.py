"""A worker crash between any two steps of a lifecycle loses nothing and repeats nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from tests.support import SESSION, make_shop, quiesce

from paycore.errors import CommitUnknown, OperationalError, PaycoreError, ProviderUnavailable
from paycore.flows.checkout import CartItem
from paycore.flows.engine import Engine, StepReport
from paycore.records import Flow
from paycore_adapters.memory import Wiring


class Crash(BaseException):
    """The process died; its in-memory state is gone. Not an ``Exception``: no code of
    the dying process handles it (the engine turns an ``Exception`` escaping a flow into
    a strike of that flow)."""


def crash_after(w: Wiring, k: int) -> Callable[[], int]:
    """Make the engine die right after its k-th step; return a step counter."""
    eng: Engine = w.service.engine
    real = Engine.step
    count = 0

    def step(flow_id: str, known: Flow | None = None) -> StepReport:
        nonlocal count
        report = real(eng, flow_id, known)
        count += 1
        if count == k:
            eng.forget_inflight()
            raise Crash(report)
        return report

    eng.step = step  # type: ignore[method-assign]
    return lambda: count


def lifecycle(w: Wiring) -> None:
    """Checkout, confirm, webhooks, refund: what a customer and support would do."""
    svc = w.service
    res = svc.create_payment_intent(SESSION, [CartItem("p_mug", 2)])
    svc.confirm_payment(res.payment_id, "pm_card_visa")
    for ev in w.provider.take_events():
        svc.handle_webhook(ev)
    svc.create_refund(res.payment_id, 500, idempotency_key="support-1")


def steps_in_lifecycle() -> int:
    w = make_shop()
    counter = crash_after(w, -1)
    lifecycle(w)
    return counter()


@pytest.mark.parametrize("k", range(1, steps_in_lifecycle() + 1))
def test_crash_after_step_k_converges(k: int) -> None:
    """Crash after step k, restart, retry the operations: one order, paid once, refunded once."""
    w = make_shop()
    crash_after(w, k)
    with contextlib.suppress(Crash):
        lifecycle(w)
    w.service.engine.step = Engine.step.__get__(w.service.engine)  # type: ignore[method-assign]
    assert not w.violations("safety")
    # Restart: once the dead worker's lease lapses, recovery resumes its flows;
    # then the customer and support retry what they were doing.
    w.clock.advance(w.service.config.lease_ms + 1)
    w.service.run_jobs()
    try:
        lifecycle(w)
    except PaycoreError as exc:  # a retry after the crash may find work already done
        assert exc.code in {"payment_not_confirmable", "refund_exceeds_refundable"}, exc
    quiesce(w)
    assert not w.violations(), w.violations()
    intents = w.provider.intents()
    assert len(intents) == 1 and intents[0].status == "succeeded"
    assert [r.amount for r in w.provider.refunds()] == [500]
    order = w.service.order("ord_000001")
    assert order is not None and order.status == "partially_refunded"
    stock = w.store.snapshot().tables["stock"]["s1/SKU-MUG"]
    assert (stock.on_hand, stock.held, stock.committed) == (5, 0, 2)


class StoreFault:
    """Fail the k-th commit, before it applies or after (the ambiguous case)."""

    def __init__(self, k: int, after: bool) -> None:
        self.k, self.after, self.n = k, after, 0

    def before_commit(self) -> None:
        self.n += 1
        if self.n == self.k and not self.after:
            raise OperationalError("injected: disk full")

    def after_commit(self) -> None:
        if self.n == self.k and self.after:
            raise CommitUnknown("injected: connection lost during commit")


def commits_in_lifecycle() -> int:
    """Commits that write (only those can be failed; a read-only one has nothing to lose)."""
    w = make_shop()
    w.store.faults = counter = StoreFault(0, after=False)
    lifecycle(w)
    return counter.n


def provider_calls_in_lifecycle() -> int:
    w = make_shop()
    lifecycle(w)
    return sum(w.provider.calls.values())


def _restart_retry_and_check(w: Wiring) -> None:
    w.store.faults = None
    w.provider.fault = None
    w.service.engine.forget_inflight()
    assert not w.violations("safety"), w.violations("safety")
    w.clock.advance(w.service.config.lease_ms + 1)
    w.service.run_jobs()
    try:
        lifecycle(w)
    except PaycoreError as exc:
        assert exc.code in {"payment_not_confirmable", "refund_exceeds_refundable"}, exc
    quiesce(w)
    assert not w.violations(), w.violations()
    live = [i for i in w.provider.intents() if i.status != "canceled"]
    assert len(live) == 1 and live[0].status == "succeeded"
    assert sum(r.amount for r in w.provider.refunds() if r.status == "succeeded") == 500


@pytest.mark.parametrize("after", [False, True], ids=["commit_fails", "commit_unknown"])
@pytest.mark.parametrize("k", range(1, commits_in_lifecycle() + 1))
def test_store_fault_at_commit_k_converges(k: int, after: bool) -> None:
    """A failed or ambiguous k-th commit: the caller sees an error, nothing is lost or doubled."""
    w = make_shop()
    w.store.faults = StoreFault(k, after)
    with contextlib.suppress(PaycoreError):
        lifecycle(w)
    _restart_retry_and_check(w)


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("k", range(1, provider_calls_in_lifecycle() + 1))
def test_provider_fault_at_call_k_converges(k: int, phase: str) -> None:
    """The k-th provider call fails before its effect, or after it (response lost)."""
    w = make_shop()
    n = 0

    def fault(call: str, when: str, key: str | None) -> None:
        nonlocal n
        if when == "before":
            n += 1
        if n == k and when == phase:
            raise ProviderUnavailable(f"injected: {call} {when} effect")

    w.provider.fault = fault
    with contextlib.suppress(PaycoreError):
        lifecycle(w)
    _restart_retry_and_check(w)
