"""`paycore emulator`: paycore's Stripe emulator on 127.0.0.1, for local development.

It serves the faithful provider model on the wall clock with the accounts named by
``--account`` (every capability active; the first is also the API key's own account,
which ``GET /v1/account`` answers and the adapter's ``connect=False`` mode charges),
prints its URL, and runs until interrupted.
With ``--webhook-url`` it POSTs the model's events there, signed with
``--webhook-secret``, once a second.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any, TextIO

from .cli_args import port
from .cli_errors import PortUnavailable
from .emulator import Emulator
from .fake_provider import FakeProvider
from .runtime import SystemClock

DELIVERY_EVERY_S = 1.0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("emulator", help="serve paycore's Stripe emulator on 127.0.0.1")
    p.add_argument("--port", type=port, default=12111, help="port on 127.0.0.1 (0: any free)")
    p.add_argument(
        "--account",
        action="append",
        default=None,
        help="a connected account that can charge (repeatable; default acct_local)",
    )
    p.add_argument("--api-key", default=None, help="the only key accepted (default: any sk_test_)")
    p.add_argument(
        "--webhook-url", default=None, help="http://127.0.0.1:PORT/PATH to POST events to"
    )
    p.add_argument("--webhook-secret", default="whsec_local", help="the webhooks' signing secret")


def run(args: argparse.Namespace, out: TextIO, stop: threading.Event | None = None) -> int:
    """Serve until ``stop`` is set or the process is interrupted (Ctrl-C)."""
    stop = stop or threading.Event()
    model = FakeProvider(SystemClock())
    accounts = args.account or ["acct_local"]
    for account in accounts:
        model.set_account(account)
    try:
        emulator = Emulator(
            model,
            port=args.port,
            api_key=args.api_key,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            own_account=accounts[0],
        )
    except OSError as exc:
        raise PortUnavailable(
            f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}; free the port or "
            "pick another with --port (0: any free port)",
            port=args.port,
        ) from None
    with emulator:
        print(f"paycore emulator on {emulator.url} (Ctrl-C stops it)", file=out, flush=True)
        try:
            while not stop.wait(DELIVERY_EVERY_S):
                if emulator.webhooks is not None:
                    emulator.webhooks.deliver_pending()
        except KeyboardInterrupt:
            pass
    print("paycore emulator stopped", file=out, flush=True)
    return 0
