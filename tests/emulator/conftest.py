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


#: Contract cases the Stripe adapter over the emulator does not pass, and why: the cases
#: read fields the fake puts on its errors, which Stripe's answers do not carry under
#: those names (the adapter gives Stripe's code as ``stripe_code``, no intent status,
#: no remaining amount, and a new ``request_id`` on each answer, a replay's too).
ADAPTER_FIELDS = {
    "test_a_partial_refund_then_the_exact_remainder_then_nothing": "code as stripe_code",
    **{
        f"test_a_blocked_account_shows_why_and_is_refused[{state}]": "code as stripe_code"
        for state in ("charges_disabled", "transfers_inactive", "transfers_pending")
    },
    "test_a_charge_below_the_currency_minimum_is_too_small": "code as stripe_code",
    "test_zero_decimal_currencies_count_whole_units": "code as stripe_code",
    "test_a_succeeded_intent_cannot_be_confirmed": "no status field on the error",
    "test_a_saved_decline_replays_as_the_same_error": "each answer has its own request_id",
    "test_refunds_add_up_to_what_was_received": "no amount/remaining fields on the error",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.cls is None or item.cls.__name__ != "TestStripeAdapterOnEmulator":
            continue
        why = ADAPTER_FIELDS.get(item.name) or ADAPTER_FIELDS.get(
            getattr(item, "originalname", item.name)
        )
        if why is not None:
            reason = f"the Stripe adapter's error fields differ from the fake's: {why}"
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
