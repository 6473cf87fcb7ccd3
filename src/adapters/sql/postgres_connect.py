"""The PostgreSQL store's connections: how each is set up, told dead, and replaced.

* **Set-up** (:func:`configure`, once per pooled connection): ``SERIALIZABLE``, no
  sequential scan where an index serves, and the session's timeouts:
  ``lock_timeout`` (a statement waiting on a row lock gives up: SQLSTATE 55P03, the
  port's ``StoreConflict``, run again by the engine) and
  ``idle_in_transaction_session_timeout`` (the server ends the session of a client that
  stalled inside a transaction, and with it the locks it held). Each is the store's
  argument if given, else the URL's (``options=-c lock_timeout=...``), else the
  default here.
* **TCP keepalives** (:func:`keepalive_options`): ``keepalives_idle``/``_interval``/
  ``_count`` and ``tcp_user_timeout`` unless the URL sets them, so that a server gone
  silent (a partition, a host that died) is noticed within about a minute instead of
  the kernel's two hours.
* **A dead connection** (the server restarted, failed over, or ended the session):
  a checkout passes over a pooled connection whose socket already says so
  (:func:`alive`, no round trip), and a transaction whose first exchange (its ``BEGIN``
  goes in it) failed with the connection runs that exchange once more on a fresh one
  (:class:`PooledTransaction`): it committed nothing and its caller saw nothing. Every
  connection opened before that dead one is then replaced (:meth:`Pool.renew`).
  docs/design-notes.md says why not psycopg_pool's ``check``.
"""

from __future__ import annotations

import re
import select
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool

from paycore import catalog, wiring
from paycore.errors import CommitUnknown, InvalidInput, OperationalError

from ..signing import Secret
from .dsn import refusal
from .postgres_tx import Conn, PostgresTransaction
from .transaction import Write

#: Seconds a statement waits on a lock before it gives up (``lock_timeout``).
LOCK_TIMEOUT_S = 5.0
#: Seconds a session may sit idle inside a transaction before the server ends it.
IDLE_IN_TRANSACTION_S = 30.0
#: libpq's TCP options set when the URL does not: the first probe after 30 s of
#: silence, then every 10 s, the peer dead after 3 unanswered (and data sent but not
#: acknowledged for 60 s ends the connection too).
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",
}
_IDLE = pq.TransactionStatus.IDLE
#: Seconds the direct connection tried after the pool timed out (:func:`why_not`) may take.
PROBE_S = 5
#: How long one probe's verdict answers for the pool (:func:`why_not`), in seconds.
PROBE_EVERY_S = 30.0


#: The most connections one store's pool may hold.
MAX_POOL = 1_000


def check_arguments(
    dsn: object, pool: tuple[object, ...], migrate: object, sessions: tuple[object, ...]
) -> None:
    """Refuse, typed and by name, what :class:`PostgresStore` cannot be opened with, before
    it connects: a setting error is the caller's to fix, not the store being down.
    ``pool``: ``min_size``, ``max_size``, ``timeout``; ``sessions``: ``lock_timeout`` and
    ``idle_in_transaction_timeout`` (None: the URL's or the default; else 0, no limit,
    or more seconds).

    Raises:
        InvalidInput: ``field`` names the argument (never the URL's text).
        OperationalError: a blank URL (as ever: no store to reach).
    """
    if not isinstance(dsn, str | Secret):
        raise InvalidInput(
            f"dsn must be a postgresql:// URL (text), not a {type(dsn).__name__}", field="dsn"
        )
    if isinstance(dsn, str) and not dsn.strip():
        raise OperationalError("cannot connect to the PostgreSQL store: no URL given")
    min_size, max_size, timeout = pool
    low = wiring.whole_number("min_size", min_size, high=MAX_POOL)
    wiring.whole_number("max_size", max_size, low=max(1, low), high=MAX_POOL)
    wiring.positive_seconds("timeout", timeout)
    catalog.flag("migrate", migrate)
    for name, value in zip(("lock_timeout", "idle_in_transaction_timeout"), sessions, strict=True):
        if value is not None:
            wiring.positive_seconds(name, value, zero=True)


def keepalive_options(dsn: str) -> dict[str, str]:
    """The :data:`KEEPALIVES` that ``dsn`` does not set (psycopg's keyword arguments
    would override the DSN's own)."""
    given = psycopg.conninfo.conninfo_to_dict(dsn)
    return {k: v for k, v in KEEPALIVES.items() if k not in given}


