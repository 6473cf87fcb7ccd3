"""paycore's Stripe emulator, driven by the bare official SDK and by raw HTTP: Stripe's
wire format, its errors as the SDK raises them, faults on the wire, signed webhooks, the
command line."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe

from paycore_adapters.emulator import Emulator, EmulatorAddressRefused, WireFaultInvalid

KEY = "sk_test_emulator"
ACCOUNT = "acct_1"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        emulator.model.set_account(ACCOUNT)
        emulator.model.search_lag_ms = 0
        yield emulator


def sdk(emu: Emulator, key: str = KEY) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": emu.url}, max_network_retries=0)


def create(client: stripe.StripeClient, key: str = "k-create", **more: Any) -> Any:
    params = {
        "amount": 1250,
        "currency": "eur",
        "transfer_data": {"destination": ACCOUNT},
        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        "metadata": {"order_id": "o1"},
        **more,
    }
    return client.v1.payment_intents.create(params, {"idempotency_key": key})  # type: ignore[arg-type]


def raw(emu: Emulator, method: str, path: str, body: str = "", key: str = KEY) -> tuple[int, Any]:
    host, port = emu.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    conn.request(method, path, body, headers)
    resp = conn.getresponse()
    status, data = resp.status, json.loads(resp.read())
    conn.close()
    return status, data


def test_a_lifecycle_through_the_bare_sdk(emu: Emulator) -> None:
    client = sdk(emu)
    pi = create(client)
    assert (pi.object, pi.status, pi.currency, pi.metadata.to_dict()) == (
        "payment_intent",
        "requires_payment_method",
        "eur",
        {"order_id": "o1"},
    )
    assert isinstance(pi.created, int) and pi.created < 10**10  # seconds, not milliseconds
    paid = client.v1.payment_intents.confirm(
        pi.id, {"payment_method": "pm_card_visa"}, {"idempotency_key": "k-confirm"}
    )
    assert (paid.status, paid.amount_received) == ("succeeded", 1250)
    refund = client.v1.refunds.create(
        {"payment_intent": pi.id, "amount": 500, "metadata": {"r": "1"}}, {"idempotency_key": "k-r"}
    )
    assert (refund.object, refund.status, refund.amount) == ("refund", "succeeded", 500)
    listed = client.v1.refunds.list({"payment_intent": pi.id})
    assert (listed.object, [r.id for r in listed.data]) == ("list", [refund.id])
    found = client.v1.payment_intents.search({"query": "metadata['order_id']:'o1'"})
    assert (found.object, [p.id for p in found.data]) == ("search_result", [pi.id])
    account = client.v1.accounts.retrieve(ACCOUNT)
    assert (account.charges_enabled, account.capabilities.card_payments) == (True, "active")


def test_lists_are_newest_first_and_the_cursor_walks_back(emu: Emulator) -> None:
    client = sdk(emu)
    ids = [create(client, key=f"k{n}").id for n in range(3)]
    first = client.v1.payment_intents.list({"limit": 2, "created": {"gte": 0}})
    assert ([p.id for p in first.data], first.has_more) == ([ids[2], ids[1]], True)
    rest = client.v1.payment_intents.list({"limit": 2, "starting_after": ids[1]})
    assert ([p.id for p in rest.data], rest.has_more) == ([ids[0]], False)


def test_a_key_replays_its_first_answer_and_refuses_other_parameters(emu: Emulator) -> None:
    client = sdk(emu)
    first = create(client, key="same")
    assert create(client, key="same").id == first.id
    with pytest.raises(stripe.IdempotencyError):
        create(client, key="same", amount=999)
    assert len(emu.model.intents()) == 1


def test_a_decline_is_a_card_error_with_its_code_and_intent(emu: Emulator) -> None:
    client = sdk(emu)
    pi = create(client)
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.confirm(
            pi.id, {"payment_method": "pm_card_chargeDeclined"}, {"idempotency_key": "k-d"}
        )
    err = caught.value
    assert (err.http_status, err.code, err.error.decline_code) == (
        402,
        "card_declined",
        "generic_decline",
    )
    assert err.error.payment_intent.id == pi.id
    assert err.error.payment_intent.status == "requires_payment_method"


def test_a_held_request_gets_no_answer_and_its_key_is_in_use(emu: Emulator) -> None:
    """The model holds a create in flight: its client hears nothing; the same key is a
    409 whose code only the body carries (the SDK raises a plain APIError)."""
    client = sdk(emu)
    emu.model.hold_next("create_intent")
    with pytest.raises(stripe.APIConnectionError):
        create(client, key="held")
    with pytest.raises(stripe.APIError) as caught:
        create(client, key="held")
    assert caught.value.http_status == 409
    assert caught.value.error.code == "idempotency_key_in_use"
    emu.model.release_requests()
    assert create(client, key="held").id == emu.model.intents()[0].id


def test_a_saved_500_replays_and_says_not_to_retry(emu: Emulator) -> None:
    client = sdk(emu)
    emu.model.fail_next_with_500("create_intent", applied=False)
    for _ in range(2):
        with pytest.raises(stripe.APIError) as caught:
            create(client, key="k500")
        assert caught.value.http_status == 500
        assert caught.value.headers["Stripe-Should-Retry"] == "false"
    assert emu.model.intents() == []


WIRE: list[tuple[str, type[stripe.StripeError], int | None, str | None, int]] = [
    ("drop_after", stripe.APIConnectionError, None, None, 1),
    ("reset", stripe.APIConnectionError, None, None, 0),
    ("error_500", stripe.APIError, 500, None, 0),
    ("rate_limited", stripe.RateLimitError, 429, "rate_limit", 0),
    ("key_in_use", stripe.APIError, 409, "idempotency_key_in_use", 0),
    ("lock_timeout", stripe.RateLimitError, 429, "lock_timeout", 0),
]


@pytest.mark.parametrize(
    ("kind", "raised", "status", "code", "made"), WIRE, ids=[w[0] for w in WIRE]
)
def test_each_wire_fault_answers_as_stripe_and_applies_only_when_it_says(
    emu: Emulator,
    kind: str,
    raised: type[stripe.StripeError],
    status: int | None,
    code: str | None,
    made: int,
) -> None:
    client = sdk(emu)
    create(client, key="before-any-fault")
    emu.faults.arm(kind, endpoint="retrieve_intent")
    create(client, key="before-any-fault")  # another endpoint: not faulted
    with pytest.raises(raised) as caught:
        client.v1.payment_intents.retrieve(emu.model.intents()[0].id)
    assert (caught.value.http_status, caught.value.error.code if caught.value.error else None) == (
        status,
        code,
    )
    del caught
    emu.faults.arm(kind, endpoint="create_intent")
    with pytest.raises(raised):
        create(client, key="faulted")
    assert len(emu.model.intents()) == 1 + made
    assert emu.faults.fired[kind] == 2


def test_a_slow_answer_is_still_the_answer(emu: Emulator) -> None:
    client = sdk(emu)
    emu.faults.arm("slow", delay_s=0.05)
    assert create(client).status == "requires_payment_method"
    assert emu.faults.fired == {"slow": 1}


def test_bad_faults_are_refused() -> None:
    with Emulator() as emulator:
        for bad in (
            {"kind": "flood"},
            {"kind": "slow", "times": 0},
            {"kind": "slow", "delay_s": 60},
        ):
            with pytest.raises(WireFaultInvalid):
                emulator.faults.arm(**bad)  # type: ignore[arg-type]


def test_only_test_keys_and_the_configured_key_are_let_in() -> None:
    with Emulator(api_key="sk_test_only") as emulator:
        emulator.model.set_account(ACCOUNT)
        with pytest.raises(stripe.AuthenticationError):
            sdk(emulator, "sk_test_other").v1.accounts.retrieve(ACCOUNT)
        assert sdk(emulator, "sk_test_only").v1.accounts.retrieve(ACCOUNT).id == ACCOUNT
    with Emulator() as emulator, pytest.raises(stripe.AuthenticationError):
        sdk(emulator, "sk_live_real").v1.accounts.retrieve(ACCOUNT)


def test_unknown_routes_and_bracketed_metadata_keys_are_invalid_requests(emu: Emulator) -> None:
    status, body = raw(emu, "GET", "/v1/charges")
    assert (status, body["error"]["type"]) == (404, "invalid_request_error")
    form = "amount=1250&currency=eur&transfer_data[destination]=acct_1&metadata[a[b]]=v"
    status, body = raw(emu, "POST", "/v1/payment_intents", form)
    assert (status, body["error"]["param"]) == (400, "metadata")
    assert emu.model.intents() == []


def test_it_listens_on_the_loopback_address_only() -> None:
    with pytest.raises(EmulatorAddressRefused):
        Emulator(host="0.0.0.0")


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records deliveries and answers ``codes``."""

    def __init__(self, codes: list[int]) -> None:
        self.got: list[tuple[bytes, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append((body, self.headers["Stripe-Signature"]))
                self.send_response(codes.pop(0) if codes else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_events_are_posted_signed_and_redelivered_until_acknowledged() -> None:
    receiver = Receiver(codes=[500])
    try:
        with Emulator(webhook_url=receiver.url, webhook_secret="whsec_test") as emulator:
            emulator.model.set_account(ACCOUNT)
            pi = create(sdk(emulator))
            assert emulator.webhooks is not None
            assert emulator.webhooks.deliver_pending() == 1
            assert [a[1] for a in emulator.webhooks.attempts] == [500, 200]
    finally:
        receiver.close()
    body, signature = receiver.got[-1]
    stripe.WebhookSignature.verify_header(body.decode(), signature, "whsec_test", 300)
    event = json.loads(body)
    assert (event["type"], event["data"]["object"]["id"]) == ("payment_intent.created", pi.id)
    assert event["data"]["object"]["object"] == "payment_intent"


def test_get_v1_account_answers_the_own_account_as_the_model_holds_it() -> None:
    """``GET /v1/account`` is the key's own account (``own_account``), as the model holds
    it; without one named, or while the model has no such account, it is not found."""
    with Emulator(own_account=ACCOUNT) as emu:
        client = sdk(emu)
        with pytest.raises(stripe.InvalidRequestError) as missing:
            client.v1.accounts.retrieve_current()
        assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
        emu.model.disable_account(ACCOUNT, "under_review")
        own = client.v1.accounts.retrieve_current()
        assert (own.id, own.charges_enabled, own.requirements.disabled_reason) == (
            ACCOUNT,
            False,
            "under_review",
        )
    with Emulator() as unnamed:
        unnamed.model.set_account(ACCOUNT)
        with pytest.raises(stripe.InvalidRequestError):
            sdk(unnamed).v1.accounts.retrieve_current()


def test_an_intent_without_transfer_data_is_the_accounts_own_and_reverses_nothing(
    emu: Emulator,
) -> None:
    """A create without ``transfer_data`` is a charge on the platform's own account: not
    refused for want of a destination, paid, and its refund reverses no transfer (a
    destination charge's refund sent with ``reverse_transfer``, as the adapter with
    Connect sends it, reverses its amount)."""
    client = sdk(emu)
    pis = client.v1.payment_intents
    own = pis.create(
        {
            "amount": 1250,
            "currency": "eur",
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        },
        {"idempotency_key": "k-own"},
    )
    dest = create(client, key="k-dest")
    refunds = []
    for pi in (own, dest):
        emu.model.confirm_intent(
            pi.id, payment_method="pm_card_visa", return_url=None, idempotency_key=f"c-{pi.id}"
        )
        asked = {"reverse_transfer": True} if pi is dest else {}
        refunds.append(client.v1.refunds.create({"payment_intent": pi.id, "amount": 500, **asked}))
    assert [emu.model.transfer_reversed(r.id) for r in refunds] == [0, 500]


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_command_serves_until_interrupted(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paycore_adapters.cli",
            "emulator",
            "--port",
            "0",
            "--account",
            ACCOUNT,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # A job started in the background of a shell inherits SIGINT ignored, and Python
        # then keeps it ignored: the command must see ^C as a terminal would send it.
        preexec_fn=_interruptible,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ")[1].split(" ")[0]
        assert url.startswith("http://127.0.0.1:")
        client = stripe.StripeClient(KEY, base_addresses={"api": url}, max_network_retries=0)
        assert client.v1.accounts.retrieve(ACCOUNT).charges_enabled is True
        assert client.v1.accounts.retrieve_current().id == ACCOUNT  # the first --account
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0  # a bound on a hang, generous for a loaded machine
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("kind", ["reset", "drop_after"])
def test_a_connection_fault_is_a_reset_not_a_clean_close(emu: Emulator, kind: str) -> None:
    """The connection is reset (a TCP RST), as a peer or a proxy that gave up resets it;
    a clean close would read as an empty answer instead."""
    emu.faults.arm(kind, endpoint="create_intent")
    body = b"amount=1250&currency=eur"
    port = int(emu.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/payment_intents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + KEY.encode() + b"\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        with pytest.raises(ConnectionResetError):
            while conn.recv(4096):
                pass


@pytest.mark.parametrize(
    ("more", "param"),
    [
        ({"payment_method_types": ["card"]}, "payment_method_types"),
        ({"transfer_data": {"destination": ACCOUNT, "amount": 100}}, "transfer_data[amount]"),
    ],
)
def test_a_parameter_the_emulator_does_not_model_is_refused(
    emu: Emulator, more: dict[str, Any], param: str
) -> None:
    """Stripe refuses a parameter it does not know with 400 ``parameter_unknown``; the
    emulator refuses every one it does not model the same way, so an adapter's
    parameter is never ignored in silence."""
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create(sdk(emu), key="k-unknown", **more)
    assert caught.value.http_status == 400
    assert caught.value.code == "parameter_unknown"
    assert caught.value.param == param
    assert emu.model.intents() == []


def test_an_unknown_query_parameter_is_refused_too(emu: Emulator) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk(emu).v1.refunds.list({"payment_intent": "pi_1", "charge": "ch_1"})  # type: ignore[typeddict-unknown-key]
    assert (caught.value.code, caught.value.param) == ("parameter_unknown", "charge")
