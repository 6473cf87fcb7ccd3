"""``paycore emulator``: prints its URL, serves the SDK, stops on Ctrl-C (SIGINT)."""

from __future__ import annotations

import io
import signal
import subprocess
import sys

import stripe

from paycore_adapters.cli import build_parser
from paycore_adapters.cli_emulator import run
from paycore_adapters.emulator import Emulator

from .conftest import KEY


def test_it_serves_the_accounts_it_was_given() -> None:
    args = build_parser().parse_args(["emulator", "--port", "0", "--account", "acct_a"])
    out = io.StringIO()
    seen: list[str] = []

    def use(emu: Emulator) -> None:
        client = stripe.StripeClient(KEY, base_addresses={"api": emu.url}, max_network_retries=0)
        seen.append(client.v1.accounts.retrieve("acct_a").id)

    assert run(args, out, wait=use) == 0
    assert out.getvalue().startswith("http://127.0.0.1:") and seen == ["acct_a"]


def test_it_refuses_another_host() -> None:
    args = build_parser().parse_args(["emulator", "--host", "0.0.0.0"])
    out = io.StringIO()
    assert run(args, out) == 2 and "127.0.0.1 only" in out.getvalue()


def test_ctrl_c_stops_it() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "paycore_adapters.cli", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        client = stripe.StripeClient(KEY, base_addresses={"api": url}, max_network_retries=0)
        assert client.v1.accounts.retrieve("acct_local").charges_enabled
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "emulator stopped" in rest
