"""Rows a store keeps across its transactions: those of tables whose committed rows never
change (:data:`KEPT_TABLES`), so that reading one again costs no statement.

The installation row (``paycore.schema.INSTALLATION``, key ``"this"``) is the one such
table: the first transaction that needs it inserts it, and nothing in paycore updates
or deletes it after. Every lifecycle reads it twice (creating a payment intent and
confirming it): two statements, two round trips on PostgreSQL. Both SQL stores keep it.

* Only a committed row is kept: one a transaction read from the database (every row a
  transaction sees there was committed), or one it inserted, once its commit has
  succeeded. An absent row is never kept: a transaction that finds none reads the
  database, and two that insert it at once meet at its primary key.
* Under ``SERIALIZABLE`` a transaction that takes the row from here takes no predicate
  lock on it. None is needed: a read matters to serializability only through a
  concurrent write of what it read (a read-write dependency), and no transaction
  writes a kept row once it is committed, so every serial order stays one.
* The store forgets every kept row when its database's content is reset behind its
  back (the harness empties a reused database and says so: ``PostgresStore.emptied``),
  and when a transaction updates a kept table's row through the port (paycore never
  does; the update is the newest). A transaction that began before then keeps nothing
  at its commit.
"""

from __future__ import annotations

import threading
from typing import Any

from paycore.schema import INSTALLATION

#: The tables whose rows a store keeps across transactions.
KEPT_TABLES = frozenset({INSTALLATION.name})


class KeptRows:
    """The rows of :data:`KEPT_TABLES` a store keeps, by table and key; shared by the
    store's threads."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {name: {} for name in KEPT_TABLES}
        #: Counts the times every kept row was forgotten: a transaction that began
        #: under an earlier count keeps nothing.
        self.generation = 0
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Forget every kept row (the database's content was reset, or a kept row changed)."""
        with self._lock:
            self.generation += 1
            for rows in self.rows.values():
                rows.clear()

    def keep(self, generation: int, known: dict[str, dict[str, Any]]) -> None:
        """After a commit: keep the rows of the kept tables the transaction knew (read or
        inserted; None: found absent), unless every row was forgotten since it began."""
        if not any(known.get(name) for name in self.rows):
            return  # it knew none (most transactions): no lock to take
        with self._lock:
            if generation != self.generation:
                return
            for name, rows in self.rows.items():
                for key, row in known.get(name, {}).items():
                    if row is not None:
                        rows[key] = row
