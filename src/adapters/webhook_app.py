"""A plain ASGI app that a service mounts to take Stripe's webhook deliveries.

No web framework: the app reads the request body (at most ``max_body`` bytes), hands it
and the ``Stripe-Signature`` header to a :class:`~paycore_adapters.stripe_webhooks.
StripeWebhookIntake` in a worker thread (the service is synchronous and may wait on its
store), and answers the intake's status with a small JSON body. Any ASGI server runs it
(``uvicorn``, the ``asgi`` extra, is the one the tests use); a framework mounts it as a
sub-application: ``path`` is then the path under the mount point (the request's path
less the ASGI ``root_path``, which uvicorn's ``--root-path`` and a framework's mount
set), so the same ``path`` answers whether the app is served alone or mounted.

The body must arrive within ``body_timeout_s`` of the request's start (408 otherwise,
and nothing reaches the intake): a client that sends its headers and then trickles or
stalls would hold its connection for as long as it liked, since the ASGI servers this
runs on put no deadline on reading a body. A client that disconnects before its body is
whole is no delivery either: the partial body is dropped, never verified. Deadlines for
the headers and a cap on connections belong to the server or a proxy in front of it
(docs/stripe.md, "The webhook endpoint").
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from paycore.errors import InvalidInput

from .stripe_webhooks import StripeWebhookIntake, WebhookAnswer

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Stripe's events are a few kilobytes; a megabyte is far above any of them.
MAX_BODY = 1 << 20
#: Seconds a delivery's body may take to arrive. Stripe's events are a few kilobytes, sent
#: as soon as the connection is open, so a sound delivery takes milliseconds; Stripe
#: itself waits only a short time for the whole answer ("Timed out" in its delivery log,
#: support.stripe.com/questions/webhooks-how-to-investigate-and-fix-timed-out, where it
#: asks for a prompt 2xx and gives no figure), and a delivery whose body took longer than
#: this would have been counted failed and sent again anyway.
BODY_TIMEOUT_S = 10.0


class Unread(enum.Enum):
    """Why no whole body was read."""

    TOO_LARGE = "too_large"
    DISCONNECTED = "disconnected"
    TIMED_OUT = "body_timeout"


def webhook_app(
    intake: StripeWebhookIntake,
    *,
    path: str = "/webhooks/stripe",
    max_body: int = MAX_BODY,
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> ASGIApp:
    """The ASGI app: ``POST path`` takes a delivery; anything else is 404 or 405.

    ``body_timeout_s``: how long the whole body may take to arrive; past it the answer is
    408 and nothing reaches the intake.

    Raises:
        InvalidInput: ``path`` does not start with ``/``, ``max_body`` is not a positive
            whole number of bytes, or ``body_timeout_s`` not a positive finite number.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInput(f"path must start with '/', not {path!r}", field="path")
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
        raise InvalidInput(
            f"max_body must be a positive number of bytes, not {max_body!r}", field="max_body"
        )
    if (
        isinstance(body_timeout_s, bool)
        or not isinstance(body_timeout_s, int | float)
        or not math.isfinite(body_timeout_s)
        or body_timeout_s <= 0
    ):
        raise InvalidInput(
            f"body_timeout_s must be a positive number of seconds, not {body_timeout_s!r}",
            field="body_timeout_s",
        )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if _route_path(scope) != path:
            await _answer(send, 404, {"outcome": "refused:path"})
            return
        if scope.get("method") != "POST":
            await _answer(send, 405, {"outcome": "refused:method"}, allow=b"POST")
            return
        body = await _read(receive, max_body, body_timeout_s)
        if isinstance(body, Unread):
            await _unread(send, body, max_body, body_timeout_s)
            return
        signature = _header(scope, b"stripe-signature")
        try:
            answer = await asyncio.to_thread(intake.receive, body, signature)
        except Exception:
            log.exception("webhook delivery failed")
            answer = WebhookAnswer(500, "failed:internal")
        await _answer(send, answer.status, {"outcome": answer.outcome, "event": answer.event_id})

    return app


def _route_path(scope: Scope) -> str:
    """The request's path under the app's mount point: less ``root_path`` when the
    server or framework put it in front (ASGI: ``path`` holds it, uvicorn 0.26 on)."""
    full, root = str(scope.get("path", "")), str(scope.get("root_path", "") or "")
    if root and full.startswith(root) and full[len(root) : len(root) + 1] == "/":
        return full[len(root) :]
    return full


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read(receive: Receive, max_body: int, timeout_s: float) -> bytes | Unread:
    """The whole body, or why there is none: past ``max_body`` bytes (the rest is not
    read), the client gone before the last byte, or not all there within ``timeout_s``."""
    try:
        return await asyncio.wait_for(_body(receive, max_body), timeout_s)
    except TimeoutError:
        return Unread.TIMED_OUT


async def _unread(send: Send, why: Unread, max_body: int, timeout_s: float) -> None:
    """Answer (or not) a request whose body was not read whole; no delivery is counted.
    The reason is in the message itself: a plain formatter shows it."""
    if why is Unread.DISCONNECTED:
        # Nobody is left to answer. Not a refusal: the body was never verified (a partial
        # body would only fail its signature and look like a wrong secret).
        log.info("webhook delivery abandoned: the client disconnected before its body was read")
        return
    if why is Unread.TIMED_OUT:
        log.warning(
            "webhook refused: refused:body_timeout (the body did not arrive within %s s)",
            timeout_s,
        )
        await _answer(send, 408, {"outcome": "refused:body_timeout"})
        return
    log.warning("webhook refused: refused:too_large (a body over %d bytes)", max_body)
    await _answer(send, 413, {"outcome": "refused:too_large"})


async def _body(receive: Receive, max_body: int) -> bytes | Unread:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return Unread.DISCONNECTED
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body:
            return Unread.TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


async def _answer(send: Send, status: int, doc: dict[str, Any], allow: bytes | None = None) -> None:
    payload = json.dumps(doc).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if allow is not None:
        headers.append((b"allow", allow))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
