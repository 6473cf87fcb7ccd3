"""The harness's webhooks over HTTP: Stripe's event JSON, signed as Stripe signs, POSTed to
paycore's Stripe intake behind its ASGI app.

Over the emulator face (:mod:`.http_face`) the world delivers the model's events as the
emulator sends them (:func:`~paycore_adapters.emulator.webhooks.event_body`: Stripe's
event object around the intent or refund as the emulator serialises it), with a
``Stripe-Signature`` header made by the SDK
(``stripe.WebhookSignature.generate_signature_header``, stripe-python 16.1.0
``stripe/_webhook.py``), to :func:`~paycore_adapters.webhook_app.webhook_app` around a
:class:`~paycore_adapters.stripe_webhooks.StripeWebhookIntake`, served by uvicorn on
127.0.0.1 once for the run. The intake's answer decides what the world does next
(:meth:`~paycore_adapters.harness.world_outside.WorldOutside.deliver`).

Two clocks. The world runs on a simulated clock; the SDK checks a signature's timestamp
against the wall clock (``timestamp < time.time() - tolerance`` in ``verify_header``). A
delivery remembers when the provider signed it on the simulated clock; on the wire it is
signed at the wall clock's second, or, when the simulated clock says it is older than
the tolerance (the world moved the clock while it waited: a late delivery, or a replay),
that many seconds before it. The simulated age alone decides whether a delivery is
stale; the wall clock only carries the verdict (a fresh delivery is a second old at
most on the wall clock, far inside the tolerance), so a seed still gives one run.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any

import attrs
import uvicorn

from paycore.errors import PaycoreError
from paycore.ports import IntentView, ProviderEvent, RefundView
from paycore.service import PaymentService

from ..emulator.webhooks import TIMEOUT_S, event_body
from ..fake_provider import FakeProvider
from ..stripe_webhooks import TOLERANCE_S, StripeWebhookIntake, WebhookAnswer, sign_for_test
from ..webhook_app import webhook_app
from .world_core import SECRET, Delivery

#: What the forger signs with: not the endpoint's secret.
FORGED = "whsec_forged"
PATH = "/webhooks/stripe"
#: How long to wait for the server to bind: ``POLL_S`` at a time, ``POLLS`` times.
POLL_S = 0.05
POLLS = 200
#: The world keeps one connection open for the run (half the cost of a delivery): the
#: server keeps it that long while idle (an hour; a run's examples deliver far more often).
KEEP_ALIVE_S = 3600


@attrs.define(repr=False)
class _Intake(StripeWebhookIntake):
    """The Stripe intake, keeping what escaped it: the app answers such an error with a
    500 (``failed:internal``), and the world must see the error itself."""

    escaped: list[Exception] = attrs.field(factory=list, init=False)

    def receive(self, body: bytes, signature: str | None) -> WebhookAnswer:
        try:
            return super().receive(body, signature)
        except Exception as exc:
            self.escaped.append(exc)
            raise


class StripeEndpoint:
    """paycore's Stripe webhook endpoint over HTTP, for the world of one example at a
    time (:meth:`serve`), and the provider's side of each delivery to it."""

    def __init__(self) -> None:
        self._intake: _Intake | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._conn: http.client.HTTPConnection | None = None
        self._model: FakeProvider | None = None

    def __repr__(self) -> str:
        return f"StripeEndpoint(port={self._port})"

    def serve(self, service: PaymentService, model: FakeProvider) -> None:
        """Take deliveries into ``service`` from now on, of ``model``'s events; the server
        starts with the first world."""
        self._model = model
        if self._intake is not None:
            self._intake.service = service
            return
        self._intake = _Intake(service, (SECRET,), tolerance_s=TOLERANCE_S)
        app = webhook_app(self._intake, path=PATH)
        # log_config=None: uvicorn leaves the process's logging as it found it.
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            lifespan="off",
            access_log=False,
            log_config=None,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="paycore-harness-webhooks", daemon=True
        )
        self._thread.start()
        for _ in range(POLLS):  # bounded: the server binds in milliseconds
            if self._server.started:
                break
            time.sleep(POLL_S)
        if not self._server.started:
            raise RuntimeError("the harness's webhook endpoint did not start on 127.0.0.1")
        self._port = self._server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=TIMEOUT_S)
        self._server = self._thread = None

    # --- the provider's side ----------------------------------------------------------

    def sent(self, event: ProviderEvent, now_s: int) -> Delivery:
        """``event`` as the emulator sends it, signed at ``now_s`` (simulated seconds)."""
        body = event_body(event, self._object(event))
        return Delivery(event, body, sign_for_test(body, SECRET, now_s))

    def sign(self, d: Delivery, now_s: int) -> None:
        """Sign ``d`` again at ``now_s``: Stripe signs each delivery attempt anew
        (docs.stripe.com/webhooks#replay-attacks)."""
        d.header = sign_for_test(d.payload, SECRET, now_s)

    def _object(self, event: ProviderEvent) -> IntentView | RefundView | None:
        """The event's object as the model holds it now, read without touching the model
        (a read through its API would land requests it holds in flight)."""
        assert self._model is not None, "serve() names the model first"
        views: list[Any] = []
        if event.object_kind == "payment_intent":
            views = self._model.intents()
        elif event.object_kind == "refund":
            views = self._model.refunds()
        return next((v for v in views if v.id == event.object_id), None)

    def post(self, d: Delivery, now_s: int, *, forged: bool) -> WebhookAnswer:
        """POST ``d`` (as forged, signed with another secret, when ``forged``) and return
        the endpoint's answer. An error that is not paycore's and escaped the intake is
        raised here, as it would be in memory."""
        assert self._intake is not None, "serve() starts the endpoint first"
        signed_s = int(d.header.split(",")[0].removeprefix("t="))
        age_s = now_s - signed_s
        wall_s = int(time.time())
        stamp = wall_s - age_s if age_s > TOLERANCE_S else wall_s
        header = sign_for_test(d.payload, FORGED if forged else SECRET, stamp)
        status, doc = self._send(d.payload, header)
        if self._intake.escaped:
            exc = self._intake.escaped.pop()
            self._intake.escaped.clear()
            if not isinstance(exc, PaycoreError):
                raise exc
        return WebhookAnswer(status, str(doc.get("outcome")), d.event.id)

    def _send(self, body: bytes, header: str) -> tuple[int, dict[str, Any]]:
        """One POST on the run's connection. A failure is raised, never retried: the
        server may have taken the delivery, and a second one would change the run."""
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=TIMEOUT_S)
        headers = {"Content-Type": "application/json", "Stripe-Signature": header}
        try:
            self._conn.request("POST", PATH, body=body, headers=headers)
            response = self._conn.getresponse()
            doc = json.loads(response.read())
        except BaseException:
            self._conn.close()
            self._conn = None
            raise
        return response.status, doc if isinstance(doc, dict) else {}
