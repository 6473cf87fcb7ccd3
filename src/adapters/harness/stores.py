"""The stores a harness run can drive paycore on: memory (the default) or SQLite.

On SQLite each example gets a fresh file: a copy of a file migrated once per run
(building the schema per example would cost more than most examples), in a folder of
its own that the run removes at its end. The example before's store is closed when
nothing refers to it any more (an example's world, an explored state), so a run holds
only the files of the worlds alive.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from paycore.config import Config

from ..memory import Wiring, in_memory
from ..sql import ddl, migrate
from ..sql.columns import MAPS
from ..sql.sqlite_store import SQLiteStore
from .bugs.catalog import dropped_constraints

#: The stores a run may name (PostgreSQL needs a server: see :func:`worlds_on`).
KINDS = ("memory", "sqlite", "postgresql")

WiringFactory = Callable[[Config], Wiring]
#: The in-memory wiring, the harness's default.
MEMORY: WiringFactory = in_memory


class SQLiteWorlds:
    """Makes one wiring per example, each on a new SQLite file in ``folder``.

    A seeded bug that does without a unique constraint (``SeededBug.drops``) gets a
    schema without it: the database would otherwise enforce what the flaw gave up."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.template = folder / "template.db"
        drops = dropped_constraints()
        if drops:
            _schema_without(self.template, drops)
        SQLiteStore(self.template, migrate=True).close()
        self.made = 0

    def __call__(self, config: Config) -> Wiring:
        self.made += 1
        path = self.folder / f"example{self.made}.db"
        shutil.copyfile(self.template, path)
        # NORMAL: a harness run needs no durability across power cuts, and its examples
        # are many; the contract and durability tests run FULL.
        store = SQLiteStore(path, synchronous="NORMAL")
        store.dispose_when_dropped()  # and so are its clones, the explorer's states
        return in_memory(config, store=store)


def _schema_without(path: Path, drops: set[tuple[str, tuple[str, ...]]]) -> None:
    """Build the latest schema in ``path`` from the records, leaving out ``drops``, and
    mark it migrated."""
    names = {f"CONSTRAINT {ddl.quote(ddl.unique_name(MAPS[t], f))} " for t, f in drops}
    statements = []
    for statement in ddl.schema(ddl.SQLITE):
        lines = statement.split("\n")
        kept = [line for line in lines if not any(n in line for n in names)]
        statements.append("\n".join(kept).replace(",\n)", "\n)"))
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript("\n".join(statements))
        conn.execute(f"CREATE TABLE {migrate.TABLE} (version INTEGER PRIMARY KEY, name TEXT)")
        for mig in migrate.migrations("sqlite"):
            conn.execute(f"INSERT INTO {migrate.TABLE} VALUES (?, ?)", (mig.version, mig.name))
    conn.close()


@contextmanager
def worlds_on(kind: str, server: str | None = None) -> Iterator[WiringFactory]:
    """The wiring factory for ``kind``; its files or databases last until the block ends.
    ``postgresql`` needs ``server``: a connection string to a server's maintenance
    database, on which the run may create and drop databases."""
    if kind not in KINDS:
        raise ValueError(f"no harness store {kind!r}: one of {', '.join(KINDS)}")
    if kind == "postgresql":
        if not server:
            raise ValueError("a harness run on PostgreSQL needs a server to make databases on")
        from .pg_worlds import PostgresWorlds  # psycopg only when asked for

        worlds = PostgresWorlds(server)
        try:
            yield worlds
        finally:
            worlds.close()
        return
    if kind == "memory":
        yield MEMORY
        return
    folder = Path(tempfile.mkdtemp(prefix="paycore-harness-"))
    try:
        yield SQLiteWorlds(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
