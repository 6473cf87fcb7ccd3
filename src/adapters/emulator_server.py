"""The emulator's HTTP server: Stripe's wire format in front of the faithful model.

The server is the standard library's ``http.server.ThreadingHTTPServer`` (one thread per
connection; no dependency added: see docs/design-notes.md), bound to 127.0.0.1 only. Each
request is checked for a test secret key (``Authorization: Bearer sk_test_...``: 401
otherwise, docs.stripe.com/api/authentication), routed (:mod:`.emulator_routes`), met by the fault
armed for it if any (:mod:`.emulator_faults`), run on the model under one lock, and answered as
Stripe answers (:mod:`.emulator_wire`), with a ``Request-Id`` header on every answer
(docs.stripe.com/api/request_ids) and the ``Idempotency-Key`` it was sent with.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from paycore.errors import ProviderError, ProviderUnavailable

from . import emulator_wire as wire
from .emulator_faults import Fault, Faults
from .emulator_forms import ParamError, Params, parse
from .emulator_routes import KEYED, Endpoints, Route, match

log = logging.getLogger(__name__)
_BODY_MAX = 1 << 20


class Dispatcher:
    """What the server does with one parsed request (kept apart from the socket code)."""

    def __init__(self, endpoints: Endpoints, faults: Faults, api_key: str | None) -> None:
        self.endpoints, self.faults, self._api_key = endpoints, faults, api_key
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._keys = itertools.count(1)

    def __repr__(self) -> str:
        return "Dispatcher()"

    def request_id(self) -> str:
        return f"req_emu_{next(self._ids):06d}"

    def authorized(self, header: str | None) -> wire.Answer | None:
        """None when the request carries an acceptable key; else Stripe's 401 (its
        message never quotes the key)."""
        scheme, _, key = (header or "").partition(" ")
        if scheme != "Bearer" or not key:
            message = (
                "You did not provide an API key. Provide it in the Authorization header, "
                "as 'Bearer YOUR_SECRET_KEY'."
            )
        elif not key.startswith("sk_test_") or (self._api_key is not None and key != self._api_key):
            message = "Invalid API Key provided."
        else:
            return None
        return 401, wire.error_body("invalid_request_error", message), {}

    def run(
        self,
        route: Route,
        ids: tuple[str, ...],
        params: Params,
        key: str | None,
        fault: Fault | None,
    ) -> wire.Answer | None:
        """The answer to a routed request met by ``fault`` (None: close the connection
        unanswered)."""
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_s)
            fault = None
        if fault is not None and fault.kind in _REFUSALS:
            status, code, type_, retry = _REFUSALS[fault.kind]
            body = wire.error_body(type_, f"Injected fault: {code}.", code=code)
            return status, body, ({"Stripe-Should-Retry": retry} if retry else {})
        keyed = route.op in KEYED
        use_key = key or f"emulator_unkeyed_{next(self._keys)}"  # no key: no idempotency
        model = self.endpoints.model
        with self._lock:
            armed = model.armed_500s()
            if fault is not None and fault.kind.startswith("server_error") and keyed:
                model.fail_next_with_500(route.op, applied=fault.kind == "server_error")
                fault = None
            if fault is not None and fault.kind == "server_error_unapplied":
                return _server_error(keyed=False)
            answer = self._call(route, ids, params, use_key, keyed=keyed and key is not None)
            if model.armed_500s() > armed:  # a replay or a refusal: no request met it
                model.withdraw_500()
        if fault is not None and fault.kind == "server_error":
            return _server_error(keyed=False)  # applied, on a request no key can replay
        if fault is not None and fault.kind == "drop":
            return None
        return answer

    def _call(
        self, route: Route, ids: tuple[str, ...], params: Params, key: str, *, keyed: bool
    ) -> wire.Answer | None:
        try:
            return 200, self.endpoints.handler(route.op)(params, key, ids), {}
        except ParamError as err:
            return param_refusal(err)
        except ProviderError as err:
            if isinstance(err, ProviderUnavailable) and (route.op, key) in self._held():
                return None  # still running at the model: the client gets no answer
            return wire.error_answer(err, keyed=keyed, intent_of=self.endpoints.intent)

    def _held(self) -> set[tuple[str, str]]:
        return set(self.endpoints.model.held_requests())


#: a refusal fault -> (status, Stripe code, error type, Stripe-Should-Retry)
_REFUSALS = {
    "rate_limit": (429, "rate_limit", "invalid_request_error", ""),
    "lock_timeout": (429, "lock_timeout", "invalid_request_error", "true"),
    "idempotency_key_in_use": (409, "idempotency_key_in_use", "idempotency_error", "true"),
}


def param_refusal(err: ParamError) -> wire.Answer:
    body = wire.error_body("invalid_request_error", err.message, code=err.code, param=err.param)
    return 400, body, {}


def _server_error(*, keyed: bool) -> wire.Answer:
    body = wire.error_body("api_error", "Injected fault: an internal error.")
    return 500, body, {"Stripe-Should-Retry": "false" if keyed else "true"}


class Handler(BaseHTTPRequestHandler):
    """One connection's requests (HTTP/1.0: one request a connection)."""

    server_version = "paycore-emulator"
    dispatcher: Dispatcher  # set on the class the emulator makes for its server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """The request line only, at debug level: no header (the key) is logged."""
        log.debug("emulator: %s", format % args)

    def _serve(self, method: str) -> None:
        d = self.dispatcher
        request_id = d.request_id()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, _BODY_MAX)).decode("utf-8", "replace")
        url = urlsplit(self.path)
        key = self.headers.get("Idempotency-Key")
        denied = d.authorized(self.headers.get("Authorization"))
        if denied is not None:
            return self._answer(denied, request_id, key)
        found = match(method, url.path)
        if found is None:
            message = f"Unrecognized request URL ({method}: {url.path})."
            return self._answer(
                (404, wire.error_body("invalid_request_error", message), {}), request_id, key
            )
        route, ids = found
        try:
            params = Params(parse(url.query if method == "GET" else body))
        except ParamError as err:
            return self._answer(param_refusal(err), request_id, key)
        fault = d.faults.take(route.op)
        if fault is not None and fault.kind == "reset":
            return self._reset()
        answer = d.run(route, ids, params, key, fault)
        if answer is None:
            self.close_connection = True
            return None
        return self._answer(answer, request_id, key)

    def _answer(self, answer: wire.Answer, request_id: str, key: str | None) -> None:
        status, doc, headers = answer
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", request_id)
        if key:
            self.send_header("Idempotency-Key", key)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        """Reset the connection (an RST, not an orderly close): nothing was applied."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
