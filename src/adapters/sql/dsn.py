"""What of a PostgreSQL connection string may be shown: never its password, and never
libpq's own words about a string it cannot parse (they quote the string)."""

from __future__ import annotations

import re
from urllib.parse import unquote

import psycopg
from psycopg import pq

#: The parts of a DSN a message or a repr names.
SHOWN = ("host", "port", "dbname", "user")

#: Why a URL is refused (it is never repeated: it may hold a password).
PERCENT_ENCODE = (
    "the PostgreSQL URL cannot be parsed: percent-encode the special characters "
    "of its user name and password ('%' as %25, '@' as %40, ':' as %3A, '/' as %2F)"
)

#: A connection parameter's name as a message may show it: a keyword's shape (anything
#: else might be a piece of a password, and is not repeated).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

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


def refusal(dsn: str) -> str | None:
    """Why ``dsn`` is refused before anything connects with it, or None when libpq can
    read it as written: a garbled URL (:func:`garbled`) or one libpq cannot parse gets
    :data:`PERCENT_ENCODE`, unless the cause is a query parameter libpq does not know
    (``?foo=bar``), which is named (its value is not: it may be a secret)."""
    if garbled(dsn):
        return PERCENT_ENCODE
    if parseable(dsn):
        return None
    name = unknown_parameter(dsn)
    if name is None or not parseable(_without_parameter(dsn, name)):
        return PERCENT_ENCODE  # not the (only) cause: a user name or password too
    return (
        f"the PostgreSQL URL names an unknown connection parameter {name!r}: libpq has no "
        "such setting (its parameter key words are listed in the PostgreSQL manual, "
        "libpq, Connection Strings); remove or correct it"
    )


def unknown_parameter(dsn: str) -> str | None:
    """The first query parameter of the URL ``dsn`` that is none of the linked libpq's
    connection keywords (``PQconndefaults``; and ``ssl``, which libpq's URLs take for
    ``sslmode=require``); None when there is none, when ``dsn`` is no URL, or when a
    name is not shaped like a keyword (it is then not shown)."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or scheme not in ("postgresql", "postgres") or "?" not in rest:
        return None
    known = {opt.keyword.decode() for opt in pq.Conninfo.get_defaults()} | {"ssl"}
    for part in rest.partition("?")[2].split("&"):
        name = unquote(part.partition("=")[0])
        if name and name not in known:
            return name if _NAME.fullmatch(name) else None
    return None


def _without_parameter(dsn: str, name: str) -> str:
    """The URL ``dsn`` without its query parameter(s) ``name``."""
    head, _, query = dsn.partition("?")
    kept = [p for p in query.split("&") if unquote(p.partition("=")[0]) != name]
    return f"{head}?{'&'.join(kept)}" if kept else head
