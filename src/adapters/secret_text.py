"""Is a secret's text usable as it stands? One rule for the Stripe API key and the webhook
signing secrets.

Stripe's keys and signing secrets are printable ASCII without spaces (``sk_live_...``,
``whsec_...``). A value read from a mounted secret file often ends in a newline, and one
pasted from a page may carry a space or a non-breaking space. Used as it stands, such a
key is refused by ``requests`` while it builds the ``Authorization`` header (its
``InvalidHeader`` quotes the whole header, key included), and such a signing secret makes
every delivery's HMAC differ: ``refused:signature``, forever. So both are refused where
they enter, with words that say what is wrong and where, never the value.
"""

from __future__ import annotations

import re

#: One character that no key or signing secret holds: anything outside printable ASCII
#: (whitespace, control characters, DEL and everything above it).
_FOREIGN = re.compile(r"[^\x21-\x7e]")


def unusable(value: str) -> str | None:
    """Why ``value`` cannot be a key or a signing secret as it stands, or None when it
    can. The answer says which kind of character and where (its start, its end, inside);
    it never quotes the value or any part of it.

    Example::

        >>> unusable("sk_test_abc\\n")[:38]
        'has whitespace or a control character '
        >>> unusable("sk_test_abc") is None
        True
    """
    found = _FOREIGN.search(value)
    if found is None:
        return None
    char = found.group()
    kind = (
        "whitespace or a control character"
        if char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F
        else "a character outside printable ASCII"
    )
    if found.start() == 0:
        where = "at its start"
    elif _FOREIGN.fullmatch(value[-1]) is not None:
        where = "at its end"
    else:
        where = "inside it"
    hint = " (a trailing newline from a file?)" if where == "at its end" else ""
    return f"has {kind} {where}{hint}: remove it"
