"""How an error message shows a value or an id the caller gave: short, valid UTF-8 and
with nothing a terminal would act on (a 100,000-character id, a lone surrogate, an ANSI
escape), while an ordinary id reads as it is."""

from __future__ import annotations

#: The most characters of a value a message shows.
CUT = 60


def shown(value: object) -> str:
    """``value`` as a message shows it: its repr, cut short past 60 characters."""
    if isinstance(value, str):
        return repr(value) if len(value) <= CUT else f"{value[:CUT]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= CUT else f"{text[:CUT]}... ({len(text)} characters)"


def shown_id(value: object) -> str:
    """An id from the caller as an error message shows it: a printable one of 1 to 60
    characters, with no space at either end, as it is; any other (empty, a control
    character or ANSI escape, a lone surrogate, 100,000 characters, not a string) as
    :func:`shown` shows it."""
    if isinstance(value, str):
        plain = 0 < len(value) <= CUT and value.isprintable() and value.strip() == value
        return value if plain else shown(value)
    return shown(value)
