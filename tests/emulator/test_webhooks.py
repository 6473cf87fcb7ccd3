"""Signed webhook delivery to a receiver on 127.0.0.1, redelivery after a failure, and
the emulator's settings it refuses."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from paycore_adapters.emulator import MAX_ATTEMPTS, Emulator, EmulatorSettingsInvalid
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock
from paycore_adapters.testing import EmulatorDriver

from .conftest import create, sdk

SECRET = "whsec_emulator_test_0001"


class Receiver:
    """A webhook endpoint: records each body and signature; answers 500 to the first
    ``failures`` deliveries, then 200."""

    def __init__(self, failures: int = 0) -> None:
        self.got: list[tuple[bytes, str]] = []
        self.failures = failures
        self.lock = threading.Lock()
        receiver = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.got.append((body, self.headers["Stripe-Signature"]))
                    failing = len(receiver.got) <= receiver.failures
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [b for b, _ in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def wait_for(done: Callable[[], bool]) -> None:
    """Poll until ``done`` (bounded: a failing test ends, it does not hang)."""
    for _ in range(500):
        if done():
            return
        time.sleep(0.02)
    raise AssertionError("not delivered in time")


def test_events_arrive_signed_as_stripe_signs(receiver: Receiver) -> None:
    model = FakeProvider(ManualClock())
    with Emulator(model, webhook_url=receiver.url, webhook_secret=SECRET) as emu:
        EmulatorDriver(emu)
        pi = create(sdk(emu), "k_w1")
        sdk(emu).v1.payment_intents.confirm(
            pi.id, {"payment_method": "pm_card_visa"}, {"idempotency_key": "k_w2"}
        )
        types = ["payment_intent.created", "payment_intent.succeeded", "charge.succeeded"]
        wait_for(lambda: len(receiver.bodies()) >= 3)
    events = []
    for body, header in receiver.got:
        event = stripe.WebhookSignature.verify_header(body.decode(), header, SECRET, 300)
        assert event is True
        events.append(json.loads(body))
    assert [e["type"] for e in events] == types
    created = events[0]
    assert (created["object"], created["data"]["object"]["id"]) == ("event", pi.id)
    assert created["data"]["object"]["status"] == "requires_payment_method"
    assert "client_secret" not in created["data"]["object"]
    assert created["created"] == model.clock.now() // 1000
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            receiver.got[0][0].decode(), receiver.got[0][1], "whsec_wrong", 300
        )


def test_a_failed_delivery_is_sent_again_then_given_up() -> None:
    flaky = Receiver(failures=MAX_ATTEMPTS + 1)
    try:
        with Emulator(
            FakeProvider(ManualClock()), webhook_url=flaky.url, webhook_secret=SECRET
        ) as emu:
            EmulatorDriver(emu)
            first = create(sdk(emu), "k_r1")
            wait_for(lambda: len(emu.deliveries()) >= MAX_ATTEMPTS)
            create(sdk(emu), "k_r2")
            wait_for(lambda: len(emu.deliveries()) >= MAX_ATTEMPTS + 2)
            attempts = emu.deliveries()
            given_up = emu.given_up()
    finally:
        flaky.server.shutdown()
        flaky.server.server_close()
    (event_id,) = given_up  # the first event, after every attempt failed
    assert [d.attempt for d in attempts[:MAX_ATTEMPTS]] == list(range(1, MAX_ATTEMPTS + 1))
    assert {d.event_id for d in attempts[:MAX_ATTEMPTS]} == {event_id}
    assert all(d.status == 500 for d in attempts[:MAX_ATTEMPTS])
    second = attempts[MAX_ATTEMPTS:]  # the second event: one 500, then taken
    assert [(d.attempt, d.status) for d in second] == [(1, 500), (2, 200)]
    bodies = [json.loads(b) for b in flaky.bodies()]
    assert bodies[0]["data"]["object"]["id"] == first.id


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": "0.0.0.0"},
        {"port": 70000},
        {"api_key": "sk_live_real"},
        {"webhook_url": "http://127.0.0.1:9/hooks"},
        {"webhook_url": "ftp://127.0.0.1/hooks", "webhook_secret": SECRET},
    ],
)
def test_settings_it_refuses(kwargs: dict[str, Any]) -> None:
    with pytest.raises(EmulatorSettingsInvalid):
        Emulator(**kwargs)


def test_no_secret_in_its_repr() -> None:
    emu = Emulator(
        api_key="sk_test_hidden", webhook_url="http://127.0.0.1:9/h", webhook_secret=SECRET
    )
    assert "sk_test_hidden" not in repr(emu) and SECRET not in repr(emu)
