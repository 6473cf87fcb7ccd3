"""The one redaction of well-known secret shapes, for text paycore did not write.

A provider adapter's error message is the adapter's text, and it may quote what the
adapter was configured with (a vendor's 401 quotes part of the API key, an HTTP client
quotes a whole ``Authorization`` header). paycore returns a provider error to its caller,
stores its message in the flow's row and logs it, so the engine passes every provider
error through :func:`redact_error` where it takes it in
(:meth:`paycore.flows.engine.Engine._call`). The Stripe adapter redacts its own messages
and the SDK's log lines with :func:`redact` too: one list of shapes.

The shapes: API keys (``sk_``, ``rk_``, ``pk_``; ``test`` or ``live``; masked with ``*``
or not), webhook signing secrets (``whsec_...``), client secrets of PaymentIntents and
SetupIntents (``pi_..._secret_...``, ``seti_..._secret_...``) and ``Bearer`` credentials
of any look. A secret of any other shape is not recognised: an adapter must not put one
in a message.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from paycore.errors import PaycoreError

E = TypeVar("E", bound=PaycoreError)

#: What a secret is replaced by.
REDACTED = "[redacted]"

#: API keys (secret, restricted, publishable; test or live), masked or not; webhook
#: signing secrets; PaymentIntent and SetupIntent client secrets.
_SECRETS = re.compile(
    r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9*]*"
    r"|\bwhsec_[A-Za-z0-9*]+"
    r"|\b(?:pi|seti)_\w+?_secret_\w+"
)
#: An ``Authorization`` header's credentials, whatever the key looks like: quoted (as a
#: repr quotes it, escapes included, up to the closing quote) or up to the next space.
_QUOTED_BEARER = re.compile(r"""(?i)(['"])bearer\b(?:\\.|(?!\1).)*\1""", re.DOTALL)
_BEARER = re.compile(r"(?i)\bbearer\s+(?!\[redacted\]['\"])\S+")


def redact(text: str) -> str:
    """``text`` with every API key, webhook signing secret, client secret and ``Bearer``
    credential replaced by ``[redacted]``."""
    text = _QUOTED_BEARER.sub(r"\1Bearer [redacted]\1", text)
    text = _BEARER.sub("Bearer [redacted]", text)
    return _SECRETS.sub(REDACTED, text)


def _value(value: Any) -> Any:
    """``value`` redacted: a string, and the strings in lists, tuples and dicts; anything
    else as it is."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_value(v) for v in value)
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    return value


def redact_error(err: E) -> E:
    """``err`` itself when its message and string fields quote no secret; else a copy of
    the same class (so the same code, outcome and retryability) whose message and fields
    are redacted. The copy is made without calling the class's ``__init__`` (an adapter's
    subclass may take other arguments), and without ``err``'s cause and traceback, which
    may quote the same secret."""
    message = redact(err.message)
    fields = {k: _value(v) for k, v in err.fields.items()}
    if message == err.message and fields == err.fields:
        return err
    copy = type(err).__new__(type(err), message)
    copy.__dict__.update(err.__dict__)
    copy.args = (message,)
    copy.message, copy.fields = message, fields
    return copy
