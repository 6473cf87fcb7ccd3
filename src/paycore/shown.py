"""How an error message shows a value or an id the caller gave: short, valid UTF-8 and
with nothing a terminal would act on (a 100,000-character id, a lone surrogate, an ANSI
escape), while an ordinary id reads as it is."""

from __future__ import annotations

#: The most characters of a value a message shows.
CUT = 60


def shown(value: object) -> str:
    """``value`` as a message shows it: its repr, cut short past 60 characters (a huge
    whole number by its size: Python refuses the repr of one past 4,300 digits)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= CUT else f"{value[:CUT]!r}... ({len(value)} characters)"
    if isinstance(value, int) and value.bit_length() > 200:  # no repr past 4,300 digits
        return f"a whole number of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:  # a huge whole number inside a list or a mapping, a failing __repr__
        return f"a {type(value).__name__} that cannot be shown"
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
