"""Two service instances on one store, one of them slow: a worker holds a flow's lease
from the moment it starts running it, and no provider call goes out for a flow whose
lease another worker holds live (duplicate provider calls otherwise)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support import SESSION, make_shop

from paycore import jobs
from paycore.config import Config
from paycore.errors import InvalidInput
from paycore.flows.checkout import CartItem
from paycore.ports import PaymentProvider
from paycore.service import PaymentService
from paycore_adapters.memory import RecordingAlerts, RecordingNotifier, Wiring
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.runtime import (
    STRIPE_RETRIES,
    STRIPE_TIMEOUT_S,
    build_service,
    check_lease,
    longest_call_ms,
)


def beside(w: Wiring) -> PaymentService:
    """A second instance on ``w``'s store and provider, with a worker id of its own."""
    return PaymentService(
        w.store, w.provider, w.clock, RecordingAlerts(), RecordingNotifier(), worker_id="b"
    )


class Calls:
    """The provider of one instance: counts its ``call`` calls under ``who``, and runs
    ``during`` inside the first one (the call is slow: the clock moves meanwhile)."""

    def __init__(self, real: PaymentProvider, who: str, call: str, log: list[Any]) -> None:
        self.real, self.who, self.call, self.log = real, who, call, log
        self.during: Any = None

    def __getattr__(self, name: str) -> Any:
        made = getattr(self.real, name)
        if name != self.call:
            return made

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.log.append((self.who, args[0] if args else None))
            during, self.during = self.during, None
            if during is not None:
                during()
            return made(*args, **kwargs)

        return counted


class TestSlowCall:
    def test_a_call_as_long_as_the_sdk_allows_is_not_repeated_by_another_instance(
        self,
    ) -> None:
        """A's confirm is inside its call for as long as the Stripe adapter's timeout and
        retries allow; B's recovery meanwhile passes the flow over: one call."""
        w = make_shop()
        other = beside(w)
        r = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        log: list[Any] = []
        a = Calls(w.provider, "A", "confirm_intent", log)
        b = Calls(w.provider, "B", "confirm_intent", log)
        w.service.engine.provider, other.engine.provider = a, b
        taken: list[str] = []

        def slow() -> None:
            w.clock.advance(longest_call_ms(STRIPE_TIMEOUT_S, STRIPE_RETRIES))
            taken.extend(jobs.due_flows(other.engine))
            for fid in taken:
                other.run_flow(fid)

        a.during = slow
        result = w.service.confirm_payment(r.payment_id, "pm_card_visa")
        assert taken == []
        assert [who for who, _ in log] == ["A"]
        assert result.status == "succeeded"


class TestJanitorBatch:
    def test_the_janitor_does_not_run_a_cancel_another_instance_took_over(self) -> None:
        """A's first cancel outlasts the lease of the whole batch; B's recovery takes the
        three cancels and sends them. A then sends nothing for the two B holds, and stops
        the first one once B's step moved it on."""
        w = make_shop(stock=10)
        other = beside(w)
        for i in range(3):
            w.service.create_payment_intent(f"cs_{i:016x}", [CartItem("p_mug", 1)])
        w.clock.advance(w.service.config.reservation_ttl_ms + 1)
        log: list[Any] = []
        a = Calls(w.provider, "A", "cancel_intent", log)
        b = Calls(w.provider, "B", "cancel_intent", log)
        w.service.engine.provider, other.engine.provider = a, b
        taken: list[str] = []

        def slow() -> None:
            w.clock.advance(w.service.config.lease_ms + 1)
            taken.extend(jobs.due_flows(other.engine))
            for fid in taken:
                other.engine.step(fid)  # B's call is out, its answer not applied yet

        a.during = slow
        assert w.service.run_janitor() == 3
        assert len(taken) == 3
        sent_by_a = [intent for who, intent in log if who == "A"]
        sent_by_b = [intent for who, intent in log if who == "B"]
        assert len(sent_by_a) == 1
        assert sorted(sent_by_b) == ["pi_000001", "pi_000002", "pi_000003"]


class TestLeaseCheck:
    def test_the_default_lease_covers_two_of_the_stripe_adapters_longest_calls(self) -> None:
        """The default lease passes the check; the runtime repeats the adapter's settings."""
        from paycore_adapters import stripe_provider

        assert (STRIPE_TIMEOUT_S, STRIPE_RETRIES) == (
            stripe_provider.DEFAULT_TIMEOUT_S,
            stripe_provider.DEFAULT_RETRIES,
        )
        assert longest_call_ms(30.0, 2) == 100_000
        check_lease(Config(), STRIPE_TIMEOUT_S, STRIPE_RETRIES)

    def test_a_lease_shorter_than_two_calls_is_refused(self) -> None:
        """build_service refuses the review's 30 s lease with Stripe's settings."""
        with pytest.raises(InvalidInput, match="lease_ms=30000"):
            build_service(
                MemoryStore(), w_provider(), RecordingNotifier(), config=Config(lease_ms=30_000)
            )


def w_provider() -> PaymentProvider:
    return make_shop().provider
