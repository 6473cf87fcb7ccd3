"""A stub network for the Stripe adapter's tests: the real SDK (``stripe.StripeClient``)
talks to :class:`Wire`, which records each request and answers from a queue.

Canned bodies follow Stripe's object shapes: docs.stripe.com/api/payment_intents/object,
docs.stripe.com/api/refunds/object, docs.stripe.com/api/pagination and
docs.stripe.com/api/errors (an error body is ``{"error": {type, code, message, param,
decline_code, payment_intent}}``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe
from requests.structures import CaseInsensitiveDict

KEY = "sk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
SECRET = "pi_3Abc_secret_XyZ123"


def intent(**over: Any) -> dict[str, Any]:
    base = {
        "id": "pi_3Abc",
        "object": "payment_intent",
        "amount": 1250,
        "amount_received": 0,
        "currency": "eur",
        "created": 1_767_225_600,
        "status": "requires_payment_method",
        "metadata": {"order_id": "o1"},
        "client_secret": SECRET,
        "last_payment_error": None,
        "next_action": None,
        "cancellation_reason": None,
    }
    return {**base, **over}


def refund(**over: Any) -> dict[str, Any]:
    base = {
        "id": "re_1",
        "object": "refund",
        "amount": 500,
        "payment_intent": "pi_3Abc",
        "status": "succeeded",
        "metadata": {"refund_id": "rf1"},
        "failure_reason": None,
        "pending_reason": None,
    }
    return {**base, **over}


def page(*data: dict[str, Any], has_more: bool = False, **extra: Any) -> dict[str, Any]:
    return {"object": "list", "data": list(data), "has_more": has_more, "url": "/v1/x", **extra}


def error(status: int, **body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    return status, {"error": body}, {"Request-Id": "req_1"}


class Wire(stripe.HTTPClient):
    """The network, as the SDK sees it: answers queued in order, requests recorded."""

    name = "stub"

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[int, Any, dict[str, str]] | Exception] = []
        self.sent: list[tuple[str, str, dict[str, str], dict[str, str]]] = []

    def answer(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.answers.append((status, body, dict(headers or {})))

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        form = dict(parse_qsl(post_data or parts.query))
        self.sent.append((method.upper(), parts.path, dict(headers or {}), form))
        nxt = self.answers.pop(0)
        if isinstance(nxt, Exception):
            raise nxt
        status, body, rheaders = nxt
        # Bytes go out as they are (a body cut short, or not UTF-8); anything else as JSON.
        text = body if isinstance(body, bytes) else json.dumps(body)
        # Headers as the SDK's own client gives them: looked up case-insensitively.
        return text, status, CaseInsensitiveDict(rheaders)  # type: ignore[return-value]

    def close(self) -> None:
        pass
