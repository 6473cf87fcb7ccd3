"""Stripe webhook intake: the raw body and its ``Stripe-Signature`` header in, an answer out.

:class:`StripeWebhookIntake` verifies a delivery as the official SDK does
(``stripe.WebhookSignature.verify_header``, stripe-python 16.1.0 ``stripe/_webhook.py``:
HMAC-SHA256 of ``"<t>.<body>"``, compared in constant time, by
:func:`paycore_adapters.signing.signed_by`, so that the secret is handed out only to the
HMAC and never sits as a plain ``str`` in a frame, the SDK's included)
against each of the endpoint's signing secrets in turn: while a secret is rolled,
Stripe signs with both and the header carries one ``v1`` signature per secret
(docs.stripe.com/webhooks#roll-endpoint-secrets), so any secret that matches admits
it. The SDK refuses a timestamp older than the tolerance, 300 s by default
(docs.stripe.com/webhooks#replay-attacks); it does not refuse one from the future.

Then it answers as Stripe needs: a 2xx for every verified event, the ones paycore acts
on as well as any other type (Stripe retries a non-2xx delivery for up to three days,
docs.stripe.com/webhooks#retries), and a 400 for a delivery that is not a verified
event (no or a bad signature, a stale timestamp, a body that is not an event). A 500
says the store failed: Stripe delivers again and the inbox takes the event once.

Nothing is recorded before the signature holds, and no answer, log line or repr carries
a secret, the header or the body.
"""

from __future__ import annotations

import json
import logging
import time

import attrs
import stripe

from paycore.errors import FlowPending, InvalidInput, StoreError, WebhookSignatureInvalid
from paycore.flows.webhooks import ACTED_ON
from paycore.ports import ProviderEvent
from paycore.service import PaymentService

from . import secret_text, signing

log = logging.getLogger(__name__)

TOLERANCE_S = 300


@attrs.frozen
class WebhookAnswer:
    """What to answer the delivery: an HTTP status and what paycore made of it."""

    status: int
    #: ``processed``, ``duplicate``, ``pending`` (recorded; recovery finishes it),
    #: ``ignored:<reason>``, ``refused:<reason>`` or ``failed:store``.
    outcome: str
    event_id: str | None = None

    @property
    def acknowledged(self) -> bool:
        """True when the provider should stop delivering this event."""
        return 200 <= self.status < 300


def _secret_list(secrets: object) -> tuple[signing.Secret, ...]:
    """The endpoint's secrets, each wrapped at the edge: from here to the HMAC none is a
    plain ``str``. A list or tuple of them; one string (or one Secret) is refused: read
    as a sequence, each of its characters would be a secret."""
    if not isinstance(secrets, list | tuple):
        raise InvalidInput(
            "secrets must be a list of the endpoint's signing secrets (whsec_...), "
            f"not a {type(secrets).__name__}",
            field="secrets",
        )
    try:
        wrapped = tuple(signing.Secret.of(s) for s in secrets)
    except InvalidInput:
        wrapped = ()
    if not wrapped:
        raise InvalidInput("a webhook intake needs at least one non-blank signing secret")
    for n, secret in enumerate(wrapped):
        why = secret_text.unusable(secret.reveal())
        if why is not None:
            raise InvalidInput(f"signing secret {n + 1} of {len(wrapped)} {why}", field="secrets")
    return wrapped


def _refused(reason: str, event_id: str | None = None) -> WebhookAnswer:
    return WebhookAnswer(400, f"refused:{reason}", event_id)


@attrs.define(repr=False)
class StripeWebhookIntake:
    """Verify and take Stripe's deliveries into a :class:`PaymentService`.

    Args:
        service: the service whose inbox takes the events.
        secrets: the endpoint's signing secrets (``whsec_...``), the newest first;
            more than one while a secret is rolled. Plain strings (or
            :class:`~paycore_adapters.signing.Secret`): each is wrapped at once.
        tolerance_s: how old a signature's timestamp may be, in seconds.
    """

    service: PaymentService
    _secrets: tuple[signing.Secret, ...] = attrs.field(converter=_secret_list, alias="secrets")
    tolerance_s: int = TOLERANCE_S

    def __attrs_post_init__(self) -> None:
        if isinstance(self.tolerance_s, bool) or not isinstance(self.tolerance_s, int):
            raise InvalidInput("tolerance_s must be a whole number of seconds")
        if self.tolerance_s < 1:
            raise InvalidInput("tolerance_s must be at least 1 second")

    def __repr__(self) -> str:
        hidden = f"<{len(self._secrets)} hidden>"
        return f"StripeWebhookIntake(secrets={hidden}, tolerance_s={self.tolerance_s})"

    def receive(self, body: bytes, signature: str | None) -> WebhookAnswer:
        """Answer one delivery: verify it, then hand a verified event to the service."""
        refusal = self._verify(body, signature)
        if refusal is not None:
            log.warning("webhook refused", extra={"outcome": refusal.outcome})
            return refusal
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested too deep to decode
            return _refused("malformed")
        if not isinstance(doc, dict):
            return _refused("malformed")
        event_id, type_ = doc.get("id"), doc.get("type")
        if not (isinstance(event_id, str) and event_id and isinstance(type_, str)):
            return _refused("malformed")
        if type_ not in ACTED_ON:
            # Signed by Stripe, of a type paycore does not use: acknowledged, not kept.
            return WebhookAnswer(200, "ignored:unused_type", event_id)
        try:
            event = signing.from_payload(body)
        except WebhookSignatureInvalid:
            return _refused("malformed", event_id)
        return self._take(event)

    def _verify(self, body: bytes, signature: str | None) -> WebhookAnswer | None:
        if not isinstance(body, bytes | bytearray):
            return _refused("body")
        if not signature:
            return _refused("no_signature")
        try:
            bytes(body).decode("utf-8")  # Stripe signs text (the SDK decodes it the same way)
        except UnicodeDecodeError:
            return _refused("malformed")
        try:
            # Only a well-formed header is compared: hmac.compare_digest raises TypeError
            # on non-ASCII text, and the app reads header bytes 0x80-0xff as latin-1.
            t, sigs = signing.parse_header(signature)
        except WebhookSignatureInvalid:
            return _refused("signature")
        for secret in self._secrets:
            if signing.signed_by(bytes(body), t, sigs, secret):
                # Genuine; too old is a replay. As the SDK's verify_header (stripe-python
                # 16.1.0, stripe/_webhook.py): only a timestamp older than the tolerance
                # is refused, checked once a signature matched.
                stale = t < time.time() - self.tolerance_s
                return _refused("stale_timestamp") if stale else None
        return _refused("signature")

    def _take(self, event: ProviderEvent) -> WebhookAnswer:
        try:
            outcome = self.service.handle_webhook(event)
        except FlowPending:
            return WebhookAnswer(200, "pending", event.id)
        except InvalidInput:
            return _refused("malformed", event.id)
        except StoreError:
            log.exception("webhook not recorded: the store failed", extra={"event": event.id})
            return WebhookAnswer(500, "failed:store", event.id)
        return WebhookAnswer(200, str(outcome), event.id)


def sign_for_test(body: bytes, secret: str, timestamp_s: int) -> str:
    """A ``Stripe-Signature`` header for ``body``, as Stripe makes it (the SDK's own
    ``generate_signature_header``): for tests and the emulator, never for verifying."""
    header: str = stripe.WebhookSignature.generate_signature_header(
        body.decode("utf-8"), secret, timestamp=timestamp_s
    )
    return header


__all__ = ["TOLERANCE_S", "StripeWebhookIntake", "WebhookAnswer", "sign_for_test"]
