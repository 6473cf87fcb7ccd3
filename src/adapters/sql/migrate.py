"""Versioned, forward-only schema migrations, shipped as SQL files in this package.

``migrations/<dialect>/NNNN_<name>.sql``: version NNNN, applied in order, each in its
own transaction together with its row in ``paycore_migrations``. A file once
released is never edited; a change to the records is a new file. The tests build
each database from scratch and from every earlier version and compare the result
with what :mod:`paycore_adapters.sql.ddl` derives from the records.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import attrs

from paycore.errors import StoreError

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

#: The bookkeeping table: created by the migrator, not by a migration.
TABLE = "paycore_migrations"


class SchemaNotMigrated(StoreError, code="store_schema_not_migrated"):
    """The database's schema is older than this paycore: run ``paycore migrate``."""


class SchemaTooNew(StoreError, code="store_schema_too_new"):
    """The database was migrated by a newer paycore than this one; this one must not
    write to it."""


@attrs.frozen
class Migration:
    version: int
    name: str
    sql: str


@functools.cache
def _read(dialect: str) -> tuple[Migration, ...]:
    """The migration files of ``dialect``, read once per process (a store is opened per
    harness example: the files do not change while it runs)."""
    return tuple(_files(dialect))


def migrations(dialect: str) -> list[Migration]:
    """Every migration of ``dialect``, in version order (numbered 1, 2, 3 ... with no
    gap: a missing or repeated number is a packaging error)."""
    return list(_read(dialect))


def _files(dialect: str) -> list[Migration]:
    folder = resources.files("paycore_adapters.sql") / "migrations" / dialect
    found: list[Migration] = []
    for entry in folder.iterdir():
        m = _FILE.match(entry.name)
        if m is not None:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda mig: mig.version)
    numbers = [mig.version for mig in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations are not numbered 1..n: {numbers}")
    return found


def latest(dialect: str) -> int:
    return len(migrations(dialect))


def pending(dialect: str, applied: int) -> list[Migration]:
    """The migrations a database at version ``applied`` still needs."""
    known = latest(dialect)
    if applied > known:
        raise SchemaTooNew(
            f"the database's schema is at version {applied}, newer than this paycore's "
            f"{known}: upgrade paycore before using it",
            applied=applied,
            known=known,
        )
    return migrations(dialect)[applied:]


def require_latest(dialect: str, current: int, what: str, command: str) -> None:
    """Raise unless a database at version ``current`` is at this paycore's latest:
    ``SchemaTooNew`` when newer, ``SchemaNotMigrated`` (naming ``command``) when older."""
    known = latest(dialect)
    pending(dialect, current)  # raises when the database is newer
    if current < known:
        raise SchemaNotMigrated(
            f"{what} is at schema version {current}, this paycore needs {known}: run `{command}`",
            applied=current,
            known=known,
        )
