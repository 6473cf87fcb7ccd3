"""A local Stripe for tests and development: the faithful model
(:class:`~paycore_adapters.fake_provider.FakeProvider`) served over Stripe's wire format
on 127.0.0.1 to the official ``stripe`` SDK; ``paycore emulator`` runs one from the
command line, and :class:`paycore_adapters.testing.EmulatorDriver` is the provider
contract's driver for it.

>>> with Emulator() as emu:                                  # doctest: +SKIP
...     client = stripe.StripeClient("sk_test_x", base_addresses={"api": emu.url})
...     emu.model.set_account("acct_1")
...     client.v1.payment_intents.create({"amount": 1000, "currency": "usd",
...         "transfer_data": {"destination": "acct_1"}})

The model is the one every other paycore test drives, so an answer over the wire is the
model's answer: the emulator adds the wire format (:mod:`.emulator_wire`,
:mod:`.emulator_forms`), the routes (:mod:`.emulator_routes`), the server
(:mod:`.emulator_server`), wire faults (:mod:`.emulator_faults`) and signed webhooks
(:mod:`.emulator_webhooks`), and keeps no state of its own but a refund's reason and
second.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from paycore.ports import ProviderEvent

from . import emulator_wire as wire
from .emulator_faults import (
    FAULT_KINDS,
    MAX_DELAY_S,
    Fault,
    FaultArmingInvalid,
    Faults,
    faults_for,
)
from .emulator_routes import OPS, Endpoints
from .emulator_server import Dispatcher, Handler
from .emulator_webhooks import MAX_ATTEMPTS, Delivery, WebhookSender, render_json
from .fake_provider import FakeProvider
from .runtime import SystemClock

__all__ = [
    "FAULT_KINDS",
    "HOST",
    "MAX_ATTEMPTS",
    "MAX_DELAY_S",
    "OPS",
    "Delivery",
    "Emulator",
    "EmulatorSettingsInvalid",
    "Fault",
    "FaultArmingInvalid",
    "Faults",
]

HOST = "127.0.0.1"


class EmulatorSettingsInvalid(ValueError):
    """The emulator was asked for something it does not do: another host than
    127.0.0.1, a port out of range, a key that is not a test secret key, or a webhook
    URL without a secret (or not http)."""


class Emulator:
    """Stripe's API for paycore's endpoints, on 127.0.0.1 (see the module's text)."""

    def __init__(
        self,
        model: FakeProvider | None = None,
        *,
        port: int = 0,
        host: str = HOST,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        api_key: str | None = None,
    ) -> None:
        _check(host, port, webhook_url, webhook_secret, api_key)
        self.model = model if model is not None else FakeProvider(SystemClock())
        self.faults: Faults = faults_for(OPS)
        self._endpoints = Endpoints(self.model)
        self._dispatcher = Dispatcher(self._endpoints, self.faults, api_key)
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._sender = (
            WebhookSender(webhook_url, str(webhook_secret), self.model.take_events, self.event_body)
            if webhook_url is not None
            else None
        )

    def __repr__(self) -> str:
        return f"Emulator(url={self.url if self._server else None!r})"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, the SDK's ``api`` base address."""
        if self._server is None:
            raise RuntimeError("the emulator is not running: start() it first")
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> Self:
        if self._server is not None:
            return self
        handler = type("EmulatorHandler", (Handler,), {"dispatcher": self._dispatcher})
        server = ThreadingHTTPServer((HOST, self._port), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        if self._sender is not None:
            self._sender.start()
        return self

    def stop(self) -> None:
        """Stop serving and sending (an event not sent yet stays unsent)."""
        if self._sender is not None:
            self._sender.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- webhooks ---------------------------------------------------------------------

    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery attempt so far (none without a ``webhook_url``)."""
        return self._sender.delivered() if self._sender is not None else []

    def given_up(self) -> list[str]:
        """The events whose every delivery attempt failed."""
        return list(self._sender.given_up) if self._sender is not None else []

    def event_body(self, event: ProviderEvent) -> bytes:
        """The JSON body Stripe would POST for ``event`` (its object as it is now, with
        the status the event reports)."""
        if event.object_kind == "payment_intent":
            obj = self._endpoints.intent(self.model.stored_intent(event.object_id).view)
        elif event.object_kind == "refund":
            refund = next(r for r in self.model.refunds() if r.id == event.object_id)
            obj = self._endpoints.refund(refund)
        else:
            obj = wire.charge_json(event)
        return render_json(wire.event_json(event, obj))


def _check(
    host: str,
    port: int,
    webhook_url: str | None,
    webhook_secret: str | None,
    api_key: str | None,
) -> None:
    if host != HOST:
        raise EmulatorSettingsInvalid(f"the emulator binds {HOST} only, not {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise EmulatorSettingsInvalid(f"port must be 0 to 65535, not {port!r}")
    if api_key is not None and not api_key.startswith("sk_test_"):
        raise EmulatorSettingsInvalid("api_key must be a test secret key (sk_test_...)")
    if webhook_url is not None:
        if urlsplit(webhook_url).scheme not in ("http", "https"):
            raise EmulatorSettingsInvalid("webhook_url must be an http or https URL")
        if not webhook_secret:
            raise EmulatorSettingsInvalid("a webhook_url needs a webhook_secret to sign with")
