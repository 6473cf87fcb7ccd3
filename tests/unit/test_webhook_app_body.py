"""The webhook app's body read: a deadline for a slow client (408, never a delivery), a
client that disconnects mid-body is no delivery either (no signature check, no refusal
logged), and a body over the limit is logged. ASGI-level, with a receive() that stalls or
disconnects; one test over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import pytest
from tests.support import serve_app

from paycore.errors import InvalidInput
from paycore_adapters.stripe_webhooks import StripeWebhookIntake, WebhookAnswer
from paycore_adapters.webhook_app import BODY_TIMEOUT_S, webhook_app

PATH = "/webhooks/stripe"


class Spy(StripeWebhookIntake):
    """An intake that records what reached it and accepts everything."""

    def __init__(self) -> None:  # no service, no secrets: receive() is replaced
        self.calls: list[bytes] = []

    def receive(self, body: bytes, signature: str | None) -> WebhookAnswer:
        self.calls.append(body)
        return WebhookAnswer(200, "processed", "evt_1")


def scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "root_path": "",
        "headers": [(b"stripe-signature", b"t=1,v1=" + b"0" * 64)],
    }


def run(app: Any, messages: list[dict[str, Any]], stall: bool = False) -> list[dict[str, Any]]:
    """Drive ``app`` with ``messages`` as what receive() gives; after them receive()
    stalls (a slow client) when ``stall``, else says the client disconnected."""
    sent: list[dict[str, Any]] = []
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        if stall:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def main() -> None:
        await asyncio.wait_for(app(scope(), receive, send), timeout=30)  # bounded

    asyncio.run(main())
    return sent


def status_of(sent: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    start = [m for m in sent if m["type"] == "http.response.start"]
    body = [m for m in sent if m["type"] == "http.response.body"]
    return start[0]["status"], json.loads(body[0]["body"])


def test_a_slow_body_is_answered_408_and_is_no_delivery(caplog: pytest.LogCaptureFixture) -> None:
    spy = Spy()
    app = webhook_app(spy, path=PATH, body_timeout_s=0.2)
    part = {"type": "http.request", "body": b'{"id": "ev', "more_body": True}
    with caplog.at_level(logging.DEBUG, logger="paycore_adapters"):
        sent = run(app, [part], stall=True)
    assert status_of(sent) == (408, {"outcome": "refused:body_timeout"})
    assert spy.calls == []
    (rec,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert rec.levelname == "WARNING"
    assert "body_timeout" in rec.getMessage() and "0.2" in rec.getMessage()
    assert '{"id"' not in caplog.text


def test_a_client_that_disconnects_mid_body_is_no_delivery_and_no_refusal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spy = Spy()
    app = webhook_app(spy, path=PATH)
    part = {"type": "http.request", "body": b'{"id": "evt_1", "ty', "more_body": True}
    with caplog.at_level(logging.DEBUG, logger="paycore_adapters"):
        sent = run(app, [part, {"type": "http.disconnect"}])
    assert spy.calls == []  # the partial body was never verified
    assert sent == []  # nobody is there to answer
    assert [r.levelno for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("disconnected" in r.getMessage() for r in caplog.records)
    assert '"evt_1"' not in caplog.text


def test_a_whole_body_still_reaches_the_intake() -> None:
    spy = Spy()
    app = webhook_app(spy, path=PATH, body_timeout_s=5)
    parts = [
        {"type": "http.request", "body": b'{"id": ', "more_body": True},
        {"type": "http.request", "body": b'"evt_1"}', "more_body": False},
    ]
    sent = run(app, parts, stall=True)
    assert status_of(sent) == (200, {"outcome": "processed", "event": "evt_1"})
    assert spy.calls == [b'{"id": "evt_1"}']


def test_a_body_over_the_limit_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = webhook_app(Spy(), path=PATH, max_body=8)
    part = {"type": "http.request", "body": b"x" * 9, "more_body": False}
    with caplog.at_level(logging.DEBUG, logger="paycore_adapters"):
        sent = run(app, [part])
    assert status_of(sent)[0] == 413
    (rec,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "too_large" in rec.getMessage()


@pytest.mark.parametrize("bad", [0, -1, True, "5", float("nan"), float("inf")])
def test_a_body_deadline_that_is_not_a_positive_number_is_refused(bad: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        webhook_app(Spy(), body_timeout_s=bad)
    assert err.value.fields.get("field") == "body_timeout_s"


def test_the_default_deadline_is_a_few_seconds() -> None:
    assert 1 <= BODY_TIMEOUT_S <= 20


def test_over_http_a_client_that_stops_sending_gets_408() -> None:
    spy = Spy()
    with serve_app(webhook_app(spy, path=PATH, body_timeout_s=0.3)) as port:
        sk = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            head = f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n"
            sk.sendall(head.encode() + b"abc")
            answer = sk.recv(4096)  # bounded by the socket's 10 s timeout
        finally:
            sk.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert spy.calls == []