def opening(url: Secret) -> Secret:
    """What a store's connections are opened with: ``url`` once screened
    (:func:`.dsn.refusal`: libpq's words about a URL it cannot read quote it) and libpq's
    TCP keepalives it does not set; a Secret, revealed only into a connection's call."""
    why = refusal(url.reveal())
    if why is not None:
        raise OperationalError(f"cannot connect to the PostgreSQL store: {why}")
    return Secret(psycopg.conninfo.make_conninfo(url.reveal(), **keepalive_options(url.reveal())))


def settings(
    dsn: str, lock_timeout: float | None, idle_in_transaction: float | None
) -> dict[str, int]:
    """What :func:`configure` sets, in milliseconds (0: no limit): each argument given,
    else nothing when the URL's ``options`` set it (``-c NAME=...``), else the default."""
    options = str(psycopg.conninfo.conninfo_to_dict(dsn).get("options") or "")
    out: dict[str, int] = {}
    for name, value, default in (
        ("lock_timeout", lock_timeout, LOCK_TIMEOUT_S),
        ("idle_in_transaction_session_timeout", idle_in_transaction, IDLE_IN_TRANSACTION_S),
    ):
        if value is not None:
            wiring.positive_seconds(name, value, zero=True)
        if value is None and re.search(rf"(-c\s*|--){name}\s*=", options):
            continue  # the URL's, sent at connection start
        out[name] = round(1000 * (default if value is None else value))
    return out


def configure(settings: dict[str, int]) -> Callable[[Conn], None]:
    """The pool's set-up of a new connection: ``settings`` (:func:`settings`),
    ``SERIALIZABLE``, and no sequential scan where an index serves
    (``enable_seqscan = off``). A sequential scan locks the whole table for a
    serializable transaction, so that any concurrent write to it is a conflict; the
    planner picks one for a small table (the ten rows of a shop's stock) however few
    rows the query reads. The session keeps the settings; every query of the store has
    an index. psycopg prepares nothing on it: the store prepares its queries itself
    (:meth:`PostgresTransaction._query`), and psycopg would deallocate them at a
    rollback."""
    sets = "".join(f"; SET {name} = {int(ms)}" for name, ms in settings.items())

    def configure(conn: Conn) -> None:
        conn.prepare_threshold = None
        conn.execute(f"SET enable_seqscan = off{sets}".encode())  # one exchange
        conn.commit()
        conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE

    return configure


class Pool(ConnectionPool[Conn]):
    """psycopg_pool's pool, which can also take a connection back for good
    (:meth:`discard`: giving that one back again later does nothing), and replace every
    connection opened before a dead one was found (:meth:`renew`)."""

    def __init__(self, *args: Any, configure: Callable[[Conn], None], **kwargs: Any) -> None:
        def born(conn: Conn) -> None:
            self._born[conn] = self._generation
            configure(conn)

        self._gone: weakref.WeakSet[Conn] = weakref.WeakSet()
        #: Each connection's generation: the one current when it was opened. A dead
        #: connection found by its first exchange ends its generation (:meth:`renew`).
        self._born: weakref.WeakKeyDictionary[Conn, int] = weakref.WeakKeyDictionary()
        self._generation = 0
        self._guard = threading.Lock()
        #: Connections given out and not yet back (discarded ones count as back).
        self.lent = 0
        #: The last probe of :func:`why_not`: when, and what it found.
        self.probe_lock = threading.Lock()
        self.probed: tuple[float, str] = (0.0, "")
        super().__init__(*args, configure=born, **kwargs)

    def discard(self, conn: Conn) -> None:
        """Close ``conn`` and give it back (the pool opens another in its place)."""
        conn.close()
        self.putconn(conn)
        self._gone.add(conn)

    def getconn(self, timeout: float | None = None) -> Conn:
        conn = super().getconn(timeout)
        with self._guard:
            self.lent += 1
        return conn

    def putconn(self, conn: Conn) -> None:
        if conn not in self._gone:
            with self._guard:
                self.lent -= 1
            super().putconn(conn)

    def renew(self, dead: Conn) -> None:
        """``dead`` died under a transaction's first exchange: the server went away
        (restarted, failed over) or ended it, and every connection opened before it
        may be dead too, its socket not telling yet (a host that vanished sends no
        FIN): each is replaced at its next checkout. A connection of an older
        generation ends none."""
        with self._guard:
            if self._born.get(dead) == self._generation:
                self._generation += 1
        self.discard(dead)

    def checkout(self) -> Conn:
        """A connection of the current generation that is not dead as far as its
        socket tells (:func:`alive`); every other one met is replaced."""
        for _ in range(2 * self.max_size + 2):
            conn = self.getconn()
            if self._born.get(conn) == self._generation and alive(conn):
                return conn
            self.discard(conn)
        return self.getconn()


