"""An emulator on a fresh model with a manual clock, and the bare SDK pointed at it."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import stripe

from paycore_adapters.emulator import Emulator
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock
from paycore_adapters.testing import EmulatorDriver

KEY = "sk_test_emulator_0001"
ACCOUNT = EmulatorDriver.CHARGING


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(FakeProvider(ManualClock())) as emulator:
        EmulatorDriver(emulator)  # its accounts: one that charges, one disabled
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> stripe.StripeClient:
    return sdk(emu)


def sdk(emu: Emulator, key: str = KEY) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": emu.url}, max_network_retries=0)


def create(client: stripe.StripeClient, key: str | None = None, **extra: Any) -> Any:
    params: dict[str, Any] = {
        "amount": 2500,
        "currency": "usd",
        "transfer_data": {"destination": ACCOUNT},
        "on_behalf_of": ACCOUNT,
        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        "metadata": {"order_id": "ord_1"},
    }
    params.update(extra)
    options: Any = {"idempotency_key": key} if key else {}
    return client.v1.payment_intents.create(params, options)


def raw(
    emu: Emulator,
    method: str,
    path: str,
    params: dict[str, str] | None = None,
    *,
    key: str | None = KEY,
    idempotency_key: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One request over http.client: status, headers (lower-case names), parsed body."""
    url = urlsplit(emu.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    form = urlencode(params or {})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    if method == "GET":
        conn.request(method, f"{path}?{form}" if form else path, headers=headers)
    else:
        conn.request(method, path, body=form, headers=headers)
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    names = {k.lower(): v for k, v in answer.getheaders()}
    return answer.status, names, json.loads(body) if body else None
