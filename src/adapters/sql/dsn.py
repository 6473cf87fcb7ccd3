"""What of a PostgreSQL connection string may be shown: never its password, and never
libpq's own words about a string it cannot parse (they quote the string)."""

from __future__ import annotations

import psycopg

#: The parts of a DSN a message or a repr names.
SHOWN = ("host", "port", "dbname", "user")


def shown(dsn: str) -> str:
    """``host=... port=... dbname=... user=...`` of ``dsn``; for a DSN libpq cannot
    parse, a placeholder (this never raises: error messages are made of it)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except Exception:  # psycopg.ProgrammingError, its text quoting the DSN
        return "<a DSN libpq cannot parse>"
    return " ".join(f"{k}={info[k]}" for k in SHOWN if k in info)


def parseable(dsn: str) -> bool:
    """Whether libpq can parse ``dsn`` (its reason is not given: it quotes the DSN)."""
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except Exception:  # psycopg.ProgrammingError
        return False
    return True
