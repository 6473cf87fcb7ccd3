"""The command that ``pg_virtualenv`` runs while the tests' PostgreSQL server is up.

``pg_virtualenv`` creates a cluster, starts it, runs one command with the connection in
``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD``, and stops and drops the cluster when that
command exits. This command publishes the connection to the test run (``server.json`` in
the run's directory, written whole or not at all) and then holds the server up until the
run asks it to stop (a ``stop`` file) or the pytest process that owns the run is gone, so
a killed test run leaves neither a server nor its run directory behind.

Usage: ``python tests/postgres_hold.py RUN_DIR OWNER_PID``. Standard library only: it runs
before anything else of the suite is imported.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.2


def owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def publish(run: Path) -> None:
    server = {
        "host": "127.0.0.1",  # PGHOST says localhost; the server listens on 127.0.0.1 only
        "port": int(os.environ["PGPORT"]),
        "user": os.environ["PGUSER"],
        "password": os.environ["PGPASSWORD"],
        "dbname": os.environ.get("PGDATABASE", "postgres"),
    }
    partial = run / "server.json.partial"
    partial.write_text(json.dumps(server))
    partial.rename(run / "server.json")


def hold(run: Path, owner: int) -> None:
    publish(run)
    while not (run / "stop").exists():
        if not owner_alive(owner):
            # The owner was killed before it could clean up: its run directory goes too.
            shutil.rmtree(run, ignore_errors=True)
            return
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    hold(Path(sys.argv[1]), int(sys.argv[2]))
