"""The emulator's webhook deliveries: the model's events, signed as Stripe signs them,
POSTed to one endpoint.

Stripe signs each delivery with the endpoint's secret in the ``Stripe-Signature``
header (``t=<seconds>,v1=<HMAC-SHA256 of "t.body">``, docs.stripe.com/webhooks,
"Verify webhook signatures"; made here with the SDK's own
``WebhookSignature.generate_signature_header``), and redelivers an event the endpoint
did not acknowledge with a 2xx (for up to three days in live mode:
docs.stripe.com/webhooks, "Retry behavior"). The emulator tries each event a bounded
number of times at once and then gives it up, logging it: it is a test tool, and a
test that wants redelivery later sends again with :meth:`WebhookSender.deliver`.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from urllib.parse import urlsplit

from paycore.errors import InvalidInput, ProviderNotFound
from paycore.ports import IntentView, ProviderEvent, RefundView
from paycore.shown import shown

from ..fake_provider import FakeProvider
from ..stripe_webhooks import sign_for_test
from .wire import Json, event_json, intent_json, refund_json

log = logging.getLogger(__name__)

ATTEMPTS = 3
TIMEOUT_S = 10.0


def event_body(event: ProviderEvent, obj: IntentView | RefundView | None) -> bytes:
    """The body of a delivery of ``event``: Stripe's event object, with ``obj`` (the
    event's intent or refund as it is when sent; None when the model does not know it)
    as ``data.object`` (:func:`~.wire.event_json`)."""
    data: Json | None = None
    if isinstance(obj, IntentView):
        data = intent_json(obj)
    elif isinstance(obj, RefundView):
        data = refund_json(obj)
    return json.dumps(event_json(event, data)).encode()


class WebhookSender:
    """Sends ``model``'s events to ``url`` (on 127.0.0.1), signed with ``secret``."""

    def __init__(self, model: FakeProvider, url: str, secret: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname != "127.0.0.1":
            raise InvalidInput(
                f"the emulator delivers webhooks to http://127.0.0.1 only, not {shown(url)}",
                field="webhook_url",
            )
        self.model, self.url, self._secret = model, url, secret
        self._host, self._port, self._path = parts.hostname, parts.port or 80, parts.path or "/"
        #: (event id, status answered) of every attempt; 0 when no answer came
        self.attempts: list[tuple[str, int]] = []
        self.given_up: list[str] = []

    def __repr__(self) -> str:
        return f"WebhookSender(url={self.url!r})"

    def _object(self, event: ProviderEvent) -> IntentView | RefundView | None:
        try:
            if event.object_kind == "payment_intent":
                return self.model.retrieve_intent(event.object_id)
            if event.object_kind == "refund":
                return self.model.retrieve_refund(event.object_id)
        except ProviderNotFound:
            pass
        return None

    def deliver_pending(self) -> int:
        """Send every event the model made since the last call; returns how many were
        acknowledged with a 2xx."""
        return sum(self.deliver(event) for event in self.model.take_events())

    def deliver(self, event: ProviderEvent) -> bool:
        """Send one event, up to :data:`ATTEMPTS` times until a 2xx answers."""
        body = event_body(event, self._object(event))
        for _ in range(ATTEMPTS):
            status = self._post(body)
            self.attempts.append((event.id, status))
            if 200 <= status < 300:
                return True
        log.warning("webhook %s given up after %d attempts", event.id, ATTEMPTS)
        self.given_up.append(event.id)
        return False

    def _post(self, body: bytes) -> int:
        header = sign_for_test(body, self._secret, int(time.time()))
        conn = http.client.HTTPConnection(self._host, self._port, timeout=TIMEOUT_S)
        try:
            conn.request(
                "POST",
                self._path,
                body,
                {"Content-Type": "application/json", "Stripe-Signature": header},
            )
            return conn.getresponse().status
        except OSError:
            return 0
        finally:
            conn.close()
