"""``paycore emulator``: Stripe's API for paycore's endpoints on 127.0.0.1, until Ctrl-C.

It serves a fresh in-memory model on the wall clock (nothing is kept when it stops) with
the connected accounts named by ``--account`` able to take charges, prints the base URL
to give the SDK (``StripeClient(key, base_addresses={"api": URL})``), and, with
``--webhook-url``, POSTs every event there signed with ``--webhook-secret``.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from typing import Any, TextIO

from .emulator import Emulator, EmulatorSettingsInvalid

DEFAULT_ACCOUNT = "acct_local"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("emulator", help="serve a local Stripe emulator on 127.0.0.1")
    p.add_argument("--port", type=int, default=12111, help="0: any free port (default 12111)")
    p.add_argument("--host", default="127.0.0.1", help="127.0.0.1 only (anything else is refused)")
    p.add_argument("--webhook-url", default=None, help="where to POST each event, signed")
    p.add_argument("--webhook-secret", default=None, help="the secret to sign events with")
    p.add_argument("--api-key", default=None, help="take only this sk_test_ key (default: any)")
    p.add_argument(
        "--account",
        action="append",
        default=None,
        help=f"a connected account that can take charges (repeatable; default {DEFAULT_ACCOUNT})",
    )


def _forever(_: Emulator) -> None:
    threading.Event().wait()


def run(args: argparse.Namespace, out: TextIO, wait: Callable[[Emulator], None] = _forever) -> int:
    """Serve until ``wait`` returns or Ctrl-C; 2 for settings the emulator refuses."""
    try:
        emulator = Emulator(
            port=args.port,
            host=args.host,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            api_key=args.api_key,
        )
    except EmulatorSettingsInvalid as exc:
        print(f"paycore emulator: {exc}", file=out)
        return 2
    for account in args.account or [DEFAULT_ACCOUNT]:
        emulator.model.set_account(account)
    try:
        with emulator:
            print(emulator.url, file=out, flush=True)
            wait(emulator)
    except KeyboardInterrupt:
        print("emulator stopped", file=out, flush=True)
    except OSError as exc:  # the port is taken
        print(f"paycore emulator: cannot listen: {exc.strerror or exc}", file=out)
        return 2
    return 0
