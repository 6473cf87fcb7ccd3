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

A verified event paycore can never use is acknowledged, so that Stripe stops retrying
it, and logged at ERROR with its id and type: one whose ids no store can hold
(``ignored:unstorable``), a thin event (``ignored:thin_event``: paycore reads snapshot
events, docs.stripe.com/event-destinations#thin-events; the endpoint must be created with
snapshot payloads). An event of a type paycore acts on that it cannot read (no
``created``, no ``data.object``) is refused, also at ERROR: a fix deployed within
Stripe's three days of retries takes it. An event whose ``livemode`` is not the
intake's (when given) is acknowledged as ``ignored:livemode`` with a WARNING and never
processed: a test endpoint's secret among a live endpoint's, or the other way round.
Every refusal and ERROR line names its outcome in the message itself.

Nothing is recorded before the signature holds, and no answer, log line or repr carries
a secret, the header or the body.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import attrs
import stripe

from paycore.catalog import ident
from paycore.errors import (
    CommitUnknown,
    FlowNotFound,
    FlowPending,
    InvalidInput,
    StoreError,
    WebhookSignatureInvalid,
)
from paycore.flows.identity import INSTALLATION_KEY, known_installation
from paycore.flows.webhooks import ACTED_ON, foreign_intent
from paycore.ports import ProviderEvent
from paycore.service import PaymentService
from paycore.shown import shown

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


