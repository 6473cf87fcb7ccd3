"""The emulator's HTTP server: Stripe's wire format in front of the faithful model.

One model, two faces: the same :class:`~paycore_adapters.fake_provider.FakeProvider`
that the harness drives in memory answers here over HTTP, so the Stripe adapter, the
official SDK or ``curl`` talk to it as to Stripe, and a test can still act as the
customer or the bank on the model itself (:class:`~paycore_adapters.testing.FakeDriver`).

It binds to 127.0.0.1 only: it is for tests and local development, and it holds no
secret worth a network. The standard library's threading HTTP server is enough (one
thread per connection, keep-alive): no framework is added for it.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import struct
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from paycore.errors import ProviderError
from paycore.ports import IntentView

from ..fake_provider import FakeProvider
from ..memory import ManualClock
from .faults import WireFaults
from .routes import parse_form, route, unknown_param
from .webhooks import WebhookSender
from .wire import Json, error_json, stripe_error

#: ``struct linger`` {on, 0 seconds}: closing the socket resets the connection.
RESET_LINGER = struct.pack("ii", 1, 0)

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
TEST_KEY_PREFIX = "sk_test_"
_IN_FAULT: dict[str, tuple[int, str, str, str]] = {
    "error_500": (500, "api_error", "", "true"),
    "rate_limited": (429, "invalid_request_error", "rate_limit", ""),
    "key_in_use": (409, "invalid_request_error", "idempotency_key_in_use", ""),
    "lock_timeout": (429, "invalid_request_error", "lock_timeout", "true"),
}


class EmulatorAddressRefused(ValueError):
    """The emulator was asked to listen elsewhere than on the loopback address."""


class Emulator:
    """Serve ``model`` (a new fake on a manual clock when not given) as Stripe's API on
    ``http://127.0.0.1:port`` (0: any free port). ``api_key``: the only key accepted
    (any ``sk_test_`` key when None). ``webhook_url``/``webhook_secret``: where the
    model's events are POSTed, signed (:class:`~.webhooks.WebhookSender`).
    ``own_account``: the account the API key belongs to, which ``GET /v1/account``
    answers (as the model holds it; not found while it has no such account or none is
    named); an intent made without ``transfer_data`` is a charge on it, with no transfer."""

    def __init__(
        self,
        model: FakeProvider | None = None,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        api_key: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        own_account: str | None = None,
    ) -> None:
        if host != LOOPBACK:
            raise EmulatorAddressRefused(f"the emulator listens on {LOOPBACK} only, not {host!r}")
        self.model = model if model is not None else FakeProvider(ManualClock())
        self.faults = WireFaults()
        self.requests: dict[str, int] = {}
        self._api_key = api_key
        self.own_account = own_account
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.webhooks = (
            WebhookSender(self.model, webhook_url, webhook_secret or "") if webhook_url else None
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __repr__(self) -> str:
        return f"Emulator(url={self.url!r})"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="paycore-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- one request ----------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        key = header.removeprefix("Bearer ")
        return (
            key == self._api_key if self._api_key is not None else key.startswith(TEST_KEY_PREFIX)
        )

    def answer(
        self, method: str, path: str, pairs: list[tuple[str, str]], key: str | None
    ) -> tuple[int, Json, Mapping[str, str]] | None:
        """Stripe's answer to one request (its form as name, value pairs), or None when
        the connection is to be dropped."""
        try:
            form = parse_form(pairs)
        except ProviderError as err:
            return error_json(err)
        found = route(method, path)
        if found is None:
            return stripe_error(404, f"Unrecognized request URL ({method}: {path}).")
        handler, endpoint, object_id = found
        unknown = unknown_param(endpoint, form)
        if unknown is not None:
            return stripe_error(
                400,
                f"Received unknown parameter: {unknown}",
                code="parameter_unknown",
                param=unknown,
            )
        if endpoint == "retrieve_own_account":
            object_id = self.own_account or ""
        self.requests[endpoint] = self.requests.get(endpoint, 0) + 1
        fault = self.faults.take(endpoint, key or f"{path}?{sorted(pairs)}")
        kind = fault.kind if fault is not None else None
        if kind == "reset":
            return None  # the connection closes before the model sees the request
        if fault is not None and kind == "slow":
            time.sleep(fault.delay_s)
        elif kind in _IN_FAULT:
            return _refused_by(str(kind))
        try:
            body: tuple[int, Json, Mapping[str, str]] = (
                200,
                handler(self.model, form, key or f"emulator-{uuid.uuid4()}", object_id),
                {},
            )
        except ProviderError as err:
            if err.fields.get("answer") == "none":
                return None  # the model holds the request in flight: no answer comes
            body = error_json(err, self._involved(err))
        return None if kind == "drop_after" else body

    def _involved(self, err: ProviderError) -> IntentView | None:
        """The intent a refused request was about, as it is now (None if none)."""
        intent_id = err.fields.get("intent_id")
        if not isinstance(intent_id, str) or isinstance(err.fields.get("intent"), IntentView):
            return None
        try:
            return self.model.retrieve_intent(intent_id)
        except ProviderError:
            return None

    def next_request_id(self) -> str:
        return f"req_emu_{next(self._ids):08d}"


def _refused_by(kind: str) -> tuple[int, Json, Mapping[str, str]]:
    """The answer of a fault that refuses the request before the model sees it."""
    status, type_, code, retry = _IN_FAULT[kind]
    more = {"code": code} if code else {}
    status, body, _ = stripe_error(status, f"emulated {kind}", type_=type_, **more)
    return status, body, ({"Stripe-Should-Retry": retry} if retry else {})


def _handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms stall
        server_version = "paycore-emulator"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("emulator: " + format, *args)

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            pairs = parse_qsl(raw if method == "POST" else parts.query, keep_blank_values=True)
            answer: tuple[int, Json, Mapping[str, str]] | None
            if not emulator.authorized(self.headers.get("Authorization")):
                answer = stripe_error(401, "Invalid API Key provided.")
            else:
                key = self.headers.get("Idempotency-Key")
                answer = emulator.answer(method, parts.path, pairs, key)
            if answer is None:
                # A reset, not a clean close: SO_LINGER on with a zero timeout makes the
                # close send RST (socket(7), "SO_LINGER"), as a peer that gave up does;
                # closed here, before the server's own shutdown would send FIN first.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_LINGER)
                self.connection.close()
                self.close_connection = True
                return
            status, body, headers = answer
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", emulator.next_request_id())
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler
