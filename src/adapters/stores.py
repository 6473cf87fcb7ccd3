"""Open a store by URL, for the command line and for services that want a file.

- ``sqlite:PATH``: the SQLite store in the file PATH (``sqlite:PATH?synchronous=NORMAL``
  to trade the last commits before a power cut for speed; the default is ``FULL``). As
  ``?`` starts the options, a ``?`` in the file's name is written ``%3F`` (and ``%``
  before ``3F`` or ``25``, ``%25``); a leading ``~`` is the home directory; no ``//``
  after ``sqlite:`` (``sqlite:/abs.db``, ``sqlite:rel.db``) except SQLAlchemy's absolute
  ``sqlite:////abs.db`` (``/abs.db``), never ``synchronous=OFF``, and each option once;
- ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE`` (or ``postgres://``, or any libpq
  URL): the PostgreSQL store on that database (the ``postgresql`` extra);
- ``memory``: a fresh, empty in-memory store (lost when the process ends): no other
  process can reach it, so the commands that read the services' store refuse it
  (:func:`refuse_unshared`);
- ``json:PATH`` or a plain ``PATH``: an in-memory store loaded from a JSON file and
  written back (atomically: a temporary file, then a rename) by :meth:`OpenStore.save`:
  a snapshot format for tests and small tools, not a database.

``PAYCORE_STORE`` names the store when a command is not given ``--store``.

The JSON file holds every row of every table as :mod:`paycore_adapters.sql.values`
writes nested values: records by class name, enums by class name and value, tuples
kept apart from lists, plain mappings as JSON objects. Only the classes of
:mod:`paycore.records`, :mod:`paycore.money` and :mod:`paycore.status` are ever built
from a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import attrs

from paycore.errors import OperationalError, StoreError

from .memory import LocalStore
from .memory_store import MemoryStore
from .sql import values
from .sql.sqlite_args import StoreFileMissing
from .sql.sqlite_errors import StoreDamaged
from .sql.sqlite_store import SQLiteStore

FORMAT = "paycore-store/2"
#: Formats read: version 1 tagged every mapping (``$map``), which version 2 still reads.
READABLE = (FORMAT, "paycore-store/1")
#: The environment variable naming the store of a command given no ``--store``.
STORE_ENV = "PAYCORE_STORE"


class StoreUrlInvalid(StoreError, ValueError, code="store_url_invalid"):
    """A store URL names no store kind paycore knows, or is malformed."""


class StoreFileUnreadable(StoreError, code="store_file_unreadable"):
    """The store file exists but cannot be read as a paycore store."""


class StoreNotShared(StoreError, code="store_not_shared"):
    """A command that reads the store the services keep (``check``, ``flows``,
    ``attention``) was given ``memory``: a new, empty store of that command alone, in
    which it could only ever find nothing."""


#: What a store file holds a stored value as (plain JSON where plain; tagged records,
#: enums and tuples): the SQL stores' JSON columns' form, :mod:`.sql.values`.
encode, decode = values.encode, values.decode


@attrs.define
class OpenStore:
    """A store opened by :func:`open_store`; :meth:`save` writes a JSON-file one back
    (a SQLite store keeps every commit itself: saving it does nothing)."""

    store: LocalStore
    path: Path | None = None

    def save(self) -> None:
        if self.path is None or isinstance(self.store, SQLiteStore):
            return
        export: Any = getattr(self.store, "export")  # noqa: B009 - a memory store's (wrapped)
        tables, seqs = export()
        doc = {
            "format": FORMAT,
            "tables": {name: [encode(r) for r in rows] for name, rows in tables.items()},
            "seqs": seqs,
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, separators=(",", ":"))
            os.replace(tmp, self.path)
        except BaseException:  # Ctrl-C too: no half-written temporary file is left
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def close(self) -> None:
        close = getattr(self.store, "close", None)  # the SQL stores' connections
        if callable(close):
            close()


@attrs.frozen
class StoreUrl:
    """A parsed store URL: its kind (memory, json, sqlite, postgresql), its file, its
    options, and for PostgreSQL the URL itself (libpq reads it)."""

    kind: str
    path: Path | None = None
    options: dict[str, str] = attrs.field(factory=dict)
    dsn: str | None = attrs.field(default=None, repr=False)  # it may hold a password


def refuse_unshared(url: object, command: str) -> None:
    """Refuse ``memory`` for ``command``, a command that reads or changes the store the
    services keep: no other process can reach a memory store, so ``command`` would see
    a fresh, empty one (a check of it always passed). Other URLs are left to the opener.

    Raises:
        StoreNotShared: ``url`` is ``memory``.
    """
    if url == "memory":
        raise StoreNotShared(
            f"a memory store is a new, empty store of this command alone: `paycore "
            f"{command}` would read nothing any service wrote; name the service's store "
            "(sqlite:PATH, postgresql://... or json:PATH)"
        )


#: A libpq key=value connection string begins with a keyword and ``=``.
_KEY_VALUE = re.compile(r"\s*[A-Za-z_]+\s*=")
_USAGE = "a store URL is 'sqlite:PATH', 'postgresql://...', 'memory', 'json:PATH' or a file path"


def parse_url(url: object) -> StoreUrl:
    """What ``url`` names; StoreUrlInvalid when it names nothing paycore opens."""
    if not isinstance(url, str) or not url.strip():
        raise StoreUrlInvalid(f"{_USAGE}; got {url!r}")
    if url == "memory":
        return StoreUrl("memory")
    if _KEY_VALUE.match(url):  # libpq's key=value form (``host=db password=...``): its
        raise StoreUrlInvalid(  # words may hold a password, never repeated in the message
            "a key=value connection string is not a store URL: give "
            "postgresql://USER@HOST:PORT/DATABASE (the password in PGPASSWORD or ~/.pgpass)"
        )
    scheme, sep, rest = url.partition(":")
    if sep and scheme in ("postgresql", "postgres") and rest.startswith("//"):
        return StoreUrl("postgresql", dsn=_checked_dsn(url))
    if sep and scheme in ("postgresql", "postgres"):
        raise StoreUrlInvalid("a PostgreSQL store URL begins postgresql://")
    if sep and scheme in ("json", "sqlite"):
        rest, _, query = rest.partition("?")
        if not rest:
            raise StoreUrlInvalid(f"{scheme}: needs a file path, as in {scheme}:shop.db")
        if rest.startswith("////") and rest[4:5] != "/":  # /x.db in every convention
            rest = rest[3:]
        elif rest.startswith("//"):  # sqlite:///x.db: /x.db here once, x.db to SQLAlchemy
            bare = rest.lstrip("/")
            raise StoreUrlInvalid(
                f"{scheme}: is followed by the file's path, with no '//': write "
                f"{scheme}:/{bare} (or {scheme}:////{bare}) for the file /{bare}, or "
                f"{scheme}:{bare} for {bare} in the current folder"
            )
        return StoreUrl(scheme, _file(rest), _options(scheme, query, url))
    if sep and len(scheme) > 1 and rest.startswith("//"):
        raise StoreUrlInvalid(f"no store for {scheme}:// URLs here: {_USAGE}")
    if sep and "@" in rest:
        # user:password@host/db, a database address without its scheme: not repeated,
        # it holds a password. A file so named is opened as json:PATH.
        raise StoreUrlInvalid(
            "this looks like a database address without its scheme (user:password@host): "
            f"write postgresql://user:password@host/db (a file so named: json:PATH); {_USAGE}"
        )
    path = _file(url, escaped=False)
    _refuse_sqlite(path)
    return StoreUrl("json", path)


def _options(scheme: str, query: str, url: str) -> dict[str, str]:
    """The options of a ``sqlite:``/``json:`` URL, each known and given once, and never
    ``synchronous=OFF``: SQLite's own documentation says a power cut or an operating
    system crash may then corrupt the file, and the file holds money."""
    pairs = [part.partition("=")[::2] for part in query.split("&") if part]
    options = dict(pairs)
    unknown = sorted(set(options) - ({"synchronous"} if scheme == "sqlite" else set()))
    if unknown:
        raise StoreUrlInvalid(
            f"unknown option(s) {unknown} in the store URL {url!r} ('?' starts the "
            "options: write a '?' in the file's name as %3F)"
        )
    if len(pairs) != len(options):
        twice = sorted({k for k, _ in pairs if [p for p, _ in pairs].count(k) > 1})
        raise StoreUrlInvalid(f"option(s) {twice} given more than once in the store URL")
    if options.get("synchronous", "").upper() == "OFF":
        raise StoreUrlInvalid(
            "synchronous=OFF is refused: a power cut or an operating system crash may then "
            "corrupt the store's file (SQLite's own warning); NORMAL may lose the last "
            "commits to a power cut but never corrupts, FULL (the default) loses nothing"
        )
    return options


#: The first bytes of every SQLite database file (https://www.sqlite.org/fileformat.html).
SQLITE_HEADER = b"SQLite format 3\x00"
#: Names a bare path may not have, as a new JSON store: a SQLite file's.
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")


def _refuse_sqlite(path: Path) -> None:
    """Refuse a bare path (read as a JSON store) that is a SQLite file, or, when there is
    no file yet, is named as one (``shop.db``): the caller meant ``sqlite:PATH``, and the
    JSON reader would say only that it cannot decode the file, or ``migrate`` that a JSON
    store has no schema."""
    if path.exists() and not path.is_file():  # a folder, a FIFO (opening one waits for a
        return  # writer), a device: never opened here; the opener says what it is
    try:
        with path.open("rb") as f:
            what = "is a SQLite file" if f.read(16) == SQLITE_HEADER else None
    except FileNotFoundError:
        named = path.suffix.lower() in SQLITE_SUFFIXES
        what = "does not exist and is named as a SQLite file" if named else None
    except OSError:  # a folder, or unreadable: the opener says so
        return
    if what is not None:
        raise StoreUrlInvalid(
            f"{path} {what}: name the SQLite store sqlite:{path} (a bare path is read as "
            f"a JSON store file; for one so named, write json:{path})"
        )


#: What a ``sqlite:``/``json:`` URL's path may escape: ``%3F`` (``?``, which would start
#: the options) and ``%25`` (``%``, to write ``%3F`` literally); any other ``%`` is as written.
_ESCAPED = re.compile(r"%(3[Ff]|25)")


def _file(text: str, *, escaped: bool = True) -> Path:
    """The file ``text`` names: unescaped (:data:`_ESCAPED`), a leading ``~`` or
    ``~user`` read as that home directory, as a shell would (a service's environment
    or a quoted ``--store`` gets no shell's help)."""
    if escaped:
        text = _ESCAPED.sub(lambda m: "%" if m.group(1) == "25" else "?", text)
    try:
        return Path(text).expanduser()
    except RuntimeError:  # no such user, or no home directory to be found
        raise StoreUrlInvalid(
            f"cannot find the home directory {text.split('/', 1)[0]!r} of the store file "
            f"{text!r}: name the file by its full path"
        ) from None


def _checked_dsn(url: str) -> str:
    """``url`` once libpq can parse it as written (without the ``postgresql`` extra, as it
    is: the opener then says the extra is missing). libpq's own message quotes the part
    it could not read, the password perhaps, so it is not passed on; nor is a URL libpq
    would read a piece of the password of as a host, a port or a database
    (``dsn.garbled``): those are shown."""
    try:
        from .sql.dsn import refusal
    except ImportError:
        return url
    why = refusal(url)  # PERCENT_ENCODE, or the unknown parameter's name (not its value)
    if why is not None:
        raise StoreUrlInvalid(why)
    return url


def open_store(
    url: object, *, create: bool = False, migrate: bool = False, read_only: bool = False
) -> OpenStore:
    """Open the store ``url`` names.

    Args:
        url: ``sqlite:PATH``, ``postgresql://...``, ``memory``, ``json:PATH`` or a path.
        create: start an empty store when the file does not exist yet (a new SQLite
            file gets the whole schema).
        migrate: bring an existing SQLite file's or PostgreSQL database's schema up to
            date first (``create`` does too for PostgreSQL, whose database must exist).
        read_only: open a SQLite file with connections that only read
            (``paycore check``'s, :mod:`.sql.sqlite_read`: ``mode=ro`` when a ``-wal`` is
            beside it, never checkpointed into the file; else ``query_only``, the last
            close removing the ``-wal``/``-shm`` reading made); with neither ``create``
            nor ``migrate``.

    Raises:
        StoreUrlInvalid: not a URL this opener knows.
        StoreFileMissing: the file does not exist (and ``create`` is false), or for
            SQLite its folder (:mod:`.sql.sqlite_args`).
        StoreFileUnreadable: the file cannot be read, or is not a paycore store.
        SchemaNotMigrated: the SQLite file's or database's schema is older than ours.
        OperationalError: the PostgreSQL server or database cannot be reached.

    Example::

        opened = open_store("sqlite:shop.db", create=True)
        ...
        opened.close()
    """
    parsed = parse_url(url)
    if parsed.dsn is not None:
        return OpenStore(_postgres(parsed.dsn, migrate or create))
    path = parsed.path
    if path is None:
        return OpenStore(MemoryStore())
    if parsed.kind == "sqlite":  # a missing file or folder: SQLiteStore's own words
        return OpenStore(_sqlite(path, parsed.options, migrate or create, read_only), path)
    if not path.exists() and not create:
        raise StoreFileMissing(
            f"no store file at {path}: name an existing store, or create one "
            "(`paycore migrate --store sqlite:PATH` makes a new SQLite file)",
            path=str(path),
        )
    if not path.exists():
        return OpenStore(MemoryStore(), path)
    return OpenStore(_json_store(path), path)


def _json_store(path: Path) -> MemoryStore:
    """The memory store the JSON store file at ``path`` holds.

    Raises:
        StoreFileUnreadable: not a regular file, or not a store file this paycore reads.
    """
    if not path.is_file():  # a FIFO would be waited on, a device read forever
        raise StoreFileUnreadable(
            f"cannot read the store file {path}: it is not a regular file (a folder, a "
            "device, a FIFO or a socket): name the store's file",
            path=str(path),
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") not in READABLE:
            raise ValueError(f"not a {FORMAT} file")
        tables = {name: [decode(r) for r in rows] for name, rows in doc["tables"].items()}
        seqs = {str(k): int(v) for k, v in doc["seqs"].items()}
        store = MemoryStore.restore(tables, seqs)
    except (
        OSError,
        UnicodeDecodeError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        RecursionError,  # json.loads of a deeply nested file
    ) as exc:
        raise StoreFileUnreadable(
            f"cannot read the store file {path}: {type(exc).__name__}: {exc}", path=str(path)
        ) from None
    return store


def _postgres(dsn: str, migrate: bool) -> LocalStore:
    try:  # psycopg is the optional ``postgresql`` extra: imported only when asked for
        from .sql.postgres_store import PostgresStore
    except ImportError as exc:
        raise StoreUrlInvalid(
            f"the PostgreSQL store needs the postgresql extra (pip install "
            f"'paycore[postgresql]'): {exc}"
        ) from None
    return PostgresStore(dsn, migrate=migrate)


def _sqlite(path: Path, options: dict[str, str], migrate: bool, read_only: bool) -> SQLiteStore:
    synchronous = options.get("synchronous", "FULL")
    try:
        return SQLiteStore(path, synchronous=synchronous, migrate=migrate, read_only=read_only)
    except ValueError as exc:
        raise StoreUrlInvalid(str(exc)) from None
    except StoreDamaged as exc:
        if exc.fields.get("sqlite_error") != "SQLITE_NOTADB":
            raise  # its own code and words: restore from a backup
        raise StoreFileUnreadable(  # not a database at all: the wrong file, most likely
            f"cannot open the SQLite store {path}: the file is not a SQLite database: give "
            "the path of a paycore store (or, if it was one, restore it from a backup)",
            path=str(path),
        ) from None
    except OperationalError as exc:
        # The store's own words when they name its file (sqlite_args.cannot_open); else
        # what failed (a migration, say) with the file it failed on.
        named = "path" in exc.fields
        message = exc.message if named else f"cannot open the SQLite store {path}: {exc.message}"
        raise StoreFileUnreadable(message, path=exc.fields.get("path", str(path))) from None