def _livemode(value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidInput(f"livemode must be True, False or None, not {value!r}", field="livemode")
    return value


def _storable(*values: object) -> bool:
    try:
        for value in values:
            ident("event id", value)
    except InvalidInput:
        return False
    return True


def _thin(doc: dict[str, object], type_: str) -> bool:
    """A thin event: ``v1.``-prefixed type, or a ``related_object`` and no ``data``
    (docs.stripe.com/event-destinations#thin-events)."""
    return type_.startswith(("v1.", "v2.")) or ("related_object" in doc and "data" not in doc)


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
    #: The mode of the endpoint's account (True: live, False: test). When given, an event
    #: whose ``livemode`` differs is acknowledged as ``ignored:livemode`` and never
    #: processed; None takes either. A secret key's prefix tells it (``sk_live_``,
    #: ``rk_live_``: live; ``sk_test_``, ``rk_test_``: test).
    livemode: bool | None = attrs.field(default=None, converter=_livemode)
    #: This store's installation id once read (it never changes for a store's life).
    _installation: str | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.tolerance_s, bool) or not isinstance(self.tolerance_s, int):
            raise InvalidInput("tolerance_s must be a whole number of seconds")
        if self.tolerance_s < 1:
            raise InvalidInput("tolerance_s must be at least 1 second")

    def __repr__(self) -> str:
        hidden = f"<{len(self._secrets)} hidden>"
        return (
            f"StripeWebhookIntake(secrets={hidden}, tolerance_s={self.tolerance_s}, "
            f"livemode={self.livemode})"
        )

    def receive(self, body: bytes, signature: str | None) -> WebhookAnswer:
        """Answer one delivery: verify it, then hand a verified event to the service."""
        refusal = self._verify(body, signature)
        if refusal is not None:
            extra = {"outcome": refusal.outcome}
            log.warning("webhook refused: %s", refusal.outcome, extra=extra)
            return refusal
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested too deep to decode
            doc = None
        event_id = doc.get("id") if isinstance(doc, dict) else None
        type_ = doc.get("type") if isinstance(doc, dict) else None
        if not (isinstance(doc, dict) and isinstance(event_id, str) and event_id):
            return _error(_refused("malformed"), None, None, "signed, yet not an event")
        if not isinstance(type_, str):
            return _error(_refused("malformed", event_id), event_id, type_, "no type")
        if not _storable(event_id, type_):
            why = "an id or type no store can hold; Stripe would retry it for nothing"
            return _error(WebhookAnswer(200, "ignored:unstorable"), event_id, type_, why)
        if _thin(doc, type_):
            why = "a thin event: paycore reads snapshot events; give the endpoint snapshot payloads"
            return _error(WebhookAnswer(200, "ignored:thin_event", event_id), event_id, type_, why)
        if self.livemode is not None and doc.get("livemode") is not self.livemode:
            return self._other_mode(event_id, type_, doc.get("livemode"))
        if type_ not in ACTED_ON:
            # Signed by Stripe, of a type paycore does not use: acknowledged, not kept.
            log.debug("webhook ignored: ignored:unused_type (event %s)", shown(event_id))
            return WebhookAnswer(200, "ignored:unused_type", event_id)
        try:
            event = signing.from_payload(body)
        except WebhookSignatureInvalid:
            why = "not the shape paycore reads (no created or data.object); Stripe retries it"
            return _error(_refused("malformed", event_id), event_id, type_, why)
        if self._foreign(event, doc):
            log.debug("webhook ignored: ignored:not_ours (event %s, another's intent)", event.id)
            return WebhookAnswer(200, "ignored:not_ours", event.id)
        return self._take(event)

    def _foreign(self, event: ProviderEvent, doc: dict[str, Any]) -> bool:
        """An event about another integration's intent, by its signed snapshot's metadata
        (:func:`paycore.flows.webhooks.foreign_intent`): one read, no provider call, no
        row. Only a ``payment_intent`` whose snapshot has its ``metadata`` (Stripe's always
        has; a refund is never screened: one made on the dashboard for a payment of ours
        carries no paycore metadata). If the store cannot be read, the event goes on and
        the service answers as it can."""
        meta = doc["data"]["object"].get("metadata")
        if event.object_kind != "payment_intent" or not isinstance(meta, dict):
            return False
        if self._installation is not None and meta.get(INSTALLATION_KEY) == self._installation:
            return False  # this installation's: no read needed
        try:
            foreign, mine = self.service.engine.transact(
                lambda u: (foreign_intent(u, event.object_id, meta), known_installation(u))
            )
        except StoreError:
            return False
        self._installation = mine
        return foreign

    def _other_mode(self, event_id: str, type_: str, got: object) -> WebhookAnswer:
        log.warning(
            "webhook ignored: ignored:livemode (event %s, type %s, livemode %r where this "
            "intake takes livemode %r: a test endpoint's secret among a live endpoint's, or "
            "the other way round)",
            shown(event_id),
            shown(type_),
            got,
            self.livemode,
        )
        return WebhookAnswer(200, "ignored:livemode", event_id)

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
            log.info("webhook pending: event %s is recorded; recovery finishes it", event.id)
            return WebhookAnswer(200, "pending", event.id)
        except InvalidInput:
            # An object id no store can hold (the event's own id and type were checked).
            why = "an object id no store can hold; Stripe would retry it for nothing"
            return _error(WebhookAnswer(200, "ignored:unstorable"), event.id, event.type, why)
        except StoreError as exc:
            log.exception(self._store_failure(event, exc), extra={"event": event.id})
            return WebhookAnswer(500, "failed:store", event.id)
        log.debug("webhook %s: event %s (%s)", outcome, event.id, event.type)
        return WebhookAnswer(200, str(outcome), event.id)

    def _store_failure(self, event: ProviderEvent, exc: StoreError) -> str:
        """What is true after a store failure: was the event recorded? Its webhook flow
        (``webhook:<event id>``, :func:`paycore.flows.webhooks.begin_webhook`) is written
        in the transaction that records it, so one read tells."""
        head = f"webhook failed:store (event {event.id}, {event.type}): "
        unknown = head + (
            "whether it was recorded is unknown (the store failed); a redelivery is "
            "answered duplicate if it was, and taken if not"
        )
        try:
            self.service.flow(f"webhook:{event.id}")
        except FlowNotFound:
            if isinstance(exc, CommitUnknown):
                return unknown
            return head + "not recorded, the store failed first; Stripe delivers it again"
        except StoreError:  # the store cannot be read either: the caller logs this answer
            return unknown
        return (
            head + "recorded, but its flow stopped on a store failure; the recovery "
            "worker finishes it and a redelivery is answered duplicate"
        )


def _error(answer: WebhookAnswer, event_id: object, type_: object, why: str) -> WebhookAnswer:
    """A verified delivery paycore cannot use: signed by Stripe, so a paycore or endpoint
    configuration problem, never noise. ERROR, with the event's id and type (cut short),
    never its body."""
    cut = shown(event_id)
    extra = {"outcome": answer.outcome, "event": cut}
    log.error(
        "webhook %s: event %s, type %s: %s", answer.outcome, cut, shown(type_), why, extra=extra
    )
    return answer


def sign_for_test(body: bytes, secret: str, timestamp_s: int) -> str:
    """A ``Stripe-Signature`` header for ``body``, as Stripe makes it (the SDK's own
    ``generate_signature_header``): for tests and the emulator, never for verifying."""
    header: str = stripe.WebhookSignature.generate_signature_header(
        body.decode("utf-8"), secret, timestamp=timestamp_s
    )
    return header


__all__ = ["TOLERANCE_S", "StripeWebhookIntake", "WebhookAnswer", "sign_for_test"]
