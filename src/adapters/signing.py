"""Webhook signatures in Stripe's scheme, verified before an event reaches the core.

The header is ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>">``;
an event is accepted when one ``v1`` matches (compared in constant time) and
its timestamp is within the tolerance (300 s by default) of now.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from math import isfinite
from typing import Any

from paycore.errors import InvalidInput, WebhookSignatureInvalid
from paycore.ports import ProviderEvent
from paycore.shown import shown

TOLERANCE_S = 300
_DIGITS = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"[0-9a-f]{64}")
#: One ``key=value`` item of the header: printable ASCII, no spaces.
_ITEM = re.compile(r"([a-z][a-z0-9]*)=([\x21-\x7e]*)")


class Secret:
    """A secret (a webhook signing secret, an API key) that no repr, str, log line or
    traceback's recorded locals shows.

    An error tracker that records each frame's locals records a plain ``str`` secret
    wherever it sits on the failing request's stack; this wrapper shows as
    ``Secret('[redacted]')``. :meth:`reveal` is the one way to the value: call it only at
    the point of use (the HMAC, the SDK client's construction), inside that call's
    arguments, never into a variable of its own. It refuses to be pickled, which would
    write the value out in the clear.

    Args:
        value: the secret, a non-empty string.

    Raises:
        InvalidInput: ``value`` is not a non-empty string.

    Example::

        key = Secret(os.environ["STRIPE_SECRET_KEY"])
        client = stripe.StripeClient(key.reveal())
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("a secret must be a non-empty string")
        self._value = value

    @classmethod
    def of(cls, value: str | Secret) -> Secret:
        """``value`` wrapped, or as it is when it is a Secret already."""
        return value if isinstance(value, Secret) else cls(value)

    def reveal(self) -> str:
        """The value: for the point of use only."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('[redacted]')"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("a Secret is not pickled: that would write its value out")


def sign(payload: bytes, secret: str | Secret, timestamp_s: int) -> str:
    """The ``Stripe-Signature`` header of ``payload`` at ``timestamp_s``: HMAC-SHA256 of
    ``"<t>.<payload>"`` under the secret (docs.stripe.com/webhooks#verify-manually).
    ``timestamp_s`` is whole seconds of at most 12 digits, as :func:`parse_header` reads
    ``t=`` back; anything else is InvalidInput (``1.5`` would sign ``t=1.5``)."""
    ok = isinstance(timestamp_s, int) and not isinstance(timestamp_s, bool)
    if not ok or not 0 <= timestamp_s < 10**12:
        raise InvalidInput(
            f"timestamp_s must be whole seconds since the epoch, got {shown(timestamp_s)}",
            field="timestamp_s",
        )
    return f"t={timestamp_s},v1={_mac(payload, Secret.of(secret), timestamp_s)}"


def _mac(payload: bytes, secret: Secret, timestamp_s: int) -> str:
    """The hex HMAC-SHA256 of ``"<t>.<payload>"``: the one place a signing secret is revealed."""
    signed = f"{timestamp_s}.".encode() + payload
    return hmac.new(secret.reveal().encode(), signed, hashlib.sha256).hexdigest()


def signed_by(
    payload: bytes, timestamp_s: int, signatures: tuple[str, ...], secret: Secret
) -> bool:
    """Whether one of ``signatures`` (a header's ``v1`` ones) signs ``payload`` at
    ``timestamp_s`` under ``secret``, compared in constant time."""
    expected = _mac(payload, secret, timestamp_s)
    return any(hmac.compare_digest(expected, s) for s in signatures)


def parse_header(header: object) -> tuple[int, tuple[str, ...]]:
    """The timestamp and the ``v1`` signatures of a well-formed ``Stripe-Signature`` header.

    Well-formed is what Stripe sends (docs.stripe.com/webhooks#verify-manually): ASCII
    ``key=value`` items joined by commas, exactly one ``t`` of decimal digits and at least
    one ``v1`` of 64 lowercase hex digits (other schemes, such as ``v0``, may stand beside
    them). Anything else is refused here, before any comparison: ``hmac.compare_digest``
    raises TypeError on non-ASCII text, and the SDK's ``secure_compare``
    (stripe-python ``stripe/_util.py``) passes header text straight to it.

    Raises:
        WebhookSignatureInvalid: the header is not text or not well-formed.
    """
    if not isinstance(header, str):
        raise WebhookSignatureInvalid("webhook signature header must be text; refuse the event")
    malformed = WebhookSignatureInvalid("webhook signature header is malformed; refuse the event")
    if not header.isascii():
        raise malformed
    items = [_ITEM.fullmatch(p) for p in header.split(",")]
    pairs = [(m[1], m[2]) for m in items if m is not None]
    stamps = [v for k, v in pairs if k == "t"]
    sigs = tuple(v for k, v in pairs if k == "v1")
    if len(pairs) != len(items) or len(stamps) != 1 or not _DIGITS.fullmatch(stamps[0]):
        raise malformed
    if not sigs or not all(_HEX.fullmatch(v) for v in sigs):
        raise malformed
    return int(stamps[0]), sigs


def verify(
    payload: bytes,
    header: str,
    secret: str | Secret,
    now_s: float,
    tolerance_s: int = TOLERANCE_S,
) -> None:
    """Raise WebhookSignatureInvalid unless ``header`` signs ``payload`` recently enough;
    InvalidInput when ``now_s`` is not a finite number of seconds (int or float).

    Whatever the header holds (non-ASCII digits, a non-ASCII or non-hex signature, no
    text at all), the only error is WebhookSignatureInvalid. The message never contains
    the secret or the expected signature.
    """
    if isinstance(now_s, bool) or not isinstance(now_s, int | float) or not isfinite(now_s):
        raise InvalidInput(
            f"now_s must be the current time as a finite number of seconds, got {shown(now_s)}"
            ": pass the clock's reading (a NaN would turn the replay window off)",
            field="now_s",
        )
    if not isinstance(payload, bytes):
        raise WebhookSignatureInvalid(
            "webhook payload must be the raw body bytes; refuse the event"
        )
    t, sigs = parse_header(header)
    if not signed_by(payload, t, sigs, Secret.of(secret)):
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
                    **(event.snapshot or {}),
                    "object": event.object_kind,
                    "id": event.object_id,
                    "status": event.status,
                }
            },
        },
        sort_keys=True,
    ).encode()


def from_payload(payload: bytes) -> ProviderEvent:
    """Parse a verified body into a ProviderEvent.

    Raises:
        WebhookSignatureInvalid: the body is not an event (not JSON, no id, type or object).
            An event whose object has no id parses, with an empty ``object_id``: the core
            acknowledges it as ignored.
    """
    try:
        doc = json.loads(payload)
        obj = doc["data"]["object"]
        event_id, type_, created = doc["id"], doc["type"], doc["created"]
        kind, object_id = obj["object"], obj.get("id") or ""
        status = obj.get("status")
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError):
        # RecursionError: JSON nested too deep for the decoder (it is no ValueError).
        raise WebhookSignatureInvalid(
            "webhook body is not a provider event (JSON with id, type, created and "
            "data.object); refuse it"
        ) from None
    texts = (event_id, type_, kind, object_id)
    if not all(isinstance(v, str) for v in texts) or not event_id:
        raise WebhookSignatureInvalid("webhook event id, type and object must be text")
    if isinstance(created, bool) or not isinstance(created, int):
        raise WebhookSignatureInvalid("webhook event 'created' must be an integer")
    return ProviderEvent(
        id=event_id,
        type=type_,
        created=created,
        object_kind=kind,
        object_id=object_id,
        status=status if isinstance(status, str) else None,
        # A dispute is read from its event (paycore.flows.disputes): its object goes along.
        snapshot=obj if kind == "dispute" and isinstance(obj, dict) else None,
    )


def receive(payload: bytes, header: str, secret: str | Secret, now_s: float) -> ProviderEvent:
    """Verify, then parse: what a webhook endpoint does before ``handle_webhook``."""
    verify(payload, header, secret, now_s)
    return from_payload(payload)
