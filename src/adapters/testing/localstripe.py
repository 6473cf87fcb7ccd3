"""localstripe (PyPI ``localstripe``, an independent fake Stripe server) as a subprocess of
the tests, on 127.0.0.1 only.

Why not its command line: ``python -m localstripe`` (``localstripe/server.py``, ``start``)
binds an IPv6 socket to ``::`` (every interface, IPv4 included) on a fixed port (8420 by
default), and keeps every object in ``/tmp/localstripe.pickle``: it writes that file on
each change and loads it at start unless given ``--from-scratch``. Parallel test workers
(or two checkouts) would share the port and the file. So the child process below imports
localstripe's aiohttp ``app``, turns the store's saving to disk off (the data lives in the
child's memory only), binds a socket to ``127.0.0.1`` port 0 (the system picks a free
port), prints that port on its first line of output and serves the app on that socket.
This module never imports localstripe itself: only the child does.

One change to what localstripe answers, and only one, unless ``accept_no_redirects`` is
False: its ``PaymentIntent`` refuses every parameter it does not know, among them
``automatic_payment_methods``, which the Stripe adapter sends on every create (as
``enabled=true`` with ``allow_redirects=never``, since paycore confirms without a
``return_url``: docs.stripe.com/api/payment_intents/confirm). The child takes exactly
that value and drops it: localstripe knows no redirect-based payment method at all (its
``PaymentMethod`` is ``card`` or ``sepa_debit``, ``localstripe/resources.py``), so
"never redirect" restricts nothing it has. Any other value is still refused as
unexpected. ``payment_method_types`` is no way round it: the SDK's API version refuses
that parameter (:func:`paycore_adapters.stripe_convert.create_params`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from types import TracebackType
from typing import IO

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0

#: The child: localstripe's app, its store kept in memory, served on 127.0.0.1 only.
_CHILD = """
import socket, sys
from aiohttp import web
from localstripe import resources, server
server.store.dump_to_disk = lambda: None  # no /tmp/localstripe.pickle
if sys.argv[1:] == ["accept_no_redirects"]:
    made = resources.PaymentIntent.__init__
    NEVER = {"enabled": "true", "allow_redirects": "never"}
    def __init__(self, *args, automatic_payment_methods=None, **kwargs):
        if automatic_payment_methods is not None and automatic_payment_methods != NEVER:
            kwargs["automatic_payment_methods"] = automatic_payment_methods
        made(self, *args, **kwargs)
    resources.PaymentIntent.__init__ = __init__
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
web.run_app(server.app, sock=sock, print=None, access_log=None, handle_signals=True)
"""


class LocalstripeError(RuntimeError):
    """localstripe could not be started (or answered nothing in time)."""


class Localstripe:
    """One localstripe server for the life of the context (``with Localstripe() as ls``).

    ``url`` is its address (``http://127.0.0.1:PORT``), the ``api`` base address a
    ``StripeClient`` takes. :meth:`reset` forgets every object it holds.
    ``accept_no_redirects``: take ``automatic_payment_methods`` as the adapter sends it
    and drop it (the module's docstring says why); False serves localstripe unchanged.
    """

    def __init__(
        self, *, start_timeout_s: float = START_TIMEOUT_S, accept_no_redirects: bool = True
    ) -> None:
        self._start_timeout_s = start_timeout_s
        self._accept_no_redirects = accept_no_redirects
        self._proc: subprocess.Popen[str] | None = None
        self._port: int | None = None
        self._log: IO[str] | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise LocalstripeError("localstripe is not running")
        return f"http://{HOST}:{self._port}"

    def start(self) -> Localstripe:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # Its errors go to a file, not a pipe nobody reads (a full pipe would block it).
        self._log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by stop())
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, *self._child_args()],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        try:
            self._port = self._read_port(self._proc)
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def _child_args(self) -> list[str]:
        return ["accept_no_redirects"] if self._accept_no_redirects else []

    def _read_port(self, proc: subprocess.Popen[str]) -> int:
        out: IO[str] | None = proc.stdout
        line = out.readline() if out is not None else ""
        if not line.strip().isdigit():
            raise LocalstripeError(f"localstripe did not start: {line!r} {self._errors()}")
        return int(line)

    def _errors(self) -> str:
        """The end of what the child wrote to its error output."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-2000:]

    def _wait_until_answering(self) -> None:
        """Polls ``DELETE /_config/data`` (which needs no key) until it answers 200, for
        at most ``start_timeout_s``."""
        deadline = time.monotonic() + self._start_timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                code = self._proc.returncode
                raise LocalstripeError(f"localstripe exited with {code}: {self._errors()}")
            try:
                self.reset()
                return
            except (OSError, urllib.error.URLError) as err:
                last = err
                time.sleep(0.05)
        raise LocalstripeError(f"localstripe did not answer in {self._start_timeout_s}s: {last}")

    def reset(self) -> None:
        """Forget every object (localstripe's ``DELETE /_config/data``)."""
        req = urllib.request.Request(f"{self.url}/_config/data", method="DELETE")
        with urllib.request.urlopen(req, timeout=5) as resp:
            if resp.status != 200:
                raise LocalstripeError(f"reset answered {resp.status}")

    def stop(self) -> None:
        """Terminate the child, then kill it if it has not exited in ``STOP_TIMEOUT_S``."""
        proc, self._proc, self._port = self._proc, None, None
        log, self._log = self._log, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if log is not None:
            log.close()

    def __enter__(self) -> Localstripe:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Localstripe(url={self.url if self._port else None!r})"
