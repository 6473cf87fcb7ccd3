"""A plain ASGI app that a service mounts to take Stripe's webhook deliveries.

No web framework: the app reads the request body (at most ``max_body`` bytes), hands it
and the ``Stripe-Signature`` header to a :class:`~paycore_adapters.stripe_webhooks.
StripeWebhookIntake` in a worker thread (the service is synchronous and may wait on its
store), and answers the intake's status with a small JSON body. Any ASGI server runs it
(``uvicorn``, the ``asgi`` extra, is the one the tests use); a framework mounts it as a
sub-application: ``path`` is then the path under the mount point (the request's path
less the ASGI ``root_path``, which uvicorn's ``--root-path`` and a framework's mount
set), so the same ``path`` answers whether the app is served alone or mounted.
"""

from __future__ import annotations

import asyncio
import json
import logging
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


def webhook_app(
    intake: StripeWebhookIntake, *, path: str = "/webhooks/stripe", max_body: int = MAX_BODY
) -> ASGIApp:
    """The ASGI app: ``POST path`` takes a delivery; anything else is 404 or 405.

    Raises:
        InvalidInput: ``path`` does not start with ``/``, or ``max_body`` is not a
            positive whole number of bytes.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInput(f"path must start with '/', not {path!r}", field="path")
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
        raise InvalidInput(
            f"max_body must be a positive number of bytes, not {max_body!r}", field="max_body"
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
        body = await _body(receive, max_body)
        if body is None:
            await _answer(send, 413, {"outcome": "refused:too_large"})
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


async def _body(receive: Receive, max_body: int) -> bytes | None:
    """The whole body, or None past ``max_body`` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body:
            return None
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
