"""Webhook signatures in Stripe's scheme, verified before an event reaches the core.

The header is ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>">``;
an event is accepted when one ``v1`` matches (compared in constant time) and
its timestamp is within the tolerance (300 s by default) of now.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from paycore.errors import WebhookSignatureInvalid
from paycore.ports import ProviderEvent

TOLERANCE_S = 300


def sign(payload: bytes, secret: str, timestamp_s: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_s}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp_s},v1={mac.hexdigest()}"


def verify(
    payload: bytes, header: str, secret: str, now_s: int, tolerance_s: int = TOLERANCE_S
) -> None:
    """Raise WebhookSignatureInvalid unless ``header`` signs ``payload`` recently enough.

    The message never contains the secret or the expected signature.
    """
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k == "t"]
    sigs = [v for k, v in parts if k == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not sigs:
        raise WebhookSignatureInvalid("webhook signature header is malformed; refuse the event")
    t = int(stamps[0])
    expected = sign(payload, secret, t).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, s) for s in sigs):
        raise WebhookSignatureInvalid(
            "webhook signature does not match; check the endpoint's signing secret"
        )
    if abs(now_s - t) > tolerance_s:
        raise WebhookSignatureInvalid(
            f"webhook timestamp is {abs(now_s - t)} s away from now (tolerance "
            f"{tolerance_s} s): a replay or a skewed clock; refuse it",
            age_s=abs(now_s - t),
        )


def to_payload(event: ProviderEvent) -> bytes:
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "created": event.created,
            "data": {
                "object": {
                    "object": event.object_kind,
                    "id": event.object_id,
                    "status": event.status,
                }
            },
        },
        sort_keys=True,
    ).encode()


def from_payload(payload: bytes) -> ProviderEvent:
    doc = json.loads(payload)
    obj = doc["data"]["object"]
    return ProviderEvent(
        id=doc["id"],
        type=doc["type"],
        created=int(doc["created"]),
        object_kind=obj["object"],
        object_id=obj["id"],
        status=obj.get("status"),
    )


def receive(payload: bytes, header: str, secret: str, now_s: int) -> ProviderEvent:
    """Verify, then parse: what a webhook endpoint does before ``handle_webhook``."""
    verify(payload, header, secret, now_s)
    return from_payload(payload)
