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
* the store's own connections keep an automatic checkpoint, at ``BOUND`` pages: if
  this thread falls behind (or is gone, in a forked child), the log still cannot
  grow without end;
* durability is unchanged: a commit is as durable as ``synchronous`` makes it whether
  or not its pages were copied back yet (a crash replays the log on the next open).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

#: The store connections' own automatic checkpoint, in pages: the bound the log may
#: reach if the thread falls behind (SQLite's default is 1,000).
BOUND = 10_000


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
        #: Checkpoints run, and those SQLite refused (a busy or broken database: the
        #: store connections' own bound then applies).
        self.runs = 0
        self.failures = 0

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
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._timeout)
        except sqlite3.Error:
            self.failures += 1  # the next wake-up tries again, on a new thread
            return
        try:
            while wake.wait() and self._wake is wake:
                wake.clear()
                self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One passive checkpoint on ``conn``."""
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            self.failures += 1
        else:
            self.runs += 1

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
