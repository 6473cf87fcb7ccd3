"""The model's events delivered to a webhook endpoint, signed as Stripe signs them.

Each event is POSTed as Stripe's event object (:func:`paycore_adapters.emulator_wire.
event_json`) with ``Stripe-Signature: t=<seconds>,v1=<HMAC-SHA256 hex of "<t>.<body>">``
under the endpoint's secret (docs.stripe.com/webhooks#verify-manually; the same scheme as
:func:`paycore_adapters.signing.sign`), ``t`` the wall clock's second so that a receiver
checks it against its own tolerance. A delivery the endpoint does not answer with a 2xx
is sent again, as Stripe retries ("Stripe attempts to deliver a given event to your
webhook endpoint for up to 3 days with an exponential back off", docs.stripe.com/
webhooks): the emulator tries :data:`MAX_ATTEMPTS` times with short back-offs, then gives
the event up and records it. One background thread sends the events one at a time, in
the order the model made them; it stops with the emulator.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from paycore.ports import ProviderEvent

from .signing import sign

MAX_ATTEMPTS = 4
BACKOFF_S = (0.05, 0.2, 0.5)
POLL_S = 0.02
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Delivery:
    """One attempt: the event, its attempt number (from 1), and the HTTP status the
    endpoint answered (None: no answer)."""

    event_id: str
    attempt: int
    status: int | None


class WebhookSender:
    """Takes the model's events and POSTs them to ``url`` (see the module's text)."""

    def __init__(
        self,
        url: str,
        secret: str,
        take_events: Callable[[], list[ProviderEvent]],
        render: Callable[[ProviderEvent], bytes],
    ) -> None:
        self._url, self._secret = url, secret
        self._take, self._render = take_events, render
        self._stop = threading.Event()
        self._queue: deque[tuple[ProviderEvent, int, float]] = deque()
        self._lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        #: the events given up after :data:`MAX_ATTEMPTS` failed attempts
        self.given_up: list[str] = []
        self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)

    def __repr__(self) -> str:
        return f"WebhookSender(url={self._url!r})"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=TIMEOUT_S + 1)

    def delivered(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def _run(self) -> None:
        while not self._stop.is_set():
            for event in self._take():
                self._queue.append((event, 1, 0.0))
            if not self._queue or self._queue[0][2] > time.monotonic():
                self._stop.wait(POLL_S)
                continue
            event, attempt, _ = self._queue.popleft()
            status = self._post(event)
            with self._lock:
                self.deliveries.append(Delivery(event.id, attempt, status))
            if status is not None and 200 <= status < 300:
                continue
            if attempt >= MAX_ATTEMPTS:
                with self._lock:
                    self.given_up.append(event.id)
                continue
            wait = BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1]
            self._queue.appendleft((event, attempt + 1, time.monotonic() + wait))

    def _post(self, event: ProviderEvent) -> int | None:
        body = self._render(event)
        header = sign(body, self._secret, int(time.time()))
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as err:
            return int(err.code)
        except (urllib.error.URLError, OSError):
            return None


def render_json(doc: dict[str, object]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