def alive(conn: Conn) -> bool:
    """Whether an idle connection may still be used, as far as can be told without a
    round trip: an idle session's socket has nothing to read unless the server wrote on
    its own (the FATAL error it sends before it ends a session) or closed it. What is
    there is read (libpq drops a notice); the end of the stream, or an error, is death."""
    pgconn = conn.pgconn
    if conn.closed or pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != _IDLE:
        return False
    try:
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN)
        for _ in range(3):
            if not poller.poll(0):
                return True
            pgconn.consume_input()
            pgconn.is_busy()  # parses what came in
    except (OSError, psycopg.Error):
        return False
    return False  # still more to read from an idle session: not to be trusted


class PooledTransaction(PostgresTransaction):
    """:class:`PostgresTransaction` on a pooled connection, whose first exchange runs
    once more on a fresh connection when the connection failed during it.

    That exchange holds the transaction's ``BEGIN``: nothing of it was committed and
    none of its results was seen, so running it again is running the transaction from
    its start. Never once an exchange succeeded, and never for an exchange that
    carried the ``COMMIT`` (its answer lost: ``CommitUnknown``, as before)."""

    def __init__(self, conn: Conn, renew: Callable[[Conn], Conn], *args: Any) -> None:
        super().__init__(conn, *args)
        #: Gives the dead connection back and returns a fresh one.
        self._renew: Callable[[Conn], Conn] | None = renew

    def _run(self, sql: str, args: tuple[Any, ...]) -> Any:
        if self._first():
            try:
                return super()._run(sql, args)
            except OperationalError as exc:
                self._again(exc)
        return super()._run(sql, args)

    def _send(self, writes: Sequence[Write], commit: bool) -> list[int]:
        if not commit and self._first():
            try:
                return super()._send(writes, commit)
            except OperationalError as exc:
                self._again(exc)
        return super()._send(writes, commit)

    def _first(self) -> bool:
        """No exchange of this transaction has happened yet (nor a renewal)."""
        return self._renew is not None and self.conn.pgconn.transaction_status == _IDLE

    def _again(self, exc: OperationalError) -> None:
        """After ``exc`` ended the first exchange: a fresh connection if the connection
        failed, else ``exc`` raised."""
        renew, self._renew = self._renew, None
        conn = self.conn
        if isinstance(exc, CommitUnknown) or renew is None or not conn.closed:
            raise exc
        self.conn = renew(conn)
        self._cursor = self._loader = self._prepared = None
        # The failure the exchange recorded (:mod:`.tx_failure`) was the dead connection's:
        # the transaction starts again from its first exchange, failed by nothing yet.
        self.failed = None


def why_not(pool: Pool, conninfo: Secret) -> str:
    """Why the pool gave no connection. With every connection of the pool lent, the
    usual cause: all were busy (no probe: a probe per waiting request would add a server
    connection each, near the server's limit, and seconds to each failure). With fewer
    lent, a direct connection tells why no new one opened: libpq's reason (a password
    refused after it changed, a database dropped, the server gone), which the pool itself
    only logs as warnings; at most one probe every ``PROBE_EVERY_S`` per pool, the
    verdict shared meanwhile. libpq's messages about a connection it tried name the host,
    port and user, never the password (the URL was screened before: :mod:`.dsn`)."""
    if pool.lent >= pool.max_size:
        return "every pooled connection was in use (a larger max_size?)"
    with pool.probe_lock:
        at, verdict = pool.probed
        if verdict and time.monotonic() - at < PROBE_EVERY_S:
            return verdict
        try:
            psycopg.connect(conninfo.reveal(), connect_timeout=PROBE_S).close()
        except psycopg.Error as exc:
            verdict = "a direct connection fails too: " + " ".join(str(exc).split())
        else:
            verdict = "a direct connection succeeds: the pool's own connections failed to open"
        pool.probed = (time.monotonic(), verdict)
        return verdict
