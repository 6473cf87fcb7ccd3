"""The production wiring (paycore_adapters.runtime): wall clock, alerts to the log, a
worker id per instance, the provider behind the circuit breaker."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time

import pytest

from paycore.errors import (
    FlowPending,
    InvalidInput,
    ProviderCircuitOpen,
    ProviderError,
    ProviderUnavailable,
)
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.records import OutboxMessage
from paycore.service import PaymentService
from paycore_adapters.breaker import OPEN, Breaker, BreakerProvider
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.harness.faulty import FaultyProvider
from paycore_adapters.memory import ManualClock, RecordingNotifier
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.runtime import (
    LoggingAlerts,
    LoggingNotifier,
    SystemClock,
    build_service,
)


def shop(clock: ManualClock, breaker: Breaker) -> tuple[PaymentService, FaultyProvider]:
    provider = FaultyProvider(FakeProvider(clock))
    provider.set_account("acct_1")
    svc = build_service(MemoryStore(), provider, RecordingNotifier(), clock=clock, breaker=breaker)
    svc.add_seller("s1", "Mug Shop", "acct_1")
    svc.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    svc.restock("s1", "SKU-MUG", 50)
    return svc, provider


def test_the_provider_sits_behind_the_breaker_and_a_down_provider_opens_it() -> None:
    """After fail_max unanswered seller checks, a new checkout fails fast with the typed
    error and no provider call."""

    def down(call: str, phase: str, key: str | None) -> None:
        if phase == "before":
            raise ProviderUnavailable(f"{call}: connection refused")

    clock = ManualClock()
    breaker = Breaker(clock, fail_max=2)
    svc, provider = shop(clock, breaker)
    assert isinstance(svc.engine.provider, BreakerProvider)
    provider.fault = down
    for n in range(2):
        with pytest.raises((FlowPending, ProviderError)):
            svc.create_payment_intent(f"cs_test_runtime{n:04d}", [CartItem("p_mug", 1)])
    assert breaker.state == OPEN
    asked = provider.calls["retrieve_account"]
    with pytest.raises(ProviderCircuitOpen):
        svc.create_payment_intent("cs_test_runtime0009", [CartItem("p_mug", 1)])
    assert provider.calls["retrieve_account"] == asked


def test_a_healthy_provider_pays_through_the_wiring() -> None:
    clock = ManualClock()
    svc, _ = shop(clock, Breaker(clock))
    made = svc.create_payment_intent("cs_test_runtime0100", [CartItem("p_mug", 2)])
    paid = svc.confirm_payment(made.payment_id, payment_method="pm_card_visa")
    assert paid.status == "succeeded"
    assert svc.order(made.order_id).status == "paid"


def test_each_instance_has_a_worker_id_of_its_own() -> None:
    clock = ManualClock()
    svc, _ = shop(clock, Breaker(clock))
    twin, _ = shop(clock, Breaker(clock))  # a second instance in the same process
    host_and_process = f"{socket.gethostname()}-{os.getpid()}-"
    assert svc.engine.worker_id.startswith(host_and_process)
    assert twin.engine.worker_id.startswith(host_and_process)
    assert svc.engine.worker_id != twin.engine.worker_id
    other = build_service(MemoryStore(), FakeProvider(clock), RecordingNotifier(), worker_id="w2")
    assert other.engine.worker_id == "w2"


def test_the_system_clock_reads_milliseconds_of_the_wall_clock() -> None:
    before = time.time_ns() // 1_000_000
    now = SystemClock().now()
    after = time.time_ns() // 1_000_000
    assert before <= now <= after


def test_alerts_and_notifications_reach_the_log_with_their_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="paycore_adapters.runtime")
    LoggingAlerts().alert("stuck_refund", "refund r1 has waited a day", refund_id="r1")
    LoggingNotifier().send(OutboxMessage("ob1", "o1", "order_paid", 0))
    alert, note = caplog.records
    assert (alert.levelno, alert.getMessage()) == (
        logging.ERROR,
        "alert stuck_refund: refund r1 has waited a day",
    )
    assert (alert.alert_kind, alert.alert_fields) == ("stuck_refund", {"refund_id": "r1"})  # type: ignore[attr-defined]
    assert (note.levelno, note.getMessage()) == (
        logging.INFO,
        "notification order_paid for order o1",
    )


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("config", {"config": "x"}),
        ("notifier", {"notifier": None}),
        ("provider_timeout_s", {"provider_timeout_s": float("nan")}),
        ("provider_timeout_s", {"provider_timeout_s": -1}),
        ("provider_timeout_s", {"provider_timeout_s": True}),
        ("provider_retries", {"provider_retries": "2"}),
        ("provider_retries", {"provider_retries": -1}),
    ],
)
def test_build_service_refuses_arguments_it_cannot_use_by_name(
    field: str, kw: dict[str, object]
) -> None:
    """Each was an AttributeError, TypeError or ValueError later, or (a None notifier,
    a negative timeout) no error at all: every send failing, the lease check off."""
    clock = ManualClock()
    args: dict[str, object] = {"notifier": RecordingNotifier(), "clock": clock, **kw}
    notifier = args.pop("notifier")
    with pytest.raises(InvalidInput) as caught:
        build_service(MemoryStore(), FakeProvider(clock), notifier, **args)  # type: ignore[arg-type]
    assert caught.value.fields["field"] == field


def test_two_processes_of_one_name_and_pid_get_different_worker_ids() -> None:
    """Two containers of one image with the same host name, each running paycore as
    PID 1, must not share a worker id (they would take each other's leases)."""
    code = (
        "import os, socket; socket.gethostname = lambda: 'shop'; os.getpid = lambda: 1\n"
        "from paycore.workers import instance_id; print(instance_id())"
    )
    ids = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert all(i.startswith("shop-1-") for i in ids), ids
    assert ids[0] != ids[1]
