"""Checkpoints of a SQLite store's write-ahead log, run by a thread of their own.

In WAL mode a commit appends the pages it changed to the ``-wal`` file; a *checkpoint*
copies them back into the database file and, with ``synchronous`` NORMAL or FULL,
syncs both files to disk. SQLite's default runs it inside whichever commit first finds
the log past 1,000 pages, so that commit also waits for the copy and two syncs: on a
busy shop, every few dozen checkouts one pays for all of them. SQLite's documentation
offers the alternative this module takes (https://www.sqlite.org/wal.html, "Automatic
Checkpoint": an application may turn the automatic checkpoints off, or make them rare,
"and run checkpoints ... in a separate thread or process"):

* every ``every`` commits through the store, a daemon thread with its own connection
  runs ``PRAGMA wal_checkpoint(PASSIVE)``: it copies what it can without waiting for,
  or blocking, any reader or writer (https://www.sqlite.org/c3ref/wal_checkpoint_v2.html);
  the sqlite3 driver lets other threads run while SQLite works, so commits go on;
* the log starts again from its beginning only when a writer begins while every frame
  of it has been copied back and no reader uses it (https://www.sqlite.org/wal.html,
  "Avoiding Excessively Large WAL Files"). A passive checkpoint beside a busy writer
  ends with the frames committed while it ran still to copy (its ``log`` count is the
  log as it began), so the thread runs another (``ROUNDS`` at most) until one finds no
  new frame; each has fewer to copy. When no reader held frames back (``checkpointed``
  equals ``log``), one ``RESTART`` checkpoint then takes the writers' lock for the few
  frames left, waiting ``RESTART_WAIT`` at most for it and for readers: the next writer
  starts the log again. A writer may wait that long for it, once every ``every``
  commits, instead of copying the whole log inside a commit at ``BOUND``;
* ``PRAGMA journal_size_limit`` (``LOG_LIMIT``) on the store's connections truncates
  the ``-wal`` file back to that size when the log starts again
  (https://www.sqlite.org/pragma.html#pragma_journal_size_limit): without it the file
  keeps the largest size it ever reached (a long reader pinning the log);
* the store's own connections keep an automatic checkpoint, at ``BOUND`` pages: if
  this thread falls behind (or is gone, in a forked child), the log still cannot
  grow without end;
* durability is unchanged: a commit is as durable as ``synchronous`` makes it whether
  or not its pages were copied back yet (a crash replays the log on the next open).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

from .sqlite_args import uri

log = logging.getLogger(__name__)

#: The store connections' own automatic checkpoint, in pages: the bound the log may
#: reach if the thread falls behind (SQLite's default is 1,000).
BOUND = 10_000
#: What the ``-wal`` file is truncated to when the log starts again, in bytes: about
#: twice the log of ``every=100`` commits, so the file is not cut and grown back every time.
LOG_LIMIT = 8 * 1024 * 1024
#: Passive checkpoints one wake-up runs at most, to catch up with the writers.
ROUNDS = 4
#: How long, in seconds, the ``RESTART`` checkpoint waits for the writers' lock, then
#: (holding it) for readers on older snapshots.
RESTART_WAIT = 0.02


class Checkpointer:
    """A checkpoint of ``path``'s log every ``every`` commits, on a thread started on
    first need (a store that commits little never starts one)."""

    def __init__(self, path: Path, every: int, busy_timeout_ms: int) -> None:
        if every < 1:
            raise ValueError("checkpoint every must be >= 1 commit")
        self.path, self.every, self._timeout = path, every, busy_timeout_ms / 1000
        self._commits = 0
        self._guard = threading.Lock()
        #: The running thread, the event that wakes it, and the process it runs in.
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._pid = 0
        #: Checkpoints run, and those SQLite refused (a full disk, a broken file: the
        #: store connections' own bound then applies); the current streak of refused
        #: ones (0: the last went through) and SQLite's error for its first.
        self.runs = 0
        self.failures = 0
        self.failing = 0
        self.last_error = ""
        #: The last checkpoint's frames in the log and frames copied back (-1: not WAL).
        self.last = (0, 0)

    def committed(self) -> None:
        """A commit went through the store: wake the thread every ``every`` of them."""
        self._commits += 1
        if self._commits < self.every:
            return
        self._commits = 0
        with self._guard:
            thread = self._thread
            if thread is None or not thread.is_alive() or self._pid != os.getpid():
                self._pid, self._wake = os.getpid(), threading.Event()
                self._thread = threading.Thread(
                    target=self._loop,
                    args=(self._wake,),
                    name=f"sqlite-checkpoint:{self.path}",
                    daemon=True,
                )
                self._thread.start()
            self._wake.set()

    def _loop(self, wake: threading.Event) -> None:
        try:
            wait = min(self._timeout, RESTART_WAIT)
            # As the store's own later connections: the file as it is, never made anew.
            conn = sqlite3.connect(
                uri(self.path, create=False), uri=True, isolation_level=None, timeout=wait
            )
        except sqlite3.Error as exc:
            self._failed(exc)  # the next wake-up tries again, on a new thread
            return
        try:
            while wake.wait() and self._wake is wake:
                wake.clear()
                self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """Passive checkpoints on ``conn`` until one finds no frame committed since the
        last, or another checkpoint runs (busy), or ``ROUNDS`` of them ran; then, if no
        reader held frames back, one ``RESTART`` checkpoint for the frames left, which
        waits ``RESTART_WAIT`` at most (``conn``'s busy timeout). :attr:`last` keeps the
        last ``(log, checkpointed)`` frame counts; a refused one is :meth:`_failed`."""
        try:
            before = -1
            for _ in range(ROUNDS):
                busy, frames, done = self._round(conn, "PASSIVE")
                # ``frames``: the log as this round began: the last round's, so no commit
                # came in between and the round copied all a reader let it.
                if busy or frames == before:
                    break
                before = frames
            if not busy and done == frames:  # no reader holds frames back: only writers
                self._round(conn, "RESTART")
        except sqlite3.Error as exc:
            self._failed(exc)
        else:
            self.runs += 1
            if self.failing:
                log.info(
                    "checkpoints of the SQLite log %s-wal go through again after %d failed",
                    self.path, self.failing,
                )  # fmt: skip
                self.failing = 0

    def _failed(self, exc: sqlite3.Error) -> None:
        """Count a refused checkpoint; log the first of a streak (not every attempt)."""
        self.failures += 1
        self.failing += 1
        if self.failing == 1:
            self.last_error = f"{exc} ({getattr(exc, 'sqlite_errorname', type(exc).__name__)})"
            log.warning(
                "checkpoint of the SQLite log %s-wal failed: %s; the log grows until one "
                "goes through (at most %d pages, then inside a commit); retried every "
                "%d commits, logged again once they work",
                self.path, self.last_error, BOUND, self.every,
            )  # fmt: skip

    def _round(self, conn: sqlite3.Connection, mode: str) -> tuple[int, int, int]:
        busy, frames, done = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()[0]
        self.last = (frames, done)
        return int(busy), int(frames), int(done)

    def close(self) -> None:
        """Stop the thread, after the checkpoint it may be running (the next commit
        past ``every`` starts another)."""
        with self._guard:
            thread, wake = self._thread, self._wake
            self._thread, self._wake = None, threading.Event()
        wake.set()  # it finds itself replaced and ends
        mine = self._pid == os.getpid() and thread is not threading.current_thread()
        if thread is not None and mine:
            thread.join()
