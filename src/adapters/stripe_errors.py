"""Every error of the ``stripe`` SDK as the port's typed provider error.

The SDK picks its exception class from the HTTP status alone (stripe-python 16.1.0,
``stripe/_api_requestor.py``, ``specific_v1_api_error``): 429 is ``RateLimitError``, 400
and 404 ``InvalidRequestError`` (``IdempotencyError`` when the body's type says so), 401
``AuthenticationError``, 402 ``CardError``, 403 ``PermissionError``, anything else
``APIError``; no answer at all is ``APIConnectionError``. Stripe's own code is in the
body, which the SDK keeps as ``e.error`` (``stripe/_error_object.py``); ``e.code`` is
filled only for the classes that take a code, so the code is read from ``e.error``.

What the codes mean is Stripe's (docs.stripe.com/error-codes, docs.stripe.com/
error-handling, docs.stripe.com/api/idempotent_requests):

- 409 ``idempotency_key_in_use``: another request with this key is still running; the
  first may land, so the same key is retried (:class:`ProviderIdempotencyInUse`).
- 429 ``lock_timeout``: another request was changing the same object; nothing was done
  (:class:`ProviderLockTimeout`); any other 429 is a rate limit, as is the legacy 400
  coded ``rate_limit`` (the SDK raises ``RateLimitError`` for both).
- A request ``requests`` could not build (a header it will not send, a malformed URL:
  ``APIConnectionError`` raised from it) was never sent: definite,
  :class:`ProviderConfigurationError`, in the adapter's own words.
- 5xx and no answer: the request may or may not have taken effect
  (:class:`ProviderUnavailable`, ambiguous, retryable). ``Stripe-Should-Retry: false``
  on a 5xx means the key has saved that 500 and a retry under it only replays it
  (stripe-python 16.1.0, ``stripe/_http_client.py``, ``_should_retry``: "The API may ask
  us not to retry (eg; if doing so would be a no-op)"): :class:`ProviderSavedFailure`,
  still ambiguous but not retryable. Being ambiguous, the flows look before anything
  else, and take a new key only after the landing window.
- Stripe's refusals carry its error object, ``{"error": {"type": ..., "code": ...}}``
  (docs.stripe.com/api/errors: ``type`` is one of ``api_error``, ``card_error``,
  ``idempotency_error``, ``invalid_request_error``). A 400, 401, 403 or 404 is read for
  its meaning only with ``type`` ``invalid_request_error`` (a 402 with ``card_error``):
  400 is refused as it stood, nothing done (:class:`ProviderInvalidRequest`); 404 (or
  code ``resource_missing``, "The ID provided is not valid", docs.stripe.com/error-codes)
  is :class:`ProviderNotFound`; 401 and 403, the key wrong, revoked or lacking a
  permission, are :class:`ProviderConfigurationError`: Stripe refused the request before
  doing anything, and no retry helps.
- ``resource_missing`` names two things. The object the request acts on (the path's:
  ``GET /v1/payment_intents/pi_x``) is missing: 404, :class:`ProviderNotFound`. An object
  a parameter names is missing (a confirm's ``payment_method``, "No such PaymentMethod"):
  Stripe answers 400 with that ``param`` (a 400 ``resource_missing`` with ``param``
  ``line_items[0][price]``, "No such price", github.com/marcinusx/flutter_stripe_demo
  issue 4), the request as sent was wrong, and it is :class:`ProviderInvalidRequest`
  keeping its ``error_code`` and ``param`` (a confirm then fails with it, never ends as
  if nothing were asked). The one exception is a list's cursor (``starting_after``,
  ``ending_before``: Stripe answers an unknown one with ``param`` ``starting_after``,
  github.com/stripe/stripe-node issue 258): the port says an unknown cursor is
  :class:`ProviderNotFound` (``PaymentProvider.list_intents``), what the reconciler
  starts its walk over on.
- The same statuses without Stripe's error object come from something else on the way (a
  proxy's or load balancer's HTML page, an empty body): they say nothing about whether
  the request reached Stripe, so a 404 must not read as "no such intent" (a checkout
  closed, its stock freed, while the intent lives) nor a 403 on a refund as "refused"
  (its amount freed while the money goes back). Those, and any other answer the lines
  above do not name (a 2xx whose body the SDK could not read, an ``APIError`` with
  ``http_status`` 200, above all; or the SDK failing on an answer with an exception of
  its own, :func:`sdk_failure`), are ambiguous (:class:`ProviderUnavailable`): only a
  refusal Stripe spelled out is definite.

No message leaves here with a secret in it: Stripe's 401 message quotes part of the
key (``Invalid API Key provided: sk_test_****1234``), ``requests`` quotes a whole
``Authorization`` header, and an intent's client secret may appear in a body.
:func:`redact` (paycore's one list of shapes, :mod:`paycore.redaction`, which also
knows webhook signing secrets) removes these; a decline's intent crosses the
port without its secret (:func:`paycore_adapters.provider_port.to_port`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import requests.exceptions
import stripe

from paycore.errors import (
    ProviderCardDeclined,
    ProviderConfigurationError,
    ProviderError,
    ProviderIdempotencyInUse,
    ProviderIdempotencyMismatch,
    ProviderInvalidRequest,
    ProviderLockTimeout,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderSavedFailure,
    ProviderUnavailable,
)
from paycore.redaction import redact as redact  # the adapter's name for it, kept

from . import provider_port
from .stripe_convert import NotUnderstood, intent_view

#: What ``requests`` raises while it builds a request, before anything is sent: a header
#: it will not send (the key with a newline or a space: ``InvalidHeader``, whose message
#: quotes the whole header), a URL it cannot read or has no adapter for. The SDK wraps
#: each as ``APIConnectionError`` raised ``from`` it (stripe-python 16.1.0,
#: ``stripe/_http_client.py``, ``RequestsClient._handle_request_error``).
_UNBUILT = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


class _Redacting(logging.Filter):
    """Rewrites each record of the ``stripe`` logger without keys or client secrets
    (:func:`redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


_REDACTING = _Redacting()


def install_log_redaction() -> None:
    """Put the redacting filter on the SDK's logger (once; safe to call again)."""
    sdk_log = logging.getLogger("stripe")
    if _REDACTING not in sdk_log.filters:
        sdk_log.addFilter(_REDACTING)


def _body(err: stripe.StripeError) -> Mapping[str, Any]:
    """The ``error`` object of Stripe's answer (empty when there was no answer)."""
    body = err.json_body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return body["error"]  # type: ignore[no-any-return]
    return {}


def _header(err: stripe.StripeError, name: str) -> str | None:
    for key, value in (err.headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def to_provider_error(err: stripe.StripeError) -> ProviderError:
    """The port's error for one SDK exception, with what Stripe said in its fields
    (``error_code``, ``param``, ``http_status``, ``should_retry``; and for a request
    refused in the intent's state, ``intent_id`` and ``status`` from the intent Stripe
    puts in the error). Stripe's request id is left out: a replayed error is the same
    error, under another request id."""
    if isinstance(err, stripe.APIConnectionError) and isinstance(err.__cause__, _UNBUILT):
        return provider_port.to_port(_unbuilt(err.__cause__))
    body = _body(err)
    code = body.get("code") or err.code
    status = err.http_status
    message = redact(str(body.get("message") or err.user_message or type(err).__name__))
    fields: dict[str, Any] = {"error_code": code, "http_status": status}
    should_retry = _header(err, "stripe-should-retry")
    if should_retry is not None:
        fields["should_retry"] = should_retry == "true"
    if body.get("param"):
        fields["param"] = body["param"]
    # Through the module, so that every adapter's errors take one conversion (the
    # harness's seeded bug F2 bends that one function for the fake and this adapter).
    return provider_port.to_port(_classify(err, status, code, body, message, fields))


def _unbuilt(cause: BaseException) -> ProviderError:
    """A request that could not be built was never sent: definite, and no retry builds it.
    The words are this adapter's own; the SDK's quote the header, key and all."""
    return ProviderConfigurationError(
        f"the request to Stripe could not be built ({type(cause).__name__}), so nothing was "
        "sent: the API key or the API base URL is malformed (a key with whitespace or a "
        "control character, a URL without http(s)://); fix the setting",
        error_code=None,
        http_status=None,
        error_type=type(cause).__name__,
    )


def unreadable_answer() -> ProviderError:
    """The port's error for an answer whose body is not UTF-8. The SDK logs each body
    before it reads it and decodes it on the way (stripe-python 16.1.0, ``stripe/_util.py``
    ``logfmt``, from ``_api_requestor.request_raw``), so such a body raises
    UnicodeDecodeError, not a ``StripeError``; its status is lost. Ambiguous: nothing says
    Stripe refused."""
    return provider_port.to_port(
        ProviderUnavailable(
            "the provider's answer was not UTF-8 text, so it could not be read; the request "
            "may have taken effect: look before acting again",
            error_code=None,
            http_status=None,
        )
    )


def _where(exc: BaseException) -> str:
    """Where ``exc`` was raised: the innermost frame's file, line and function; never its
    message, which may quote the request (its headers hold the API key)."""
    tb = exc.__traceback__
    if tb is None:
        return "at an unknown place"
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"at {os.path.basename(code.co_filename)}:{tb.tb_lineno} in {code.co_name}"


def sdk_failure(exc: Exception) -> ProviderError:
    """The port's error for an exception the SDK raised that is not a ``StripeError`` (the
    SDK itself failing on an answer it could not read, such as a JSON ``error`` that is
    not an object, ``stripe/_api_requestor.py`` ``specific_v1_api_error``; or the HTTP
    client failing in a way the SDK does not wrap). Nothing says Stripe refused: ambiguous.
    Its type and place are kept, its message is not."""
    return provider_port.to_port(
        ProviderUnavailable(
            f"the Stripe SDK failed with {type(exc).__name__} {_where(exc)} before an answer "
            "was read; the request may have taken effect: look before acting again",
            error_code=None,
            http_status=None,
            error_type=type(exc).__name__,
        )
    )


def not_understood(exc: Exception, http_status: int | None) -> ProviderError:
    """The port's error for an answer the adapter could not read as the object its call
    returns (:class:`~paycore_adapters.stripe_convert.NotUnderstood` names the field; any
    other exception, a bug of the conversion, is named by its type and place). Stripe
    answered 2xx, so the request may have landed: ambiguous, like a lost answer."""
    why = str(exc) if isinstance(exc, NotUnderstood) else f"{type(exc).__name__} {_where(exc)}"
    return provider_port.to_port(
        ProviderUnavailable(
            f"Stripe's answer was not understood ({why}); the request may have taken "
            "effect: look before acting again",
            error_code=None,
            http_status=http_status,
        )
    )


def _classify(
    err: stripe.StripeError,
    status: int | None,
    code: str | None,
    body: Mapping[str, Any],
    message: str,
    fields: dict[str, Any],
) -> ProviderError:
    if isinstance(err, stripe.APIConnectionError) or status is None:
        return ProviderUnavailable(message, **fields)
    if isinstance(err, stripe.CardError) and body.get("type") == "card_error":
        return _declined(body, code, message, fields)
    if status == 409:  # idempotency_key_in_use, or another conflict of concurrent requests
        return ProviderIdempotencyInUse(message, **fields)
    if status == 429 or isinstance(err, stripe.RateLimitError):  # also a legacy 400 rate_limit
        cls = ProviderLockTimeout if code == "lock_timeout" else ProviderRateLimited
        return cls(message, **fields)
    if isinstance(err, stripe.IdempotencyError) or body.get("type") == "idempotency_error":
        return ProviderIdempotencyMismatch(message, **fields)
    if status >= 500:
        saved = fields.get("should_retry") is False
        return (ProviderSavedFailure if saved else ProviderUnavailable)(message, **fields)
    if body.get("type") != "invalid_request_error":
        # Nothing says Stripe refused it: a 2xx whose body the SDK could not read ("Invalid
        # response body from API", stripe/_api_requestor.py _interpret_response), a 400,
        # 401, 403 or 404 without Stripe's error object (a proxy's or load balancer's page,
        # an empty body), a status not classified above. It may have landed.
        return ProviderUnavailable(message, **fields)
    if status in (401, 403):
        return ProviderConfigurationError(message, **fields)
    if status == 404 or (code == "resource_missing" and _names_no_parameter(fields)):
        return ProviderNotFound(message, **fields)
    if status != 400:
        return ProviderUnavailable(message, **fields)
    intent = body.get("payment_intent")
    if isinstance(intent, Mapping) and intent.get("id"):
        # "The PaymentIntent object for errors returned on a request involving a
        # PaymentIntent" (docs.stripe.com/api/errors, payment_intent)
        fields.update(intent_id=str(intent["id"]), status=intent.get("status"))
    return ProviderInvalidRequest(message, **fields)


#: Parameters of a list request that name the place to start from, not an object to use.
_CURSORS = frozenset({"starting_after", "ending_before"})


def _names_no_parameter(fields: Mapping[str, Any]) -> bool:
    """Is a ``resource_missing`` about the request's own object (or a list's cursor),
    not an object one of its parameters names? (See the module's text.)"""
    param = fields.get("param")
    return not param or param in _CURSORS


def _declined(
    body: Mapping[str, Any], code: str | None, message: str, fields: dict[str, Any]
) -> ProviderError:
    """A 402: the card (or debit) was declined. The intent as the decline left it rides
    in the error (``error.payment_intent``), with its id, when it is one the adapter can
    read; the decline code says why."""
    try:
        intent = intent_view(body["payment_intent"]) if body.get("payment_intent") else None
    except NotUnderstood:
        intent = None  # the adapter reads the intent itself (StripeProvider.confirm_intent)
    if intent is not None:
        fields.update(intent=intent, intent_id=intent.id)
    fields["decline_code"] = body.get("decline_code") or code
    return ProviderCardDeclined(message, **fields)
