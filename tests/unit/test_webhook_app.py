"""The webhook app over real HTTP: uvicorn on 127.0.0.1, a real client, concurrent
duplicate deliveries taken once."""

from __future__ import annotations

import http.client
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import pytest
from tests.support import make_shop, serve_app

from paycore import schema as s
from paycore.errors import InvalidInput
from paycore.flows.checkout import CartItem
from paycore_adapters import signing
from paycore_adapters.memory import Wiring
from paycore_adapters.stripe_webhooks import StripeWebhookIntake, sign_for_test
from paycore_adapters.webhook_app import webhook_app

SECRET = "whsec_http_0123456789"
PATH = "/webhooks/stripe"


def serving(w: Wiring, root_path: str = "") -> AbstractContextManager[int]:
    """``w``'s webhook app served on a loopback port of its own (``root_path``: the
    mount point a proxy strips, as ``uvicorn --root-path`` gives it)."""
    app = webhook_app(StripeWebhookIntake(w.service, [SECRET]), path=PATH, max_body=4096)
    return serve_app(app, root_path)


def paid_shop() -> Wiring:
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_http0001", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    return w


@pytest.fixture
def served() -> Iterator[tuple[Wiring, int]]:
    """A shop with a paid checkout, its app served on a loopback port of its own."""
    w = paid_shop()
    with serving(w) as port:
        yield w, port


def post(
    port: int, body: bytes, header: str | bytes | None, path: str = PATH
) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
        if header is not None:
            headers["Stripe-Signature"] = header
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def succeeded_body(w: Wiring) -> tuple[str, bytes]:
    (ev,) = [e for e in w.provider.take_events() if e.type == "payment_intent.succeeded"]
    return ev.id, signing.to_payload(ev)


def test_concurrent_duplicate_deliveries_are_taken_once(served: tuple[Wiring, int]) -> None:
    w, port = served
    event_id, body = succeeded_body(w)
    header = sign_for_test(body, SECRET, int(time.time()))
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post(port, body, header), range(16)))
    assert {status for status, _ in answers} == {200}
    outcomes = sorted(str(doc["outcome"]) for _, doc in answers)
    assert outcomes == ["duplicate"] * 15 + ["processed"], outcomes
    assert [e.event_id for e in w.store.snapshot().rows(s.INBOX)].count(event_id) == 1


def test_a_bad_signature_over_http_is_a_400_and_changes_nothing(
    served: tuple[Wiring, int],
) -> None:
    w, port = served
    _, body = succeeded_body(w)
    before = w.store.snapshot()
    status, doc = post(port, body, sign_for_test(body, "whsec_wrong", int(time.time())))
    assert (status, doc["outcome"]) == (400, "refused:signature")
    assert w.store.snapshot() == before


def test_wrong_path_method_and_size_are_refused(served: tuple[Wiring, int]) -> None:
    _, port = served
    assert post(port, b"{}", None, path="/elsewhere")[0] == 404
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", PATH)
    response = conn.getresponse()
    assert (response.status, response.getheader("allow")) == (405, "POST")
    conn.close()
    status, doc = post(port, b"x" * 5000, "t=1,v1=00")
    assert (status, doc["outcome"]) == (413, "refused:too_large")


def test_a_non_ascii_signature_over_http_is_a_400_logged_as_a_warning(
    served: tuple[Wiring, int], caplog: pytest.LogCaptureFixture
) -> None:
    """Each byte 0x80-0xff in the header's v1 (no secret needed to send one) is answered
    400 refused:signature and logged at WARNING, never 500 with a traceback."""
    w, port = served
    _, body = succeeded_body(w)
    before = w.store.snapshot()
    now = str(int(time.time())).encode()
    headers = [b"t=%s,v1=%s%c" % (now, b"0" * 63, b) for b in range(0x80, 0x100)]
    headers.append(bytes(range(0x80, 0x100)))  # nothing but garbage
    with caplog.at_level(logging.DEBUG):
        answers = [post(port, body, header) for header in headers]
    assert {(status, doc["outcome"]) for status, doc in answers} == {(400, "refused:signature")}
    assert w.store.snapshot() == before
    levels = {r.levelname for r in caplog.records if r.name.startswith("paycore")}
    assert levels == {"WARNING"}, caplog.text


def test_behind_a_proxy_the_path_is_the_one_under_the_mount_point() -> None:
    """Served with ``--root-path /api`` (the proxy strips ``/api``; uvicorn puts it back
    in front of the path): a delivery to the documented path is taken, not a 404."""
    w = paid_shop()
    event_id, body = succeeded_body(w)
    with serving(w, root_path="/api") as port:
        status, doc = post(port, body, sign_for_test(body, SECRET, int(time.time())))
    assert (status, doc["outcome"]) == (200, "processed")
    assert event_id in {e.event_id for e in w.store.snapshot().rows(s.INBOX)}


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("path", {"path": "webhooks/stripe"}),
        ("path", {"path": ""}),
        ("max_body", {"max_body": 0}),
        ("max_body", {"max_body": True}),
    ],
)
def test_a_path_or_size_that_would_refuse_every_delivery_is_refused(
    field: str, kw: dict[str, object]
) -> None:
    intake = StripeWebhookIntake(make_shop().service, [SECRET])
    with pytest.raises(InvalidInput) as caught:
        webhook_app(intake, **kw)  # type: ignore[arg-type]
    assert caught.value.fields["field"] == field
