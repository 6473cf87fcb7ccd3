"""What of a PostgreSQL connection string may be shown: never its password, and never
libpq's own words about a string it cannot parse (they quote the string)."""

from __future__ import annotations

import re

import psycopg

#: The parts of a DSN a message or a repr names.
SHOWN = ("host", "port", "dbname", "user")

#: Why a URL is refused (it is never repeated: it may hold a password).
PERCENT_ENCODE = (
    "the PostgreSQL URL cannot be parsed: percent-encode the special characters "
    "of its user name and password ('%' as %25, '@' as %40, ':' as %3A, '/' as %2F)"
)

#: A port as libpq reads one from a URL: digits, one per host of a host list.
_PORTS = re.compile(r"[0-9]*(,[0-9]*)*")


def shown(dsn: str) -> str:
    """``host=... port=... dbname=... user=...`` of ``dsn``; for a DSN libpq cannot
    parse, or a URL it would read a password's piece of as a host, a port or a database
    (:func:`garbled`), a placeholder (this never raises: error messages are made of it)."""
    if garbled(dsn):
        return "<a URL libpq cannot read as written>"
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


def garbled(dsn: str) -> bool:
    """Whether ``dsn``, a ``postgresql://`` URL, holds an ``@`` libpq does not read as
    the end of ``user:password@`` (a second one, or one after a ``/`` or ``?``), or a
    port that is not a number: a password with an unencoded ``/`` or ``@``, which libpq
    reads partly as a host, a port or a database name, all of which messages show."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        return False
    at = rest.find("@")
    if at >= 0 and (rest.count("@") > 1 or any(c in rest[:at] for c in "/?")):
        return True
    try:
        port = psycopg.conninfo.conninfo_to_dict(dsn).get("port")
    except Exception:  # psycopg.ProgrammingError: refused as not parseable
        return False
    return port is not None and not _PORTS.fullmatch(str(port))
