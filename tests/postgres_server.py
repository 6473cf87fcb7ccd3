"""A throwaway PostgreSQL 15 server for the tests, and a fresh empty database per test.

``postgres_dsn`` (a test's own database) is the fixture tests use; ``postgres_server`` (the
server's maintenance database) is session scoped. With ``PAYCORE_TEST_POSTGRES_DSN`` set,
that server is used and nothing is started. Otherwise the first test that asks starts one
with Debian's ``pg_virtualenv`` (docs/design-notes.md says why that tool): a cluster in a
temporary directory owned by the unprivileged ``postgres`` user when the suite runs as
root, listening on 127.0.0.1 only, on a free port, with ``fsync=off`` (a test server loses
nothing worth keeping in a crash of the machine).

One server serves the whole run, xdist workers included: the pytest process that owns the
run (the controller, or the only process without xdist) makes a run directory and passes it
to the workers in ``PAYCORE_TEST_POSTGRES_RUN``; the first worker that needs the server
starts it under a lock and publishes its address there; the owner stops it when the run
ends. A server that cannot start fails every test that needs it, in CI and elsewhere: it is
never a skip.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from tests.postgres_databases import MigratedDatabases

DSN_ENV = "PAYCORE_TEST_POSTGRES_DSN"
RUN_ENV = "PAYCORE_TEST_POSTGRES_RUN"
PG_VERSION = "15"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0

_owned_run = pytest.StashKey[Path]()
_spawned: list[subprocess.Popen[bytes]] = []


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(DSN_ENV) or os.environ.get(RUN_ENV):
        return  # a given server, or a worker of a run that already has a directory
    run = Path(tempfile.mkdtemp(prefix="paycore-pg-"))
    (run / "owner").write_text(str(os.getpid()))
    os.environ[RUN_ENV] = str(run)  # inherited by the xdist workers started after this
    config.stash[_owned_run] = run


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_owned_run, None)
    if run is None:
        return
    stop_server(run)
    shutil.rmtree(run, ignore_errors=True)
    os.environ.pop(RUN_ENV, None)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The DSN of the server's maintenance database (``postgres``)."""
    given = os.environ.get(DSN_ENV)
    if given:
        return given
    run = os.environ.get(RUN_ENV)
    if not run or not Path(run).is_dir():
        pytest.fail(f"no PostgreSQL for the tests: set {DSN_ENV}, or run pytest from the repo")
    try:
        return ensure_server(Path(run))
    except ServerStartFailed as e:
        pytest.fail(str(e))


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A DSN for a new, empty database of this test's own, dropped after the test."""
    yield from _database(postgres_server, "template0")


@pytest.fixture(scope="session")
def _migrated_template(postgres_server: str) -> Iterator[str]:
    """A database migrated once per test process, that migrated_postgres_dsn copies."""
    from paycore_adapters.sql.postgres_store import PostgresStore

    for dsn in _database(postgres_server, "template0"):
        PostgresStore(dsn, migrate=True, max_size=1).close()
        yield _dbname(dsn)


@pytest.fixture(scope="session")
def _migrated_databases(
    postgres_server: str, _migrated_template: str
) -> Iterator[MigratedDatabases]:
    """This test process's copies of the migrated template, lent one test at a time."""
    databases = MigratedDatabases(postgres_server, _migrated_template)
    yield databases
    databases.close()


@pytest.fixture
def migrated_postgres_dsn(_migrated_databases: MigratedDatabases) -> Iterator[str]:
    """A DSN for a database of this test's own, migrated to the latest schema and empty:
    a copy of a database migrated once (migrating costs several times what copying does;
    the migrations themselves are tested from an empty database, ``postgres_dsn``), lent
    to one test at a time and emptied between tests (``tests.postgres_databases``)."""
    with _migrated_databases.lent() as dsn:
        yield dsn


def _dbname(dsn: str) -> str:
    import psycopg

    return str(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"])


def _database(server: str, template: str) -> Iterator[str]:
    """A new database copied from ``template``, dropped once the caller is done. Copied
    file by file (``STRATEGY FILE_COPY``): for databases this small it is the faster way
    (the default, ``WAL_LOG``, writes every block to the WAL)."""
    import psycopg
    from psycopg import sql

    name = f"paycore_test_{os.getpid()}_{secrets.token_hex(4)}"
    create = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(create.format(sql.Identifier(name), sql.Identifier(template)))
    try:
        yield psycopg.conninfo.make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


class ServerStartFailed(RuntimeError):
    """The test server did not start; the message carries ``pg_virtualenv``'s output."""


def ensure_server(run: Path) -> str:
    """The running server's DSN, starting it first if no process of this run has."""
    with (run / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        failed = run / "failed"
        if failed.exists():
            raise ServerStartFailed(failed.read_text())
        if not (run / "server.json").exists():
            try:
                start_server(run)
            except ServerStartFailed as e:
                failed.write_text(str(e))
                raise
    server = json.loads((run / "server.json").read_text())
    return " ".join(f"{key}={value}" for key, value in server.items())


def start_server(run: Path) -> None:
    command = virtualenv_command(run)
    env = {**os.environ, "PGPORT": str(free_port())}
    log = (run / "pg_virtualenv.log").open("wb")
    # A session of its own: the server outlives the xdist worker that happened to start it.
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True
    )
    _spawned.append(proc)
    (run / "holder.pid").write_text(str(proc.pid))
    wait_until_published(run, proc, log)


def virtualenv_command(run: Path) -> list[str]:
    tool = shutil.which("pg_virtualenv")
    if tool is None:
        raise ServerStartFailed(
            f"pg_virtualenv not found: install Debian's postgresql-{PG_VERSION} "
            f"(it brings postgresql-common), or set {DSN_ENV} to an existing server"
        )
    owner = (run / "owner").read_text().strip()
    hold = Path(__file__).with_name("postgres_hold.py")
    return [
        tool,
        "-t",  # the cluster in a temporary directory even as root (owned by postgres then)
        "-v",
        PG_VERSION,
        # The trailing space makes pg_createcluster quote the value: it writes a value that
        # looks like a number as is, and PostgreSQL reads 127.0.0.1 unquoted as a syntax error.
        "-o",
        "listen_addresses=127.0.0.1 ",
        "-o",
        "max_connections=200",
        sys.executable,
        str(hold),
        str(run),
        owner,
    ]


def wait_until_published(run: Path, proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (run / "server.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
                proc.wait()
            log.close()
            out = (run / "pg_virtualenv.log").read_text(errors="replace")[-4000:]
            raise ServerStartFailed(
                f"the test PostgreSQL server did not start (pg_virtualenv exit {proc.returncode});"
                f" set {DSN_ENV} to use an existing server. pg_virtualenv said:\n{out}"
            )
        time.sleep(0.05)
    log.close()


def stop_server(run: Path) -> None:
    """Ask the holder to end (``pg_virtualenv`` then stops and drops the cluster) and wait."""
    (run / "stop").touch()
    pid_file = run / "holder.pid"
    if not pid_file.exists():
        return  # no test needed the server
    for proc in _spawned:
        proc.wait(timeout=STOP_TIMEOUT_S)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while process_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def url_of(dsn: str) -> str:
    """The store URL (``postgresql://...``) of a key=value connection string."""
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(dsn)
    auth = f"{info.get('user', '')}:{info.get('password', '')}@"
    where = f"{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{info['dbname']}"
    return f"postgresql://{auth}{where}"
