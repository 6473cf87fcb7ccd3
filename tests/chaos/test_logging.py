"""Logging: a record per step, warnings for retries and give-ups, and never a secret."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from tests.support import SESSION, make_shop, with_config

from paycore import schema as s
from paycore.errors import FlowPending, InvalidInput, ProviderUnavailable
from paycore.flows.checkout import CartItem
from paycore.flows.engine import Advance, Local
from paycore.records import Flow
from paycore.unit import Unit
from paycore_adapters import signing
from paycore_adapters.memory import Wiring

WEBHOOK_SECRET = "whsec_logging_test_only_0123456789"


def fail_once(w: Wiring, call: str) -> None:
    """The provider's next ``call`` takes effect, but its answer is lost."""
    real: Callable[..., Any] = getattr(w.provider, call)
    left = [1]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        answer = real(*args, **kwargs)
        if left:
            left.pop()
            raise ProviderUnavailable("the provider did not answer")
        return answer

    setattr(w.provider, call, flaky)


def lifecycle(w: Wiring) -> None:
    """Checkout, its created webhook (signed), a confirm whose answer is lost and whose
    follow-up is retried, the success webhook, a refund, and the background jobs."""
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    deliver_signed(w)  # the payment is open: the webhook's flow asks the provider
    fail_once(w, "confirm_intent")
    fail_once(w, "retrieve_intent")
    try:
        w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    except FlowPending:
        w.clock.advance(w.service.config.backoff_cap_ms)
        w.service.run_recovery()
    deliver_signed(w)
    w.service.create_refund(res.payment_id, 500, None, "rk-logging")
    w.clock.advance(w.service.config.backoff_cap_ms)
    w.service.run_jobs()


def deliver_signed(w: Wiring) -> None:
    """Deliver the provider's new events through the signed webhook path."""
    now_s = w.clock.now() // 1000
    for event in w.provider.take_events():
        payload = signing.to_payload(event)
        header = signing.sign(payload, WEBHOOK_SECRET, now_s)
        w.service.handle_webhook(signing.receive(payload, header, WEBHOOK_SECRET, now_s))


def secrets_of(w: Wiring) -> set[str]:
    found = {p.client_secret for p in w.store.snapshot().rows(s.PAYMENTS)}
    return {x for x in found if x} | {WEBHOOK_SECRET}


def everything_said(record: logging.LogRecord) -> str:
    """The record's message and every field it carries."""
    return record.getMessage() + repr(sorted(vars(record).items(), key=lambda kv: kv[0]))


class TestLogging:
    def test_no_secret_in_any_log_record_of_a_lifecycle(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Every record of a full lifecycle, at DEBUG, is free of client and signing
        secrets (and there are records: steps, and the retry)."""
        caplog.set_level(logging.DEBUG)
        w = make_shop()
        lifecycle(w)
        secrets = secrets_of(w)
        assert len(secrets) >= 2
        said = [everything_said(r) for r in caplog.records]
        assert not [(x, line) for line in said for x in secrets if x in line]
        steps = [r for r in caplog.records if r.levelno == logging.DEBUG and hasattr(r, "effect")]
        assert {"checkout", "confirm", "refund", "webhook"} <= {r.flow_kind for r in steps}
        assert any(
            r.levelno == logging.WARNING and "retries" in r.getMessage() for r in caplog.records
        )

    def test_each_step_is_a_structured_debug_record(self, caplog: pytest.LogCaptureFixture) -> None:
        """A step's record names its flow, kind, step, effect and result as fields."""
        caplog.set_level(logging.DEBUG, logger="paycore.flows.engine")
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        first = next(r for r in caplog.records if getattr(r, "flow_kind", None) == "checkout")
        assert first.name == "paycore.flows.engine"
        assert (first.flow_id, first.step, first.effect) == (  # type: ignore[attr-defined]
            f"checkout:{SESSION}",
            "check_seller",
            "call:retrieve_account+create_intent",  # the seller's yes: the create at once
        )

    def test_a_dead_letter_is_an_error_with_its_reason(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A flow that gives up for good logs an ERROR record carrying its reason."""
        caplog.set_level(logging.DEBUG)
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        events = w.provider.take_events()
        with_config(w, retry_horizon_ms=0)  # the first transient failure is the last

        def down(*args: Any, **kwargs: Any) -> Any:
            raise ProviderUnavailable("the provider did not answer")

        w.provider.retrieve_intent = down  # type: ignore[method-assign]
        with pytest.raises(FlowPending):
            w.service.handle_webhook(events[0])
        dead = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert dead and getattr(dead[0], "outcome", None) == "dead"
        assert getattr(dead[0], "flow_kind", None) == "webhook"
        assert "provider_unavailable" in dead[0].getMessage()
        assert getattr(dead[0], "reason", None) == "provider_unavailable"

    def test_a_step_record_says_the_whole_step(self, caplog: pytest.LogCaptureFixture) -> None:
        """A step's message reads flow, kind, step, effect and result, and the result is a
        field too."""
        caplog.set_level(logging.DEBUG, logger="paycore.flows.engine")
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        first = next(r for r in caplog.records if getattr(r, "flow_kind", None) == "checkout")
        assert getattr(first, "result", None) == "ok"
        said = (
            f"flow checkout:{SESSION} (checkout) check_seller call:retrieve_account+create_intent"
        )
        assert first.getMessage() == f"{said} -> ok"

    def test_a_failed_step_logs_paycores_own_error_with_its_stack(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A step that fails with one of paycore's errors logs a WARNING naming the flow and
        step, with the frames, the error's type, code and message, and its type as a field."""
        caplog.set_level(logging.DEBUG)
        w = make_shop()
        fid = w.service.start_checkout(SESSION, [CartItem("p_mug", 1)])
        engine = w.service.engine
        real = engine.defs["checkout"]

        def refuse(u: Unit, flow: Flow) -> Advance:
            raise InvalidInput("this record cannot be read")

        steps = {
            n: attrs.evolve(spec, run=lambda f: Local(refuse)) for n, spec in real.steps.items()
        }
        engine.defs["checkout"] = attrs.evolve(real, steps=steps)
        with pytest.raises(FlowPending):
            w.service.run_flow(fid)
        failed = [r for r in caplog.records if getattr(r, "error_type", None) == "InvalidInput"]
        assert failed and failed[0].levelno == logging.WARNING
        said = failed[0].getMessage()
        assert said.startswith(f"flow {fid} (checkout) step check_seller failed\n")
        assert "Traceback (most recent call last):\n  File " in said
        assert said.endswith("InvalidInput: invalid_input: this record cannot be read")
        frames = said.split("\n")[2:-1]  # between the headline and the error's own line
        assert frames and all(line.startswith(("  File ", "    ")) for line in frames)
        assert getattr(failed[0], "flow_id", None) == fid
